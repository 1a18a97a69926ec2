"""Opening text files: the encoding a user names, and a useful hint when a file is not UTF-8.

zh-CN Excel saves "CSV" in GB18030 (GBK); such a file is refused as UTF-8 with a message that
says so and names the option that reads it, instead of a bare decoding error.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from kpi_engine.errors import KpiError

DEFAULT_ENCODING = "utf-8-sig"  # UTF-8, with or without the byte-order mark Excel writes
_SNIFF_BYTES = 1 << 20


def encoding_hint(path: Path) -> str:
    """``; looks like GB18030: pass --encoding gb18030`` when the file's start decodes so, else ``""``."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return ""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "; looks like UTF-16: pass --encoding utf-16 (or save the file as UTF-8)"
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
    except UnicodeDecodeError:
        return ""
    return "; looks like GB18030 (zh-CN Excel saves CSV so): pass --encoding gb18030 (API: encoding='gb18030')"


def check_encoding(encoding: str | None) -> str:
    """The encoding to read with; a name Python does not know is an error.

    Raises:
        KpiError: for an unknown encoding name.
    """
    if encoding is None:
        return DEFAULT_ENCODING
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise KpiError(f"unknown encoding '{encoding}' (e.g. utf-8, gb18030, gbk, utf-16)") from None
    return encoding


@contextmanager
def open_text(path: Path, encoding: str | None = None, *, newline: str | None = None) -> Iterator[TextIO]:
    """Open a text file for streaming; decoding errors, while reading too, become a located ``KpiError``.

    Raises:
        KpiError: no such file, a directory, or text that is not in the encoding (with a hint).
    """
    chosen = check_encoding(encoding)
    try:
        fh = path.open(encoding=chosen, newline=newline)
    except FileNotFoundError:
        raise KpiError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise KpiError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise KpiError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        with fh:
            yield fh
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding is None else encoding
        hint = encoding_hint(path) if encoding is None else ""
        raise KpiError(f"{path}: not {name} text ({exc.reason}){hint}") from None
