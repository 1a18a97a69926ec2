"""The one message catalogue of the CLI and the reports: English source strings, Chinese translations.

Every user-facing string is an English ``msgid`` marked in code as ``msg.t("...")`` (or
``msg.pt(context, "...")`` where one English word needs two translations). The Chinese strings live in
the gettext catalogue ``report/locale/zh_CN/LC_MESSAGES/kpi.po``; its compiled ``kpi.mo`` ships as
package data and is read with the standard library's ``gettext`` (no runtime dependency). Babel
compiles the ``.po`` (``pybabel compile``); a test keeps the committed ``.mo`` equal to that output.

Placeholders are ``str.format`` fields (``{name}``), filled after translation.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
DOMAIN = "kpi"
_LOCALE_DIRS: dict[Lang, str] = {"zh": "zh_CN"}


def language_from_env(environ: Mapping[str, str]) -> Lang:
    """The language the locale environment asks for: ``zh`` for a Chinese locale, else ``en``.

    Follows POSIX precedence: the first non-empty of ``LC_ALL``, ``LC_MESSAGES``, ``LANG``. As GNU
    gettext does, ``LANGUAGE`` (a list of preferences) wins unless the locale is unset, ``C`` or ``POSIX``.

    Args:
        environ: the environment (e.g. ``os.environ``).

    Returns:
        ``"zh"`` if the chosen locale starts with ``zh`` (``zh_CN.UTF-8``, ``zh_TW``, ``zh``), else ``"en"``.
    """
    locale = next((environ[k].strip() for k in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(k, "").strip()), "")
    preferred = environ.get("LANGUAGE", "").strip()
    if preferred and locale and locale.split(".")[0] not in {"C", "POSIX"}:
        locale = preferred.split(":")[0]
    return "zh" if locale.lower().startswith("zh") else "en"


class Messages:
    """Translations for one language; ``t`` and ``pt`` translate then fill ``{placeholders}``."""

    def __init__(self, lang: Lang, translations: gettext.NullTranslations) -> None:
        self.lang: Lang = lang
        self._tr = translations

    def t(self, msgid: str, /, **params: object) -> str:
        """Translate ``msgid`` and fill its placeholders with ``params``."""
        text = self._tr.gettext(msgid)
        return text.format(**params) if params else text

    def pt(self, context: str, msgid: str, /, **params: object) -> str:
        """Translate ``msgid`` in ``context`` (gettext ``msgctxt``) and fill its placeholders."""
        text = self._tr.pgettext(context, msgid)
        return text.format(**params) if params else text

    def has(self, context: str, msgid: str) -> bool:
        """Whether the catalogue translates ``msgid`` in ``context`` (English always does)."""
        return self.lang == "en" or self._tr.pgettext(context, msgid) != msgid


def _mo_bytes(lang: Lang) -> bytes:
    path = resources.files("kpi_engine.report").joinpath("locale", _LOCALE_DIRS[lang], "LC_MESSAGES", f"{DOMAIN}.mo")
    return path.read_bytes()


@cache
def messages(lang: Lang = "en") -> Messages:
    """The catalogue of ``lang`` (``en`` is the source language: the msgids themselves).

    Raises:
        ValueError: for a language the catalogue does not have.
    """
    if lang not in LANGS:
        msg = f"unknown language {lang!r}; choose one of {', '.join(LANGS)}"
        raise ValueError(msg)
    if lang == "en":
        return Messages("en", gettext.NullTranslations())
    return Messages(lang, gettext.GNUTranslations(io.BytesIO(_mo_bytes(lang))))
