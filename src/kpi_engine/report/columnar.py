"""The columnar kernel's results prepared for writing; Arrow batches of them.

``kpi evaluate --format csv|jsonl|json`` on a large input: the kernel's exact rational columns
(``ColumnarResults``) are rounded with integer arithmetic (correctly, with the ruleset's places
and mode, ``_Figures``) and formatted with Polars string expressions (``_Chunk``), a chunk of
subjects at a time, so that no ``SubjectResult`` or ``KpiResult`` is built and the text is never
held whole. ``columnar_text`` picks the writer of the format: ``report.csv`` (``columnar_csv``,
``columnar_csv_wide``) or ``report.json`` (``columnar_json``), the modules that also write the
result objects' CSV and hold the JSON writing of the columns; the bytes are the same either way
(a differential test checks it: ``tests/unit/test_report_columnar.py``).

Anything this module does not format itself (contributions apportioned by largest remainder,
traces, a value too large for int64 after rounding) makes ``columnar_text`` return ``None``, and
the caller renders through the result objects as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs
import numpy as np

from kpi_engine._columns import Column, Ctx, Num, round_parts
from kpi_engine._numbers import canonical, quantize
from kpi_engine.evaluation.columnar._results import ColumnarResults, at_row
from kpi_engine.evaluation.frames import MAX_DIGITS, WIDE_COLUMNS
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.model import Scorecard
from kpi_engine.report._i18n import Messages
from kpi_engine.report._view import exact_text
from kpi_engine.report.csv import columnar_csv, columnar_csv_wide
from kpi_engine.report.json import columnar_json

CHUNK = 10_000  # subjects per piece of text: Polars holds about ten times the text of a chunk while it builds it
_POWERS = {10**k: k for k in range(19)}
# The writers' names from before they moved to report/csv.py and report/json.py (same signatures).
_csv, _csv_wide, _json = columnar_csv, columnar_csv_wide, columnar_json


def columnar_text(
    appraisal: Appraisal,
    fmt: str,
    *,
    msg: Messages | None = None,
    scorecard: Scorecard | None = None,
    names: Mapping[str, str] | None = None,
    bom: bool = False,
    compact: bool = False,
    layout: str = "long",
    ids: bool = False,
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
        layout: CSV ``long`` (a row per subject and KPI) or ``wide`` (a row per subject).
        ids: the wide CSV's Chinese header names KPIs by id.

    Returns:
        The pieces (a generator: the work happens as they are written), or ``None`` when the
        appraisal must be rendered through its result objects.
    """
    results = appraisal.results
    if not isinstance(results, ColumnarResults) or appraisal.contributions != "rounded":
        return None
    if fmt not in {"csv", "jsonl", "json"}:
        return None
    figures = _Figures(results, appraisal.places, appraisal.rounding)
    if not figures.fits():  # values beyond the int64 range: the result objects render them
        return None
    if fmt == "csv":
        assert msg is not None
        if layout == "wide":
            return columnar_csv_wide(appraisal, figures, msg, scorecard, names or {}, bom=bom, ids=ids)
        return columnar_csv(appraisal, figures, msg, scorecard, names or {}, bom=bom)
    if layout == "wide":  # JSON has one layout
        return None
    return columnar_json(appraisal, figures, fmt, compact=compact)


# ------------------------------------------------------------------------------------------ numbers


def _rounded(col: Num, places: int, mode: str, *, exact: bool = False) -> tuple[Any, Any]:
    """Signed int64 of ``col`` correctly rounded to ``places`` (zero unsigned) and its N/A mask."""
    n = len(col.na) if col.na is not None else _length(col)
    trial = Ctx(n, exact=exact)
    q, negative, na = round_parts(trial, col, places, mode)
    if trial.bad.any():  # a product that might leave int64: the same rounding over Python integers
        q, negative, na = round_parts(Ctx(n, exact=True), col, places, mode)
    return np.where(negative, -q.astype(np.int64), q.astype(np.int64)), na


