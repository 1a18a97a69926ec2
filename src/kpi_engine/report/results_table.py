"""The long result table with real types: ``result_schema`` (Arrow and Spark DDL) and ``result_table``.

One row per subject and KPI, the columns of ``kpi evaluate``'s long CSV (``report.csv.COLUMNS``)
plus ``rank_in_parent``, typed for a data engine instead of text:

- reported figures (``total``, ``score``, ``contribution``, ``total_before_gates``,
  ``contributions_residue``) are ``decimal(38, places)``, rounded with the ruleset's places and
  mode, as the CSV and JSON report them;
- ``weight`` and ``bonus_multiplier`` are decimals at the places that hold every declared value
  exactly (at least 6, ``frames.bonus_places``), so a weight of 0.125 is never rounded;
- ``rank`` and ``rank_in_parent`` are ``int64`` (null when unranked);
- ``flags`` is a list of text (the KPI's flags, then ``gate:<id>`` for each gate that held);
- ``value`` is **exact text** (canonical: ``105.77``, ``true``, a text input as given). A value is
  whatever a metric computes: a 38-digit revenue next to a ratio with 30 decimals, in the same
  column. No fixed-scale decimal holds both (Spark's ``DecimalType`` has at most 38 digits
  overall, so a common scale either loses the large values or rounds the small ones, and a cast
  to ``decimal(38,37)`` silently wraps ``105.77``), and a float would round. Text keeps every
  digit; cast it where a column's range is known.

``result_table(appraisal)`` builds this table from an appraisal (the Spark executor,
``kpi_engine.spark``, builds each partition's rows with it); a test checks it against
``evaluate_batches`` and the CSV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from kpi_engine._numbers import Number, canonical, is_number, quantize
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.frames import MAX_DIGITS, bonus_places
from kpi_engine.evaluation.results import Appraisal, SubjectResult
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard
from kpi_engine.report.csv import COLUMNS as CSV_COLUMNS

RESULT_COLUMNS = (
    *CSV_COLUMNS[: CSV_COLUMNS.index("rank") + 1],
    "rank_in_parent",
    *CSV_COLUMNS[CSV_COLUMNS.index("kpi") :],
)
"""The long CSV's columns, with ``rank_in_parent`` after ``rank``."""
_REPORTED = frozenset({"total", "score", "contribution", "total_before_gates", "contributions_residue"})
_INTS = frozenset({"rank", "rank_in_parent"})


@attrs.frozen
class ResultSchema:
    """The typed long result table of a ruleset: column names, Arrow schema, Spark DDL."""

    columns: tuple[str, ...]
    arrow: Any  # a pyarrow.Schema
    ddl: str  # a Spark DDL schema string, e.g. "period STRING, ..., total DECIMAL(38,2), ..."


def _card(ruleset: Ruleset | Scorecard) -> Scorecard:
    return ruleset.scorecard if isinstance(ruleset, Ruleset) else ruleset


def _types(card: Scorecard) -> dict[str, tuple[str, int] | str]:
    """Each column's type: ``("decimal", scale)``, ``"int64"``, ``"list"`` or ``"string"``."""
    types: dict[str, tuple[str, int] | str] = {}
    for name in RESULT_COLUMNS:
        if name in _REPORTED:
            types[name] = ("decimal", card.places)
        elif name == "weight":
            types[name] = ("decimal", bonus_places(k.weight for k in card.kpis))
        elif name == "bonus_multiplier":
            types[name] = ("decimal", bonus_places(g.bonus_multiplier for g in card.grades))
        elif name in _INTS:
            types[name] = "int64"
        elif name == "flags":
            types[name] = "list"
        else:
            types[name] = "string"
    return types


def result_schema(ruleset: Ruleset | Scorecard) -> ResultSchema:
    """The typed long result table's schema (see the module): Arrow schema and Spark DDL string.

    Raises:
        KpiError: when pyarrow is not installed.
    """
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError("result_schema needs pyarrow: pip install 'kpi_engine[arrow]'") from None
    fields, ddl = [], []
    for name, kind in _types(_card(ruleset)).items():
        if isinstance(kind, tuple):
            fields.append(pa.field(name, pa.decimal128(MAX_DIGITS, kind[1])))
            ddl.append(f"{name} DECIMAL({MAX_DIGITS},{kind[1]})")
        elif kind == "int64":
            fields.append(pa.field(name, pa.int64()))
            ddl.append(f"{name} BIGINT")
        elif kind == "list":
            fields.append(pa.field(name, pa.list_(pa.string())))
            ddl.append(f"{name} ARRAY<STRING>")
        else:
            fields.append(pa.field(name, pa.string()))
            ddl.append(f"{name} STRING")
    return ResultSchema(RESULT_COLUMNS, pa.schema(fields), ", ".join(ddl))


