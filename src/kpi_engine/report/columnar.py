"""CSV, JSON Lines and JSON of a columnar run, written straight from the kernel's columns.

``kpi evaluate --format csv|jsonl|json`` on a large input: the kernel's exact rational columns
(``ColumnarResults``) are rounded with integer arithmetic (correctly, with the ruleset's places
and mode) and formatted with Polars string expressions, a chunk of subjects at a time, so that
no ``SubjectResult`` or ``KpiResult`` is built and the text is never held whole. The bytes are
the ones ``report.csv.render_csv`` and ``Appraisal.iter_jsonl``/``iter_json`` write for the same
appraisal (a differential test checks it: ``tests/unit/test_report_columnar.py``): the same
columns, titles, names, flags, residue, number text and spreadsheet-safe cells.

Anything this module does not format itself (contributions apportioned by largest remainder,
traces, a value too large for int64 after rounding) makes ``columnar_text`` return ``None``, and
the caller renders through the result objects as before.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import numpy as np

from kpi_engine._numbers import canonical
from kpi_engine.evaluation.columnar._columns import Bool, Column, Ctx, Num, Text
from kpi_engine.evaluation.columnar._results import ColumnarResults, at_row
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.model import Scorecard
from kpi_engine.report._i18n import Messages
from kpi_engine.report._view import exact_text
from kpi_engine.report.csv import COLUMNS

CHUNK = 10_000  # subjects per piece of text: memory stays flat however many subjects there are
_POWERS = {10**k: k for k in range(19)}
_FORMULA = r"^[=+\-@\t\r]"
_PLAIN = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?$"
_CONTROL = r"[\x00-\x1f]"


class NotColumnarError(Exception):
    """This appraisal needs the result objects to be rendered (a rare form)."""


def columnar_text(
    appraisal: Appraisal,
    fmt: str,
    *,
    msg: Messages | None = None,
    scorecard: Scorecard | None = None,
    names: Mapping[str, str] | None = None,
    bom: bool = False,
    compact: bool = False,
) -> Iterator[str] | None:
    """The text of ``fmt`` (``csv``, ``jsonl`` or ``json``) in pieces, from the kernel's columns.

    Args:
        appraisal: an appraisal of the columnar kernel (``appraisal.results`` a ``ColumnarResults``).
        fmt: ``csv``, ``jsonl`` or ``json``.
        msg: the message catalogue (CSV header).
        scorecard: the ruleset's scorecard, for KPI and grade titles (CSV).
        names: subject → name (CSV).
        bom: start CSV with a UTF-8 byte-order mark.
        compact: JSON on one line.

    Returns:
        The pieces (a generator: the work happens as they are written), or ``None`` when the
        appraisal must be rendered through its result objects.
    """
    results = appraisal.results
    if not isinstance(results, ColumnarResults) or appraisal.contributions != "rounded":
        return None
    if fmt not in {"csv", "jsonl", "json"}:
        return None
    try:
        figures = _Figures(results, appraisal.places, appraisal.rounding)
    except NotColumnarError:
        return None
    if fmt == "csv":
        assert msg is not None
        return _csv(appraisal, figures, msg, scorecard, names or {}, bom=bom)
    return _json(appraisal, figures, fmt, compact=compact)


# ------------------------------------------------------------------------------------------ numbers


def _rounded(results: ColumnarResults, col: Num, places: int, mode: str) -> tuple[Any, Any]:
    """Signed int64 of ``col`` correctly rounded to ``places`` (zero unsigned) and its N/A mask."""
    from kpi_engine.evaluation.columnar._results import round_parts  # noqa: PLC0415

    n = results.ctx.n
    trial = Ctx(n, exact=results.ctx.exact)
    q, negative, na = round_parts(trial, col, places, mode)
    if trial.bad.any():  # a product that might leave int64: the same rounding over Python integers
        q, negative, na = round_parts(Ctx(n, exact=True), col, places, mode)
    if q.dtype == object:
        if any(abs(v) >= 2**62 for v in q.tolist()):
            raise NotColumnarError
        q = q.astype(np.int64)
    return np.where(negative, -q, q), na


@attrs.define
class _Figures:
    """Every reported figure of a run as signed scaled integers, in ranked order."""

    results: ColumnarResults
    places: int
    mode: str
    total: tuple[Any, Any] = attrs.field(init=False)
    before: tuple[Any, Any] = attrs.field(init=False)
    scores: list[tuple[Any, Any]] = attrs.field(init=False)
    contributions: list[Any] = attrs.field(init=False)
    shares: list[Any] = attrs.field(init=False)
    residue: Any = attrs.field(init=False)
    sections: list[tuple[Any, Any, Any]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        r, places, mode = self.results, self.places, self.mode
        order = r.order
        sc = r.scored

        def pick(pair: tuple[Any, Any]) -> tuple[Any, Any]:
            return pair[0][order], pair[1][order]

        def zeroed(col: Num | None, extra: int = 0) -> Any:
            assert col is not None
            q, na = _rounded(r, col, places + extra, mode)
            return np.where(na, 0, q)[order]

        self.total = pick(_rounded(r, sc.total, places, mode))
        self.before = pick(_rounded(r, sc.before, places, mode))
        self.scores, self.contributions, self.shares = [], [], []
        for kpi in r.card.kpis:
            col = sc.kpis[kpi.id]
            self.scores.append(pick(_rounded(r, col.score, places, mode)))
            self.contributions.append(zeroed(col.contribution))
            self.shares.append(zeroed(col.share, 2))  # round(100·x, p) is round(x, p + 2) shifted
        whole = np.where(self.before[1], 0, self.before[0])
        self.residue = whole - (np.sum(self.contributions, axis=0) if self.contributions else 0)
        self.sections = []
        for s in r.card.sections:
            score, share, live, zeroed_rows = sc.sections[s.id]
            code = np.where(zeroed_rows, 2, np.where(live, 0, 1))[order]
            self.sections.append((pick(_rounded(r, score, places, mode)), zeroed(share, 2), code))


# --------------------------------------------------------------------------------------- text pieces


def _fixed(values: Any, places: int, na: Any = None) -> Any:
    """Polars text of signed scaled integers (``-12345``, 2 → ``-123.45``); ``None`` where ``na``."""
    import polars as pl  # noqa: PLC0415

    s = pl.Series(values, dtype=pl.Int64)
    frame = pl.DataFrame({"q": s})
    text = pl.col("q").abs().cast(pl.Utf8)
    if places:
        text = text.str.zfill(places + 1)
        text = text.str.slice(0, text.str.len_chars() - places) + pl.lit(".") + text.str.slice(-places)
    text = pl.when(pl.col("q") < 0).then(pl.lit("-") + text).otherwise(text)
    out = frame.select(text.alias("t"))["t"]
    if na is not None and na.any():
        out = out.scatter(np.flatnonzero(na), None)
    return out


def _exact(col: Column, rows: Any, how: Callable[[Any], str]) -> Any:
    """Exact text of a value column at ``rows`` (``None`` for N/A); ``how`` formats the rare non-decimal cells."""
    import polars as pl  # noqa: PLC0415

    if isinstance(col, Num) and isinstance(col.den, int) and col.den in _POWERS:
        num = np.broadcast_to(np.asarray(col.num, dtype=np.int64), (len(rows),)) if isinstance(col.num, int) else None
        values = num if num is not None else np.asarray(col.num)[rows]
        if values.dtype == object:
            return pl.Series([None if v is None else how(v) for v in (at_row(col, j) for j in rows.tolist())])
        places = _POWERS[col.den]
        frame = pl.DataFrame({"q": pl.Series(values, dtype=pl.Int64)})
        text = pl.col("q").abs().cast(pl.Utf8)
        if places:
            text = text.str.zfill(places + 1)
            text = text.str.slice(0, text.str.len_chars() - places) + pl.lit(".") + text.str.slice(-places)
            text = text.str.replace(r"\.?0+$", "")
            text = pl.when(text == "").then(pl.lit("0")).otherwise(text)
        text = pl.when((pl.col("q") < 0) & (pl.col("q") != 0)).then(pl.lit("-") + text).otherwise(text)
        out = frame.select(text.alias("t"))["t"]
        na = None if col.na is None else np.asarray(col.na)[rows]
        if na is not None and na.any():
            out = out.scatter(np.flatnonzero(na), None)
        return out
    return pl.Series([None if v is None else how(v) for v in (at_row(col, j) for j in rows.tolist())], dtype=pl.Utf8)


def _coded(codes: Any, text: Callable[[int], str | None]) -> Any:
    """A text column from small integer codes: each distinct code formatted once in Python."""
    import polars as pl  # noqa: PLC0415

    s = pl.Series(np.asarray(codes, dtype=np.int64))
    mapping = {int(c): text(int(c)) for c in np.unique(codes).tolist()}
    return s.replace_strict(mapping, return_dtype=pl.Utf8)


def _gate_codes(results: ColumnarResults, rows: Any) -> Any:
    """Per row a base-3 code of the gates' outcomes (0 not applied, 1 applied, 2 not evaluated)."""
    code = np.zeros(len(rows), dtype=np.int64)
    for i, g in enumerate(results.card.gates):
        holds = results.scored.gates[g.id]
        val = np.asarray(holds.val, dtype=bool)[rows]
        outcome = np.where(val, 1, 0)
        if holds.na is not None:
            outcome = np.where(np.asarray(holds.na)[rows], 2, outcome)
        code += outcome * 3**i
    return code