def _length(col: Num) -> int:
    for part in (col.num, col.den):
        if not isinstance(part, int):
            return len(part)
    return 1


def _take(col: Num, rows: Any) -> Num:
    num = col.num if isinstance(col.num, int) else col.num[rows]
    den = col.den if isinstance(col.den, int) else col.den[rows]
    if isinstance(num, int) and isinstance(den, int):
        num = np.full(len(rows), num, dtype=np.int64)
    return Num(num, den, None if col.na is None else col.na[rows])


@attrs.define
class _Figures:
    """Every reported figure of a chunk of subjects (row indices ``rows``) as signed scaled integers."""

    results: ColumnarResults
    places: int
    mode: str

    def fits(self) -> bool:
        """Whether every rounded figure fits int64: no value column beyond 2**62 / 10**(places + 2)."""
        r, sc = self.results, self.results.scored
        if r.ctx.exact:
            return False
        limit = 2**62 // 10 ** (self.places + 2)
        cols: list[Num | None] = [sc.total, sc.before]
        for k in sc.kpis.values():
            cols += [k.score, k.share, k.contribution]
        for score, share, _, _ in sc.sections.values():
            cols += [score, share]
        for col in cols:
            if col is None:
                continue
            num = col.num
            top = abs(num) if isinstance(num, int) else (max(int(num.max()), -int(num.min())) if len(num) else 0)
            if top >= limit:
                return False
        return True

    def at(self, rows: Any) -> _Chunked:
        """The figures of the subjects in ``rows`` (positions in the results' columns)."""
        r, places, mode = self.results, self.places, self.mode
        sc = r.scored

        def rounded(col: Num, extra: int = 0) -> tuple[Any, Any]:
            return _rounded(_take(col, rows), places + extra, mode)

        def zeroed(col: Num | None, extra: int = 0) -> Any:
            assert col is not None
            q, na = rounded(col, extra)
            return np.where(na, 0, q)

        out = _Chunked(rounded(sc.total), rounded(sc.before))
        for kpi in r.card.kpis:
            col = sc.kpis[kpi.id]
            out.scores.append(rounded(col.score))
            out.contributions.append(zeroed(col.contribution))
            out.shares.append(zeroed(col.share, 2))  # round(100·x, p) is round(x, p + 2) shifted
        whole = np.where(out.before[1], 0, out.before[0])
        out.residue = whole - (np.sum(out.contributions, axis=0) if out.contributions else 0)
        for s in r.card.sections:
            score, share, live, zeroed_rows = sc.sections[s.id]
            code = np.where(zeroed_rows[rows], 2, np.where(live[rows], 0, 1))
            out.sections.append((rounded(score), zeroed(share, 2), code))
        return out


@attrs.define
class _Chunked:
    total: tuple[Any, Any]
    before: tuple[Any, Any]
    scores: list[tuple[Any, Any]] = attrs.Factory(list)
    contributions: list[Any] = attrs.Factory(list)
    shares: list[Any] = attrs.Factory(list)
    residue: Any = None
    sections: list[tuple[tuple[Any, Any], Any, Any]] = attrs.Factory(list)


# --------------------------------------------------------------------------------------- text pieces


