"""JSON and JSON Lines of an appraisal written straight from the columnar kernel's columns.

``columnar_json`` (chosen by ``report.columnar.columnar_text``) writes the bytes that
``Appraisal.iter_json``/``iter_jsonl`` write through the result objects for the same appraisal (a
differential test checks it: ``tests/unit/test_report_columnar.py``), a chunk of subjects at a
time, formatting with Polars string expressions. Requires the ``columnar`` extra.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from kpi_engine._numbers import canonical

if TYPE_CHECKING:
    from kpi_engine._columns import Column
    from kpi_engine.evaluation.results import Appraisal
    from kpi_engine.report.columnar import _Chunk as Chunk
    from kpi_engine.report.columnar import _Figures as Figures

_CONTROL = r"[\x00-\x1f]"  # characters json.dumps escapes as \uXXXX (or \n, \t…)


def _jstr(c: Chunk, key: str, values: list[str | None]) -> Any:
    """JSON text of a text column (``null`` for missing), as ``json.dumps(ensure_ascii=False)`` writes it."""
    import polars as pl  # noqa: PLC0415

    col = c.text(key, values)
    if c.data[key].str.contains(_CONTROL).any():  # rare: control characters take json.dumps's escapes
        return c.text(key, [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]).fill_null("null")
    escaped = col.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    return (pl.lit('"') + escaped + pl.lit('"')).fill_null("null")


def _jq(text: Any) -> Any:
    """A number's text as a JSON string (``null`` for N/A): it needs no escape."""
    import polars as pl  # noqa: PLC0415

    return (pl.lit('"') + text + pl.lit('"')).fill_null("null")


def _kpi_flags(names: list[str], indent: int | None, depth: int, code: int) -> str:
    from kpi_engine.report.columnar import _names_of  # noqa: PLC0415

    return _jdump(_names_of(code, names), indent, depth)


def _section_flags(indent: int | None, depth: int, code: int) -> str:
    return _jdump(([], ["excluded_na"], ["zeroed_by_gate"])[code], indent, depth)


def _jdump(value: Any, indent: int | None, depth: int) -> str:
    sep = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=sep)
    return text if indent is None else text.replace("\n", "\n" + " " * (indent * depth))


class _Node:
    """A JSON value template: leaves are Polars expressions of JSON text or constant JSON text."""

    def __init__(self, kind: str, items: Sequence[tuple[str | None, Any]]) -> None:
        self.kind = kind  # "dict" or "list"
        self.items = items

    def pieces(self, indent: int | None, depth: int) -> list[Any]:
        """Expressions whose concatenation is ``json.dumps`` of the value at ``depth`` (``iter_json``'s shift)."""
        import polars as pl  # noqa: PLC0415

        open_, close = ("{", "}") if self.kind == "dict" else ("[", "]")
        if not self.items:
            return [pl.lit(open_ + close)]
        if indent is None:
            inner, end, colon = "", "", ":"
        else:
            inner, end, colon = "\n" + " " * (indent * (depth + 1)), "\n" + " " * (indent * depth), ": "
        out: list[Any] = []
        text = open_
        for i, (key, value) in enumerate(self.items):
            text += (
                ("," if i else "") + inner + (json.dumps(key, ensure_ascii=False) + colon if key is not None else "")
            )
            if isinstance(value, str):  # constant JSON text
                text += value
                continue
            out.append(pl.lit(text))
            out.extend(value.pieces(indent, depth + 1) if isinstance(value, _Node) else [value])
            text = ""
        out.append(pl.lit(text + end + close))
        return out