def _gate_outcomes(results: ColumnarResults, code: int) -> list[int]:
    return [(code // 3**i) % 3 for i in range(len(results.card.gates))]


def _fired(results: ColumnarResults, code: int) -> list[str]:
    outcomes = _gate_outcomes(results, code)
    return [f"gate:{g.id}" for g, o in zip(results.card.gates, outcomes, strict=True) if o == 1]


def _flag_codes(results: ColumnarResults, kpi_id: str, rows: Any) -> tuple[Any, list[str]]:
    flags = results.scored.kpis[kpi_id].flags
    code = np.zeros(len(rows), dtype=np.int64)
    for i, (_, mask) in enumerate(flags):
        code += np.asarray(mask, dtype=bool)[rows].astype(np.int64) << i
    return code, [name for name, _ in flags]


def _names_of(code: int, names: list[str]) -> list[str]:
    return [name for i, name in enumerate(names) if code >> i & 1]


def _csv_flags(results: ColumnarResults, names: list[str], span: int, code: int) -> str:
    return " ".join(_names_of(code // span, names) + _fired(results, code % span))


def _kpi_flags(names: list[str], indent: int | None, depth: int, code: int) -> str:
    return _jdump(_names_of(code, names), indent, depth)


def _section_flags(indent: int | None, depth: int, code: int) -> str:
    return _jdump(([], ["excluded_na"], ["zeroed_by_gate"])[code], indent, depth)


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, CHUNK):
        yield slice(start, min(start + CHUNK, n))


# ---------------------------------------------------------------------------------------------- CSV


def _safe(expr: Any) -> Any:
    """``spreadsheet_safe`` then CSV quoting (``csv.writer``: quote when , " or a line feed is in the cell)."""
    import polars as pl  # noqa: PLC0415

    safe = pl.when(expr.str.contains(_FORMULA) & ~expr.str.contains(_PLAIN)).then(pl.lit("'") + expr).otherwise(expr)
    quoted = pl.lit('"') + safe.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(safe.str.contains('[,"\n]')).then(quoted).otherwise(safe)


def _safe_text(text: str) -> str:
    from kpi_engine.report._view import spreadsheet_safe  # noqa: PLC0415

    cell = spreadsheet_safe(text)
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell


def _csv(
    appraisal: Appraisal,
    figures: _Figures,
    msg: Messages,
    scorecard: Scorecard | None,
    names: Mapping[str, str],
    *,
    bom: bool,
) -> Iterator[str]:
    import polars as pl  # noqa: PLC0415

    r = figures.results
    card = r.card
    places = figures.places
    header = ",".join(_safe_text(msg.pt("csv", c)) for c in COLUMNS) + "\n"
    yield ("\ufeff" if bom else "") + header
    titles = {g.grade: g.title for g in scorecard.grades} if scorecard is not None else {}
    bonus_of = {g.grade: g.bonus_multiplier for g in card.grades}
    period = _safe_text(appraisal.period)
    kpi_titles = []
    for kpi in card.kpis:
        title = next((k.title for k in scorecard.kpis if k.id == kpi.id and k.title), None) if scorecard else None
        kpi_titles.append(title or kpi.title or kpi.id)
    subjects_all = np.array(r.subjects, dtype=object)
    for part in _chunks(len(r)):
        rows = r.order[part]
        subjects = subjects_all[rows].tolist()
        grades = r.grade[rows].tolist()
        frame = pl.DataFrame(
            {
                "subject": pl.Series(subjects, dtype=pl.Utf8),
                "name": pl.Series([names.get(s, "") for s in subjects], dtype=pl.Utf8),
                "parent": pl.Series([r.parent.get(s) or "" for s in subjects], dtype=pl.Utf8),
                "total": _fixed(figures.total[0][part], places, figures.total[1][part]).fill_null(""),
                "grade": pl.Series([g or "" for g in grades], dtype=pl.Utf8),
                "grade_title": pl.Series([titles.get(g or "") or "" for g in grades], dtype=pl.Utf8),
                "bonus": pl.Series(
                    ["" if (b := bonus_of.get(g)) is None else format(b, "f") for g in grades], dtype=pl.Utf8
                ),
                "rank": pl.Series(r.rank[rows], dtype=pl.Int64),
                "before": _fixed(figures.before[0][part], places, figures.before[1][part]).fill_null(""),
                "residue": _fixed(figures.residue[part], places),
            }
        )
        gate_code = _gate_codes(r, rows)
        base = frame.select(
            pl.concat_str(
                [
                    pl.lit(period),
                    _safe(pl.col("subject")),
                    _safe(pl.col("name")),
                    _safe(pl.col("parent")),
                    pl.col("total"),
                    _safe(pl.col("grade")),
                    _safe(pl.col("grade_title")),
                    _safe(pl.col("bonus")),
                    pl.when(pl.col("rank") > 0).then(pl.col("rank").cast(pl.Utf8)).otherwise(pl.lit("")),
                ],
                separator=",",
            ).alias("prefix"),
            pl.concat_str([pl.col("before"), pl.col("residue")], separator=",").alias("suffix"),
        )
        del frame
        span = 3 ** len(card.gates)
        lines = []
        for i, kpi in enumerate(card.kpis):
            col = r.scored.kpis[kpi.id]
            score, score_na = figures.scores[i]
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            kpi_frame = base.with_columns(
                _exact(col.value, rows, exact_text).fill_null("").alias("value"),
                _fixed(score[part], places, score_na[part]).fill_null("").alias("score"),
                _fixed(figures.contributions[i][part], places).alias("contribution"),
                pl.Series(np.where(score_na[part], "excluded", "scored"), dtype=pl.Utf8).alias("status"),
                _coded(flag_code * span + gate_code, functools.partial(_csv_flags, r, flag_names, span)).alias("flags"),
            )
            line = pl.concat_str(
                [
                    pl.col("prefix"),
                    pl.lit(_safe_text(kpi.id)),
                    pl.lit(_safe_text(kpi_titles[i])),
                    _safe(pl.col("value")),
                    pl.col("score"),
                    pl.lit(_safe_text(exact_text(kpi.weight))),
                    pl.col("contribution"),
                    pl.col("status"),
                    _safe(pl.col("flags")),
                    pl.col("suffix"),
                ],
                separator=",",
            )
            lines.append(kpi_frame.select(line.alias(f"l{i}")))
        if not lines:
            continue
        text = pl.concat(lines, how="horizontal").select(pl.concat_str(pl.all(), separator="\n").alias("t"))["t"]
        yield "\n".join(text.to_list()) + "\n"


# --------------------------------------------------------------------------------------------- JSON


def _jstr(series: Any) -> Any:
    """JSON text of a text column (``null`` for missing), as ``json.dumps(ensure_ascii=False)`` writes it."""
    import polars as pl  # noqa: PLC0415

    s = series.cast(pl.Utf8)
    if s.str.contains(_CONTROL).any():
        return pl.Series([None if v is None else json.dumps(v, ensure_ascii=False) for v in s.to_list()]).fill_null(
            "null"
        )
    frame = pl.DataFrame({"s": s})
    escaped = pl.col("s").str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    return frame.select((pl.lit('"') + escaped + pl.lit('"')).fill_null("null").alias("t"))["t"]


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


def _json(appraisal: Appraisal, figures: _Figures, fmt: str, *, compact: bool) -> Iterator[str]:
    import polars as pl  # noqa: PLC0415

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
    bonus_of = {g.grade: g.bonus_multiplier for g in card.grades}
    span = 3 ** len(card.gates)
    done = 0
    for part in _chunks(len(r)):
        rows = r.order[part]
        subjects = subjects_all[rows].tolist()
        grades = r.grade[rows].tolist()
        m = len(rows)
        gate_code = _gate_codes(r, rows)
        no_kpi = figures.total[1][part].astype(np.int64)
        adj_code = np.zeros(m, dtype=np.int64)
        for i, (_, present, holds) in enumerate(r.scored.adjustments):
            val = np.where(np.asarray(holds.val, dtype=bool)[rows], 2, 3)
            if holds.na is not None:
                val = np.where(np.asarray(holds.na)[rows], 1, val)
            adj_code += np.where(np.asarray(present, dtype=bool)[rows], val, 0) * 4**i

        def adjustments(c: int) -> str:
            out: dict[str, Any] = {}
            for i, (adj_id, _, _) in enumerate(r.scored.adjustments):
                v = (c // 4**i) % 4
                if v:
                    out[adj_id] = (None, True, False)[v - 1]
            return _jdump(out, indent, d0 + 1)

        cols: dict[str, Any] = {
            "subject": _jstr(pl.Series(subjects, dtype=pl.Utf8)),
            "parent": _jstr(pl.Series([r.parent.get(s) for s in subjects], dtype=pl.Utf8)),
            "total": _jstr(_fixed(figures.total[0][part], places, figures.total[1][part])),
            "before": _jstr(_fixed(figures.before[0][part], places, figures.before[1][part])),
            "residue": _jstr(_fixed(figures.residue[part], places)),
            "grade": _jstr(pl.Series(grades, dtype=pl.Utf8)),
            "bonus": _jstr(
                pl.Series([None if (b := bonus_of.get(g)) is None else canonical(b) for g in grades], dtype=pl.Utf8)
            ),
            "rank": _int_or_null(r.rank[rows]),
            "rank_in": _int_or_null(r.rank_in[rows]),
            "flags": _coded(
                no_kpi * span + gate_code,
                lambda c: _jdump(_fired(r, c % span) + (["no_kpi_applies"] if c // span else []), indent, d0 + 1),
            ),
            "gates": _coded(
                gate_code,
                lambda c: _jdump(
                    {
                        g.id: ("not_applied", "applied", "not_evaluated")[o]
                        for g, o in zip(card.gates, _gate_outcomes(r, c), strict=True)
                    },
                    indent,
                    d0 + 1,
                ),
            ),
            "adjustments": _coded(adj_code, adjustments),
        }
        metrics: list[tuple[str | None, Any]] = []
        for name in card.report:
            cols[f"metric:{name}"] = _value_json(r.env[name], rows)
            metrics.append((name, pl.col(f"metric:{name}")))
        sections: list[tuple[str | None, Any]] = []
        for i, s in enumerate(card.sections):
            (score, score_na), share, code = figures.sections[i]
            cols[f"s{i}:score"] = _jstr(_fixed(score[part], places, score_na[part]))
            cols[f"s{i}:share"] = _jstr(_fixed(share[part], places))
            cols[f"s{i}:flags"] = _coded(code[part], functools.partial(_section_flags, indent, d0 + 3))
            node = _Node(
                "dict",
                [
                    ("id", json.dumps(s.id, ensure_ascii=False)),
                    ("score", pl.col(f"s{i}:score")),
                    ("effective_weight", pl.col(f"s{i}:share")),
                    ("flags", pl.col(f"s{i}:flags")),
                ],
            )
            sections.append((None, node))
        kpis: list[tuple[str | None, Any]] = []
        for i, kpi in enumerate(card.kpis):
            score, score_na = figures.scores[i]
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            cols[f"k{i}:value"] = _value_json(r.scored.kpis[kpi.id].value, rows)
            cols[f"k{i}:status"] = pl.Series(np.where(score_na[part], '"excluded"', '"scored"'), dtype=pl.Utf8)
            cols[f"k{i}:score"] = _jstr(_fixed(score[part], places, score_na[part]))
            cols[f"k{i}:share"] = _jstr(_fixed(figures.shares[i][part], places))
            cols[f"k{i}:contribution"] = _jstr(_fixed(figures.contributions[i][part], places))
            cols[f"k{i}:flags"] = _coded(flag_code, functools.partial(_kpi_flags, flag_names, indent, d0 + 3))
            node = _Node(
                "dict",
                [
                    ("id", json.dumps(kpi.id, ensure_ascii=False)),
                    ("value", pl.col(f"k{i}:value")),
                    ("status", pl.col(f"k{i}:status")),
                    ("score", pl.col(f"k{i}:score")),
                    ("effective_weight", pl.col(f"k{i}:share")),
                    ("contribution", pl.col(f"k{i}:contribution")),
                    ("flags", pl.col(f"k{i}:flags")),
                ],
            )
            kpis.append((None, node))
        subject = _Node(
            "dict",
            [
                ("subject", pl.col("subject")),
                ("level", level),
                ("parent", pl.col("parent")),
                ("total", pl.col("total")),
                ("total_before_gates", pl.col("before")),
                ("contributions_residue", pl.col("residue")),
                ("grade", pl.col("grade")),
                ("bonus_multiplier", pl.col("bonus")),
                ("rank", pl.col("rank")),
                ("rank_in_parent", pl.col("rank_in")),
                ("flags", pl.col("flags")),
                ("metrics", _Node("dict", metrics)),
                ("sections", _Node("list", sections)),
                ("kpis", _Node("list", kpis)),
                ("gates", pl.col("gates")),
                ("adjustments", pl.col("adjustments")),
            ],
        )
        frame = pl.DataFrame(cols)
        text = frame.select(pl.concat_str(subject.pieces(indent, d0)).alias("t"))["t"].to_list()
        del frame, cols
        if fmt == "jsonl":
            yield "\n".join(text) + "\n"
        else:
            pad = "" if indent is None else "\n" + " " * (indent * 2)
            yield ("," if done else "") + pad + ("," + pad).join(text)
        done += m
    if fmt == "json":
        nl = "" if indent is None else "\n"
        yield (nl + " " * (indent or 0) if done else "") + "]" + nl + "}\n"


def _int_or_null(values: Any) -> Any:
    import polars as pl  # noqa: PLC0415

    s = pl.Series(np.asarray(values, dtype=np.int64))
    return pl.DataFrame({"r": s}).select(
        pl.when(pl.col("r") > 0).then(pl.col("r").cast(pl.Utf8)).otherwise(pl.lit("null")).alias("t")
    )["t"]


def _value_json(col: Column, rows: Any) -> Any:
    """JSON text of a value column as ``json.dumps(default=canonical)`` writes it."""
    import polars as pl  # noqa: PLC0415

    if isinstance(col, Num):
        return _jstr(_exact(col, rows, canonical))
    if isinstance(col, Bool):
        return pl.Series(
            ["null" if v is None else ("true" if v else "false") for v in (at_row(col, j) for j in rows.tolist())]
        )
    assert isinstance(col, Text)
    return pl.Series(
        [json.dumps(v, ensure_ascii=False, default=_default) for v in (at_row(col, j) for j in rows.tolist())]
    )


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return canonical(value)
    raise TypeError(type(value).__name__)


def frame_names(frame: Any, period: str) -> dict[str, str]:
    """``names_from_tables`` for records held as a Polars frame (a file read as columns).

    A named row of ``period`` wins (the first one); otherwise the last named row of the subject.
    """
    import polars as pl  # noqa: PLC0415

    if "name" not in frame.columns or "subject" not in frame.columns or frame["name"].dtype != pl.Utf8:
        return {}
    if frame["subject"].dtype != pl.Utf8:
        return {}
    period_col = (
        frame["period"].cast(pl.Utf8).str.strip_chars() if "period" in frame.columns else pl.repeat("", frame.height)
    )
    named = pl.DataFrame(
        {
            "subject": frame["subject"].str.strip_chars(),
            "name": frame["name"].str.strip_chars(),
            "chosen": period_col == period,
            "i": pl.int_range(frame.height, eager=True),
        }
    ).filter(pl.col("name").is_not_null() & (pl.col("name") != "") & pl.col("subject").is_not_null())
    if named.height == 0:
        return {}
    picked = (
        named.sort("i")
        .group_by("subject", maintain_order=True)
        .agg(
            pl.when(pl.col("chosen").any())
            .then(pl.col("name").filter(pl.col("chosen")).first())
            .otherwise(pl.col("name").last())
            .alias("name")
        )
    )
    return dict(zip(picked["subject"].to_list(), picked["name"].to_list(), strict=True))