class _Chunk:
    """The raw columns of a chunk of subjects, and the Polars expressions that format them."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def frame(self) -> Any:
        import polars as pl  # noqa: PLC0415

        return pl.DataFrame(self.data)

    def ints(self, key: str, values: Any, na: Any = None) -> Any:
        """Register signed int64 values (null where ``na``); return the column."""
        import polars as pl  # noqa: PLC0415

        s = pl.Series(key, np.asarray(values, dtype=np.int64))
        if na is not None and na.any():
            s = s.scatter(np.flatnonzero(na), None)
        self.data[key] = s
        return pl.col(key)

    def text(self, key: str, values: Any) -> Any:
        import polars as pl  # noqa: PLC0415

        self.data[key] = pl.Series(key, values, dtype=pl.Utf8)
        return pl.col(key)

    def coded(self, key: str, codes: Any, text: Callable[[int], str]) -> Any:
        """Register a text column from small integer codes, each distinct code formatted once in Python."""
        import polars as pl  # noqa: PLC0415

        self.data[key] = _coded(codes, text).alias(key)
        return pl.col(key)

    def fixed(self, key: str, values: Any, places: int, na: Any = None) -> Any:
        """Text of signed scaled integers (``-12345``, 2 → ``-123.45``), null where ``na``."""
        import polars as pl  # noqa: PLC0415

        text = _decimal_text(np.asarray(values, dtype=np.int64), places)
        if na is not None and na.any():
            text = text.scatter(np.flatnonzero(na), None)
        self.data[key] = text.alias(key)
        return pl.col(key)

    def value(self, key: str, col: Column, rows: Any, places: int, mode: str) -> Any:
        """A metric value column as the readable reports show it (``View.value``), null for N/A.

        Numbers correctly rounded to ``places`` decimals, the zeros rounding added dropped; bools
        ``true``/``false``; text as is. Values too large for int64 once scaled are formatted in Python.
        """
        if isinstance(col, Num):
            taken = _take(col, rows)
            if _scaled_fits(taken, places):
                q, na = _rounded(taken, places, mode)
                return _canonical_text(self.fixed(key, q, places, na))
            return self.text(key, [None if v is None else _shown(v, places, mode) for v in _cells(col, rows)])
        return self.text(key, [None if v is None else exact_text(v) for v in _cells(col, rows)])

    def exact(self, key: str, col: Column, rows: Any, how: Callable[[Any], str]) -> Any:
        """Exact text of a value column (null for N/A); ``how`` formats the rare non-decimal cells in Python."""
        if isinstance(col, Num) and isinstance(col.den, int) and col.den in _POWERS:
            values = np.full(len(rows), col.num) if isinstance(col.num, int) else np.asarray(col.num)[rows]
            if values.dtype != object:
                na = None if col.na is None else np.asarray(col.na)[rows]
                text = self.fixed(key, values, _POWERS[col.den], na)
                # canonical: no trailing zeros ("12.50" → "12.5", "3.00" → "3", "0.00" → "0")
                return text.str.strip_chars_end("0").str.strip_chars_end(".") if _POWERS[col.den] else text
        return self.text(key, [None if v is None else how(v) for v in (at_row(col, j) for j in rows.tolist())])


def _cells(col: Column, rows: Any) -> Iterator[Any]:
    return (at_row(col, j) for j in rows.tolist())


def _shown(value: Any, places: int, mode: str) -> str:
    return canonical(quantize(value, places, mode))


def _canonical_text(text: Any) -> Any:
    """Fixed-point text without the trailing zeros and point (``12.5000`` → ``12.5``, ``0.0000`` → ``0``)."""
    return text.str.strip_chars_end("0").str.strip_chars_end(".")


def _scaled_fits(col: Num, places: int) -> bool:
    """Whether every value of ``col`` times ``10**places`` stays well inside int64 (then it is rounded in NumPy)."""
    num, den = col.num, col.den
    top = abs(num) if isinstance(num, int) else (max(int(np.max(num)), -int(np.min(num))) if len(num) else 0)
    least = den if isinstance(den, int) else (int(np.min(den)) if len(den) else 1)
    return bool(top * 10**places // max(least, 1) < 2**62)


def _decimal_text(values: Any, places: int) -> Any:
    """``format(Decimal(v).scaleb(-places), "f")`` for each int64 ``v``, by Polars' decimal formatting.

    The integers become the 128-bit two's-complement numerators of an Arrow ``decimal128(38, places)``
    array (no arithmetic, no rounding), which Polars writes with exactly ``places`` decimals.
    """
    import polars as pl  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    words = np.empty(2 * len(values), dtype="<i8")  # Arrow decimals are little-endian, low word first
    words[0::2] = values
    words[1::2] = values >> 63  # the sign extension: the high 64 bits
    array = pa.Array.from_buffers(pa.decimal128(38, places), len(values), [None, pa.py_buffer(words)])
    return pl.from_arrow(array).cast(pl.Utf8)


def _coded(codes: Any, text: Callable[[int], str | None]) -> Any:
    """A text column from small integer codes: each distinct code formatted once in Python."""
    import polars as pl  # noqa: PLC0415

    distinct, where = np.unique(np.asarray(codes, dtype=np.int64), return_inverse=True)
    return pl.Series([text(int(c)) for c in distinct.tolist()], dtype=pl.Utf8).gather(where.reshape(-1))


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


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, CHUNK):
        yield slice(start, min(start + CHUNK, n))


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


# ------------------------------------------------------------------------------------ Arrow, wide layout


def columnar_long_batches(appraisal: Appraisal) -> tuple[Any, Iterator[Any]] | None:
    """The long layout (a row per subject and KPI) as Arrow record batches, from the kernel's columns.

    The same table as ``Appraisal.to_arrow()`` builds through the result objects (a test compares
    them). ``None`` when the appraisal must go through its result objects.
    """
    import pyarrow as pa  # noqa: PLC0415

    from kpi_engine.evaluation.frames import KPI_COLUMNS, bonus_places  # noqa: PLC0415

    results = appraisal.results
    if not isinstance(results, ColumnarResults) or appraisal.contributions != "rounded":
        return None
    figures = _Figures(results, appraisal.places, appraisal.rounding)
    if not figures.fits():
        return None
    reported = pa.decimal128(38, appraisal.places)
    types = {
        "total": reported, "score": reported, "effective_weight": reported, "contribution": reported,
        "rank": pa.int64(), "weight": pa.decimal128(38, bonus_places(k.weight for k in results.card.kpis)),
    }  # fmt: skip
    schema = pa.schema([pa.field(name, types.get(name, pa.string())) for name in KPI_COLUMNS])
    return schema, _long_batches(appraisal, figures, schema)


def _long_batches(appraisal: Appraisal, figures: _Figures, schema: Any) -> Iterator[Any]:
    import pyarrow as pa  # noqa: PLC0415

    r, card, places = figures.results, figures.results.card, figures.places
    subjects_all = np.array(r.subjects, dtype=object)
    k = len(card.kpis)
    for part in _chunks(len(r)):
        rows = r.order[part]
        n = len(rows)
        if not k:
            continue
        f = figures.at(rows)
        subjects = subjects_all[rows].tolist()
        ranks = np.asarray(r.rank[rows], dtype=np.int64)
        head = [
            pa.array([appraisal.period] * n, pa.string()),
            pa.array(subjects, pa.string()),
            pa.array([r.parent.get(s) for s in subjects], pa.string()),
            _decimals(f.total[0], places, f.total[1]),
            pa.array(r.grade[rows].tolist(), pa.string()),
            pa.array(ranks, pa.int64(), mask=ranks == 0),
        ]
        per_kpi: list[list[Any]] = []
        for i, kpi in enumerate(card.kpis):
            col = r.scored.kpis[kpi.id]
            score, score_na = f.scores[i]
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            distinct, where = np.unique(flag_code, return_inverse=True)
            flags = pa.array([";".join(_names_of(int(c), flag_names)) for c in distinct.tolist()], pa.string())
            per_kpi.append([
                pa.array([kpi.id] * n, pa.string()),
                pa.array([kpi.section] * n, pa.string()),
                _value_array(col.value, rows),
                pa.array(np.where(np.asarray(score_na, dtype=bool), "excluded", "scored").tolist(), pa.string()),
                _decimals(score, places, score_na),
                pa.array([kpi.weight] * n, schema.field("weight").type),
                _decimals(f.shares[i], places, None),
                _decimals(f.contributions[i], places, None),
                flags.take(pa.array(where.reshape(-1))),
            ])  # fmt: skip
        # KPI-major pieces interleaved into subject-major rows (row j: subject j // k, KPI j % k).
        order = pa.array((np.arange(n * k) % k) * n + np.arange(n * k) // k)
        repeat = pa.array(np.repeat(np.arange(n), k))
        columns = [c.take(repeat) for c in head]
        columns += [pa.concat_arrays([piece[j] for piece in per_kpi]).take(order) for j in range(len(per_kpi[0]))]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _value_array(col: Column, rows: Any) -> Any:
    """A value column as exact text (canonical numbers, ``true``/``false``), null for N/A."""
    import pyarrow as pa  # noqa: PLC0415

    if isinstance(col, Num):
        c = _Chunk()
        text = c.exact("v", col, rows, canonical)
        return c.frame().select(text.alias("v"))["v"].to_arrow().cast(pa.string())
    return pa.array([None if v is None else _exact_value(v) for v in _cells(col, rows)], pa.string())


def columnar_wide_batches(
    appraisal: Appraisal, names: Mapping[str, str] | None = None
) -> tuple[Any, Iterator[Any]] | None:
    """The wide layout as Arrow record batches, from the kernel's columns: (schema, batches).

    The same table as ``Appraisal.to_arrow(layout="wide", names=names)`` builds through the result
    objects (a test compares them), a chunk of subjects at a time, so that a Parquet file is written
    with flat memory. ``None`` when the appraisal must go through its result objects (as ``columnar_text``).
    """
    import pyarrow as pa  # noqa: PLC0415

    from kpi_engine.evaluation.frames import bonus_places, text_scale, value_scale  # noqa: PLC0415

    results = appraisal.results
    if not isinstance(results, ColumnarResults) or appraisal.contributions != "rounded":
        return None
    figures = _Figures(results, appraisal.places, appraisal.rounding)
    if not figures.fits():
        return None
    r, card, places = results, results.card, appraisal.places
    reported = pa.decimal128(MAX_DIGITS, places)
    bonus_type = pa.decimal128(MAX_DIGITS, bonus_places(b for b in r.bonus.tolist() if b is not None))
    types = {
        "total": reported, "total_before_gates": reported, "bonus_multiplier": bonus_type,
        "rank": pa.int64(), "rank_in_parent": pa.int64(),
    }  # fmt: skip
    fields = [pa.field(name, types.get(name, pa.string())) for name in WIDE_COLUMNS]
    texts: dict[str, Any] = {}  # a number column's exact text, made once: it decides the type, then is written
    scales: dict[str, int | None] = {}
    for kpi in card.kpis:
        col = r.scored.kpis[kpi.id].value
        if isinstance(col, Num):
            texts[kpi.id] = _value_array(col, np.arange(len(r)))
            scales[kpi.id] = text_scale(texts[kpi.id].to_pylist())
        else:
            scales[kpi.id] = value_scale(_cells(col, np.arange(len(r))))
    for kpi in card.kpis:
        scale = scales[kpi.id]
        value_type = pa.string() if scale is None else pa.decimal128(MAX_DIGITS, scale)
        fields += [pa.field(f"{kpi.id}_value", value_type), pa.field(f"{kpi.id}_score", reported)]
    schema = pa.schema(fields)
    return schema, _wide_batches(appraisal, figures, schema, names or {}, scales, texts)


def _decimals(values: Any, places: int, na: Any) -> Any:
    """A ``decimal128(38, places)`` Arrow array of signed scaled int64 values (null where ``na``)."""
    import pyarrow as pa  # noqa: PLC0415

    values = np.asarray(values, dtype=np.int64)
    words = np.empty(2 * len(values), dtype="<i8")
    words[0::2] = values
    words[1::2] = values >> 63
    validity = None
    if na is not None and np.asarray(na).any():
        validity = pa.array(~np.asarray(na, dtype=bool)).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(38, places), len(values), [validity, pa.py_buffer(words)])


def _wide_batches(
    appraisal: Appraisal,
    figures: _Figures,
    schema: Any,
    names: Mapping[str, str],
    scales: Mapping[str, int | None],
    value_texts: Mapping[str, Any],
) -> Iterator[Any]:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    from kpi_engine.evaluation.frames import grade_titles, wide_value  # noqa: PLC0415

    titles = grade_titles(appraisal)

    r, card, places = figures.results, figures.results.card, figures.places
    span = 3 ** len(card.gates)
    published = [name for name, _ in r.published]
    subjects_all = np.array(r.subjects, dtype=object)

    def subject_flags(code: int) -> list[str]:
        gates, rest = code % span, code // span
        return _fired(r, gates) + (["no_kpi_applies"] if rest & 1 else []) + _names_of(rest >> 1, published)

    for part in _chunks(len(r)):
        rows = r.order[part]
        f = figures.at(rows)
        subjects = subjects_all[rows].tolist()
        code = _gate_codes(r, rows) + span * f.total[1].astype(np.int64)
        for i, (_, mask) in enumerate(r.published):
            code += span * 2 * (np.asarray(mask, dtype=bool)[rows].astype(np.int64) << i)
        parts, writers = [code], [subject_flags]
        for kpi in card.kpis:
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            parts.append(flag_code)
            writers.append(functools.partial(lambda kid, names, c: [f"{kid}:{n}" for n in _names_of(c, names)],
                                             kpi.id, flag_names))  # fmt: skip
        combos, where = np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)
        texts = [
            ";".join(t for w, x in zip(writers, combo, strict=True) for t in w(int(x))) for combo in combos.tolist()
        ]
        ranks = r.rank[rows]
        ranks_in = r.rank_in[rows]
        grades = r.grade[rows].tolist()
        fixed = {
            "period": pa.array([appraisal.period] * len(rows), pa.string()),
            "subject": pa.array(subjects, pa.string()),
            "name": pa.array([names.get(s) or None for s in subjects], pa.string()),
            "parent": pa.array([r.parent.get(s) for s in subjects], pa.string()),
            "total": _decimals(f.total[0], places, f.total[1]),
            "total_before_gates": _decimals(f.before[0], places, f.before[1]),
            "grade": pa.array(grades, pa.string()),
            "grade_title": pa.array([titles.get(g or "") for g in grades], pa.string()),
            "bonus_multiplier": pa.array(r.bonus[rows].tolist(), schema.field("bonus_multiplier").type),
            "rank": pa.array(np.asarray(ranks, dtype=np.int64), pa.int64(), mask=np.asarray(ranks) == 0),
            "rank_in_parent": pa.array(
                np.asarray(ranks_in, dtype=np.int64), pa.int64(), mask=np.asarray(ranks_in) == 0
            ),
            "flags": pa.array(texts, pa.string()).take(pa.array(where.reshape(-1))),
        }
        columns = [fixed[name] for name in WIDE_COLUMNS]
        for i, kpi in enumerate(card.kpis):
            score, score_na = f.scores[i]
            col, scale = r.scored.kpis[kpi.id].value, scales[kpi.id]
            if kpi.id in value_texts:
                value = value_texts[kpi.id].take(pa.array(rows))
                if scale is not None:
                    value = pc.cast(value, pa.decimal128(MAX_DIGITS, scale))
            elif scale is None:
                value = _value_array(col, rows)
            else:
                cells = [wide_value(v, scale) for v in _cells(col, rows)]
                value = pa.array(cells, pa.decimal128(MAX_DIGITS, scale))
            columns += [value, _decimals(score, places, score_na)]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _exact_value(value: Any) -> str:
    """A text or bool value as the frames write it (``true``/``false``, numbers canonical)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return canonical(value)
    return str(value)