def columnar_json(appraisal: Appraisal, figures: Figures, fmt: str, *, compact: bool) -> Iterator[str]:
    """``Appraisal.iter_json``/``iter_jsonl`` (``fmt`` ``json`` or ``jsonl``) from the kernel's columns, in pieces."""
    import numpy as np  # noqa: PLC0415 - the columnar extra
    import polars as pl  # noqa: PLC0415

    from kpi_engine.report.columnar import _Chunk, _chunks, _fired, _flag_codes, _gate_codes, _gate_outcomes, _names_of  # noqa: PLC0415

    r = figures.results
    card = r.card
    places = figures.places
    empty = attrs.evolve(appraisal, results=())
    indent = None if fmt == "jsonl" or compact else 2
    if fmt == "jsonl":
        yield next(iter(empty.iter_jsonl()))
    else:
        yield next(iter(empty.iter_json(indent=indent)))
    d0 = 0 if indent is None else 2  # the depth of a subject in the document
    subjects_all = np.array(r.subjects, dtype=object)
    level = json.dumps(card.subject, ensure_ascii=False)
    span = 3 ** len(card.gates)
    published = [name for name, _ in r.published]
    done = 0
    for part in _chunks(len(r)):
        rows = r.order[part]
        f = figures.at(rows)
        subjects = subjects_all[rows].tolist()
        m = len(rows)
        gate_code = _gate_codes(r, rows)
        no_kpi = f.total[1].astype(np.int64)
        flag_code = no_kpi * span + gate_code  # then the ruleset's published flags, a bit each
        for i, (_, mask) in enumerate(r.published):
            flag_code += span * 2 * (np.asarray(mask, dtype=bool)[rows].astype(np.int64) << i)
        adj_code = np.zeros(m, dtype=np.int64)
        for i, (_, present, holds) in enumerate(r.scored.adjustments):
            val = np.where(np.asarray(holds.val, dtype=bool)[rows], 2, 3)
            if holds.na is not None:
                val = np.where(np.asarray(holds.na)[rows], 1, val)
            adj_code += np.where(np.asarray(present, dtype=bool)[rows], val, 0) * 4**i

        def adjustments(code: int) -> str:
            out: dict[str, Any] = {}
            for i, (adj_id, _, _) in enumerate(r.scored.adjustments):
                v = (code // 4**i) % 4
                if v:
                    out[adj_id] = (None, True, False)[v - 1]
            return _jdump(out, indent, d0 + 1)

        c = _Chunk()
        grades = r.grade[rows].tolist()
        cols: dict[str, Any] = {
            "subject": _jstr(c, "subject", subjects),
            "parent": _jstr(c, "parent", [r.parent.get(s) for s in subjects]),
            "total": _jq(c.fixed("total", f.total[0], places, f.total[1])),
            "before": _jq(c.fixed("before", f.before[0], places, f.before[1])),
            "residue": _jq(c.fixed("residue", f.residue, places)),
            "grade": _jstr(c, "grade", grades),
            "bonus": _jstr(c, "bonus", [None if b is None else canonical(b) for b in r.bonus[rows].tolist()]),
            "rank": _int_or_null(c.ints("rank", r.rank[rows])),
            "rank_in": _int_or_null(c.ints("rank_in", r.rank_in[rows])),
            "flags": c.coded(
                "flags",
                flag_code,
                lambda code: _jdump(
                    _fired(r, code % span)
                    + (["no_kpi_applies"] if code // span & 1 else [])
                    + _names_of(code // span >> 1, published),
                    indent,
                    d0 + 1,
                ),
            ),
            "gates": c.coded(
                "gates",
                gate_code,
                lambda code: _jdump(
                    {
                        g.id: ("not_applied", "applied", "not_evaluated")[o]
                        for g, o in zip(card.gates, _gate_outcomes(r, code), strict=True)
                    },
                    indent,
                    d0 + 1,
                ),
            ),
            "adjustments": c.coded("adjustments", adj_code, adjustments),
        }
        metrics: list[tuple[str | None, Any]] = [
            (name, _value_json(c, f"metric:{name}", r.env[name], rows)) for name in card.report
        ]
        sections: list[tuple[str | None, Any]] = []
        for i, s in enumerate(card.sections):
            (score, score_na), share, code = f.sections[i]
            node = _Node(
                "dict",
                [
                    ("id", json.dumps(s.id, ensure_ascii=False)),
                    ("score", _jq(c.fixed(f"s{i}:score", score, places, score_na))),
                    ("effective_weight", _jq(c.fixed(f"s{i}:share", share, places))),
                    ("flags", c.coded(f"s{i}:flags", code, functools.partial(_section_flags, indent, d0 + 3))),
                ],
            )
            sections.append((None, node))
        kpis: list[tuple[str | None, Any]] = []
        for i, kpi in enumerate(card.kpis):
            score, score_na = f.scores[i]
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            score_text = c.fixed(f"k{i}:score", score, places, score_na)
            node = _Node(
                "dict",
                [
                    ("id", json.dumps(kpi.id, ensure_ascii=False)),
                    ("value", _value_json(c, f"k{i}:value", r.scored.kpis[kpi.id].value, rows)),
                    ("status", pl.when(score_text.is_null()).then(pl.lit('"excluded"')).otherwise(pl.lit('"scored"'))),
                    ("score", _jq(score_text)),
                    ("effective_weight", _jq(c.fixed(f"k{i}:share", f.shares[i], places))),
                    ("contribution", _jq(c.fixed(f"k{i}:contribution", f.contributions[i], places))),
                    (
                        "flags",
                        c.coded(f"k{i}:flags", flag_code, functools.partial(_kpi_flags, flag_names, indent, d0 + 3)),
                    ),
                ],
            )
            kpis.append((None, node))
        subject = _Node(
            "dict",
            [
                ("subject", cols["subject"]),
                ("level", level),
                ("parent", cols["parent"]),
                ("total", cols["total"]),
                ("total_before_gates", cols["before"]),
                ("contributions_residue", cols["residue"]),
                ("grade", cols["grade"]),
                ("bonus_multiplier", cols["bonus"]),
                ("rank", cols["rank"]),
                ("rank_in_parent", cols["rank_in"]),
                ("flags", cols["flags"]),
                ("metrics", _Node("dict", metrics)),
                ("sections", _Node("list", sections)),
                ("kpis", _Node("list", kpis)),
                ("gates", cols["gates"]),
                ("adjustments", cols["adjustments"]),
            ],
        )
        frame = c.frame()
        del c, cols
        text = frame.select(pl.concat_str(subject.pieces(indent, d0)).alias("t"))["t"].to_list()
        del frame
        if fmt == "jsonl":
            yield "\n".join(text) + "\n"
        else:
            pad = "" if indent is None else "\n" + " " * (indent * 2)
            yield ("," if done else "") + pad + ("," + pad).join(text)
        done += m
    if fmt == "json":
        nl = "" if indent is None else "\n"
        yield (nl + " " * (indent or 0) if done else "") + "]" + nl + "}\n"


def _int_or_null(q: Any) -> Any:
    import polars as pl  # noqa: PLC0415

    return pl.when(q > 0).then(q.cast(pl.Utf8)).otherwise(pl.lit("null"))


def _value_json(c: Chunk, key: str, col: Column, rows: Any) -> Any:
    """JSON text of a value column as ``json.dumps(default=canonical)`` writes it."""
    from kpi_engine._columns import Bool, Num, Text  # noqa: PLC0415
    from kpi_engine.evaluation.columnar._results import at_row  # noqa: PLC0415

    if isinstance(col, Num):
        return _jq(c.exact(key, col, rows, canonical))
    cells = [at_row(col, j) for j in rows.tolist()]
    if isinstance(col, Bool):
        return c.text(key, ["null" if v is None else ("true" if v else "false") for v in cells])
    assert isinstance(col, Text)
    return c.text(key, [json.dumps(v, ensure_ascii=False, default=_default) for v in cells])


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return canonical(value)
    raise TypeError(type(value).__name__)