def value_text(value: object) -> str | None:
    """A KPI value as exact text: canonical numbers, ``true``/``false``, text as it is; ``None`` for N/A."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return canonical(value) if is_number(value) else str(value)


def result_rows(appraisal: Appraisal, names: Mapping[str, str] | None = None) -> list[tuple[object, ...]]:
    """The rows of ``result_table`` (Python values: ``Decimal``, ``int``, text, lists), in result order."""
    card = appraisal.scorecard
    places, mode = appraisal.places, appraisal.rounding
    titles = {g.grade: g.title for g in card.grades} if card is not None else {}
    kpi_titles = {k.id: k.title for k in card.kpis} if card is not None else {}
    names = names or {}

    def r(value: Number | None) -> Decimal | None:
        return None if value is None else quantize(value, places, mode)

    rows: list[tuple[object, ...]] = []
    for s in appraisal.results:
        parts, residue = appraisal.reported_contributions(s)
        gates = [f"gate:{g.id}" for g in s.gates if g.outcome == "applied"]
        head = (
            appraisal.period, s.subject, names.get(s.subject) or None, s.parent, r(s.total_exact), s.grade,
            titles.get(s.grade or "") or None, s.bonus_multiplier, s.rank, s.rank_in_parent,
        )  # fmt: skip
        before = r(s.total_before_gates_exact)
        rows.extend(
            (
                *head,
                k.id,
                kpi_titles.get(k.id) or k.title or k.id,
                value_text(k.value),
                r(k.score_exact),
                k.weight,
                parts[k.id],
                k.status,
                [*k.flags, *gates],
                before,
                residue,
            )
            for k in s.kpis
        )
    return rows


def result_table(
    appraisal: Appraisal, names: Mapping[str, str] | None = None, *, keys: Sequence[str | None] = ()
) -> Any:
    """The appraisal as the typed long table (``result_schema``), subjects in the appraisal's order.

    Args:
        appraisal: an appraisal of any executor (it must carry its scorecard).
        names: subject → name, for the ``name`` column (the records' ``name`` column).
        keys: one rank key per subject in result order (``rank_key`` column added when given).
    """
    import pyarrow as pa  # noqa: PLC0415

    card = appraisal.scorecard
    if card is None:
        raise KpiError("result_table needs an appraisal that carries its scorecard")
    schema = result_schema(card).arrow
    fast = _columnar_batches(appraisal, schema, names or {}, keys)
    if fast is not None:
        return fast
    rows = result_rows(appraisal, names)
    data = {name: [row[i] for row in rows] for i, name in enumerate(RESULT_COLUMNS)}
    if keys:
        per_kpi = len(card.kpis)
        schema = schema.append(pa.field("rank_key", pa.string()))
        data["rank_key"] = [k for k in keys for _ in range(per_kpi)]
    return pa.table(data, schema=schema)


def subject_rank_keys(appraisal: Appraisal) -> list[str | None]:
    """Each subject's exact rank key (``plan.ops.ranks.rank_key``), in result order.

    Raises:
        KpiError: when the ruleset ranks by a metric that the row executor does not keep
            (add it to ``report:``).
    """
    from kpi_engine.plan.ops.ranks import rank_key, rank_keys  # noqa: PLC0415

    card = appraisal.scorecard
    if card is None:
        raise KpiError("rank keys need an appraisal that carries its scorecard")
    results = appraisal.results
    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    if isinstance(results, ColumnarResults) and results.rank_key is not None:
        from kpi_engine._columns import Num  # noqa: PLC0415

        column = results.rank_key
        if not isinstance(column, Num):
            return [None] * len(results)
        by_row = rank_keys(results.ctx, column)
        return [by_row[j] for j in results.order.tolist()]
    by = card.rank_by
    return [rank_key(_key_of(s, by)) for s in results]


def _key_of(s: SubjectResult, by: str) -> Any:
    if by == "total":
        return s.total_exact
    if by not in s.metrics:
        msg = f"ranking by {by!r} in a second pass needs the metric in the ruleset's report: list"
        raise KpiError(msg)
    value = s.metrics[by]
    return value if is_number(value) and not isinstance(value, bool) else None


def _columnar_batches(appraisal: Appraisal, schema: Any, names: Mapping[str, str], keys: Sequence[str | None]) -> Any:
    """``result_table`` straight from the columnar kernel's columns (no result object built), or ``None``.

    The same table as through the result objects (a test compares them); ``None`` when the
    appraisal must go through them (the row executor's results, apportioned contributions, a
    figure beyond int64 after rounding).
    """
    import numpy as np  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415
    from kpi_engine.report.columnar import (  # noqa: PLC0415 - the column writers' helpers
        _chunks,
        _decimals,
        _Figures,
        _fired,
        _flag_codes,
        _gate_codes,
        _names_of,
        _value_array,
    )

    r = appraisal.results
    card = appraisal.scorecard
    if not isinstance(r, ColumnarResults) or appraisal.contributions != "rounded" or card is None:
        return None
    figures = _Figures(r, appraisal.places, appraisal.rounding)
    if not figures.fits():
        return None
    if keys:
        schema = schema.append(pa.field("rank_key", pa.string()))
    places, k = appraisal.places, len(card.kpis)
    titles = {g.grade: g.title for g in card.grades}
    subjects_all = np.array(r.subjects, dtype=object)
    key_all = pa.array(list(keys), pa.string()) if keys else None
    batches = []
    for part in _chunks(len(r)):
        rows = r.order[part]
        n = len(rows)
        if not k or not n:
            continue
        f = figures.at(rows)
        subjects = subjects_all[rows].tolist()
        grades = r.grade[rows].tolist()
        ranks, ranks_in = np.asarray(r.rank[rows], dtype=np.int64), np.asarray(r.rank_in[rows], dtype=np.int64)
        head = [
            pa.array([appraisal.period] * n, pa.string()),
            pa.array(subjects, pa.string()),
            pa.array([names.get(s) or None for s in subjects], pa.string()),
            pa.array([r.parent.get(s) for s in subjects], pa.string()),
            _decimals(f.total[0], places, f.total[1]),
            pa.array(grades, pa.string()),
            pa.array([titles.get(g or "") or None for g in grades], pa.string()),
            pa.array(r.bonus[rows].tolist(), schema.field("bonus_multiplier").type),
            pa.array(ranks, pa.int64(), mask=ranks == 0),
            pa.array(ranks_in, pa.int64(), mask=ranks_in == 0),
        ]
        gate_code = _gate_codes(r, rows)
        tail = [_decimals(f.before[0], places, f.before[1]), _decimals(f.residue, places, None)]
        per_kpi: list[list[Any]] = []
        for i, kpi in enumerate(card.kpis):
            score, score_na = f.scores[i]
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            span = 3 ** len(card.gates)
            distinct, where = np.unique(flag_code * span + gate_code, return_inverse=True)
            lists = [_names_of(c // span, flag_names) + _fired(r, c % span) for c in distinct.tolist()]
            per_kpi.append([
                pa.array([kpi.id] * n, pa.string()),
                pa.array([kpi.title or kpi.id] * n, pa.string()),
                _value_array(r.scored.kpis[kpi.id].value, rows),
                _decimals(score, places, score_na),
                pa.array([kpi.weight] * n, schema.field("weight").type),
                _decimals(f.contributions[i], places, None),
                pa.array(np.where(np.asarray(score_na, dtype=bool), "excluded", "scored").tolist(), pa.string()),
                pa.array(lists, pa.list_(pa.string())).take(pa.array(where.reshape(-1))),
            ])  # fmt: skip
        # KPI-major pieces interleaved into subject-major rows (row j: subject j // k, KPI j % k).
        order = pa.array((np.arange(n * k) % k) * n + np.arange(n * k) // k)
        repeat = pa.array(np.repeat(np.arange(n), k))
        columns = [c.take(repeat) for c in head]
        columns += [pa.concat_arrays([piece[j] for piece in per_kpi]).take(order) for j in range(len(per_kpi[0]))]
        columns += [c.take(repeat) for c in tail]
        if key_all is not None:
            columns.append(key_all[part].take(repeat))
        batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)
