"""The exact values a run record keeps: per subject and KPI, unrounded, as canonical JSON bytes.

``appraisal_values`` reads the result objects (any engine) into one object per subject (the
layout of format 1 and 2 records). Format 3 keeps the same values in columns (``to_columns``):
the sorted subjects once, then per field a list over them in that order, so that no key is
written once per subject; ``from_columns`` turns them back into one object per subject (replay
reports differences that way). ``values_pieces`` writes format 3 from the columns of a kernel
run (``ColumnarResults``) straight to text with NumPy and Polars, so that recording 10,000
subjects does not build 110,000 ``KpiResult`` objects and 770,000 number texts one at a time;
it gives, byte for byte, ``canonical_bytes(to_columns(appraisal_values(…, record_text)))``
(a test checks the two).

Numbers are written by ``record_text``: a value with a finite decimal expansion as that decimal,
every digit (``0.0625``), any other as the reduced fraction ``p/q`` (``46/3``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from kpi_engine._numbers import canonical
from kpi_engine.audit.canonical import canonical_bytes, exact_text

if TYPE_CHECKING:
    from kpi_engine.evaluation.results import Appraisal


def record_text(value: object) -> Any:
    """An exact value as record text: every digit of a finite decimal, else the reduced fraction ``p/q``.

    Unlike ``exact_text`` (format 1), a finite ``Fraction`` longer than the caller's decimal context
    is not cut: ``Fraction(1, 2**40)`` is written with all 40 decimals. Non-numbers are returned as is.
    """
    if isinstance(value, Fraction):
        places = _places(value.denominator)
        if places is None:
            return f"{value.numerator}/{value.denominator}"
        return canonical(Decimal(f"{value.numerator * (10**places // value.denominator)}E-{places}"))
    return exact_text(value)


def _places(den: int) -> int | None:
    """``k`` when ``1/den`` has ``k`` decimals (``den`` is ``2**a * 5**b``), else ``None``."""
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    return max(twos, fives) if den == 1 else None


def appraisal_values(appraisal: Appraisal, text: Callable[[object], Any] = exact_text) -> dict[str, Any]:
    """The exact results, read through the result objects (independent of the JSON layout).

    Unrounded: totals, scores, weights and contributions as exact text (``text``: ``exact_text``
    in format 1 records, ``record_text`` in format 2), so replay compares to the last digit
    whatever the reported precision.
    """
    subjects: dict[str, Any] = {}
    for r in appraisal.results:
        subjects[r.subject] = {
            "parent": r.parent,
            "total": text(r.total_exact),
            "total_before_gates": text(r.total_before_gates_exact),
            "grade": r.grade,
            "bonus_multiplier": text(r.bonus_multiplier),
            "rank": r.rank,
            "rank_in_parent": r.rank_in_parent,
            "flags": list(r.flags),
            "kpis": {
                k.id: {
                    "value": text(k.value),
                    "status": k.status,
                    "score": text(k.score_exact),
                    "weight": text(k.weight),
                    "effective_weight": text(k.effective_weight_exact),
                    "contribution": text(k.contribution_exact),
                    "flags": list(k.flags),
                }
                for k in r.kpis
            },
            "sections": {
                s.id: {"score": text(s.score_exact), "effective_weight": text(s.effective_weight_exact)}
                for s in r.sections
            },
            "gates": {g.id: g.outcome for g in r.gates},
            "metrics": {name: text(v) for name, v in r.metrics.items()},
        }
    ruleset = {"id": appraisal.ruleset_id, "version": appraisal.version, "sha256": appraisal.sha256}
    return {"ruleset": ruleset, "period": appraisal.period, "subjects": subjects}


def to_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """Format 3 values from the per-subject layout: ``subjects`` (sorted) and, per field, a list over them.

    ``{"period", "ruleset", "subjects": {id: {...}}}`` becomes ``{"columns": {...}, "period",
    "ruleset", "subjects": [ids]}``, where ``columns`` has the shape of one subject's object and
    each leaf (a text, a number, a flag list …) is the list of that leaf over the subjects.

    Raises:
        ValueError: when the subjects' objects do not all have the same keys (every appraisal's do).
    """
    subjects = values["subjects"]
    ids = sorted(subjects)
    columns = _columns([subjects[i] for i in ids]) if ids else {}
    return {"columns": columns, "period": values["period"], "ruleset": values["ruleset"], "subjects": ids}


def _columns(objects: list[Any]) -> dict[str, Any]:
    first = objects[0]
    if not all(isinstance(o, dict) and o.keys() == first.keys() for o in objects):
        msg = "the subjects' values do not have the same fields"
        raise ValueError(msg)
    out: dict[str, Any] = {}
    for key, value in first.items():
        leaves = [o[key] for o in objects]
        out[key] = _columns(leaves) if isinstance(value, dict) else leaves
    return out


def from_columns(values: object) -> dict[str, Any] | None:
    """The per-subject layout of format 3 values (``to_columns`` undone), or ``None`` if they are malformed.

    Malformed: not a mapping of ``columns``, ``period``, ``ruleset`` and ``subjects``, subjects
    not distinct texts, or a leaf that is not a list with one entry per subject.
    """
    if not isinstance(values, Mapping) or set(values) != {"columns", "period", "ruleset", "subjects"}:
        return None
    ids, columns = values["subjects"], values["columns"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        return None
    if not isinstance(columns, Mapping):
        return None
    objects: list[dict[str, Any]] = [{} for _ in ids]

    def fill(tree: Mapping[str, Any], targets: list[dict[str, Any]]) -> bool:
        for key, leaf in tree.items():
            if isinstance(leaf, Mapping):
                inner: list[dict[str, Any]] = [{} for _ in targets]
                for target, obj in zip(targets, inner, strict=True):
                    target[key] = obj
                if not fill(leaf, inner):
                    return False
            elif isinstance(leaf, list) and len(leaf) == len(targets):
                for target, item in zip(targets, leaf, strict=True):
                    target[key] = item
            else:
                return False
        return True

    if not fill(columns, objects):
        return None
    subjects = dict(zip(ids, objects, strict=True))
    return {"period": values["period"], "ruleset": values["ruleset"], "subjects": subjects}


def values_pieces(appraisal: Appraisal) -> list[bytes]:
    """The format 3 values of an appraisal as canonical JSON, in pieces (joined, ``values_bytes``).

    From the kernel's columns when it ran, else from the result objects: the bytes are the same
    either way; the columns are only a faster way to them.
    """
    results = appraisal.results
    if _columnar_results(results) and len(results):
        return _columnar(appraisal, results)
    return [canonical_bytes(to_columns(appraisal_values(appraisal, record_text)))]


def values_bytes(appraisal: Appraisal) -> bytes:
    """``canonical_bytes(to_columns(appraisal_values(appraisal, record_text)))``: the values of a format 3 record."""
    return b"".join(values_pieces(appraisal))


def _columnar_results(results: object) -> bool:
    """Whether ``results`` are a kernel run's columns (which exist only when the columnar extra is installed)."""
    try:
        from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415
    except ImportError:
        return False
    return isinstance(results, ColumnarResults)


# --- from the kernel's columns ---------------------------------------------------------------------


def _token(value: object) -> str:
    """The canonical JSON of one leaf (a record text, a flag list, a grade …)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _columnar(appraisal: Appraisal, results: Any) -> list[bytes]:
    """The format 3 values of a kernel run, in pieces: each leaf's list joined by Polars from a token column."""
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    card, sc = results.card, results.scored
    subjects: list[str] = list(results.subjects)
    rows = np.array(sorted(range(len(subjects)), key=subjects.__getitem__), dtype=np.int64)  # keys in sorted order
    columns: dict[str, Any] = {}

    def column(values: Any) -> Any:
        name = f"c{len(columns)}"
        columns[name] = values.alias(name) if isinstance(values, pl.Series) else pl.Series(name, values, pl.Utf8)
        return pl.col(name)

    def number(col: Any, na: str | None = None) -> Any:
        return column(_number_tokens(col, rows, na))

    def coded(codes: Any, text: Callable[[int], str]) -> Any:
        distinct, where = np.unique(np.asarray(codes, dtype=np.int64), return_inverse=True)
        tokens = pl.Series([text(int(c)) for c in distinct.tolist()], dtype=pl.Utf8)
        name = f"c{len(columns)}"
        columns[name] = tokens.gather(where.reshape(-1)).alias(name)
        return pl.col(name)

    def distinct(values: list[Any], text: Callable[[Any], str]) -> Any:
        cache: dict[Any, str] = {}
        return column([cache[v] if v in cache else cache.setdefault(v, text(v)) for v in values])

    kpis: dict[str, Any] = {}
    for kpi in card.kpis:
        col = sc.kpis[kpi.id]
        names = [name for name, _ in col.flags]
        flag_code = np.zeros(len(rows), dtype=np.int64)
        for i, (_, mask) in enumerate(col.flags):
            flag_code += np.asarray(mask, dtype=bool)[rows].astype(np.int64) << i
        score = number(col.score)
        kpis[kpi.id] = {
            "contribution": number(col.contribution, "0"),
            "effective_weight": number(col.share, "0"),
            "flags": coded(flag_code, functools.partial(_named, names)),
            "score": score,
            "status": pl.when(score == "null").then(pl.lit('"excluded"')).otherwise(pl.lit('"scored"')),
            "value": column(_value_tokens(col.value, rows)),
            "weight": pl.repeat(_token(record_text(kpi.weight)), len(rows), dtype=pl.Utf8),
        }
    sections = {}
    for s in card.sections:
        sscore, sshare, _, _ = sc.sections[s.id]
        sections[s.id] = {"effective_weight": number(sshare, "0"), "score": number(sscore)}
    gate_codes = np.zeros(len(rows), dtype=np.int64)
    gates: dict[str, Any] = {}
    for i, g in enumerate(card.gates):
        holds = sc.gates[g.id]
        outcome = np.where(np.asarray(holds.val, dtype=bool)[rows], 1, 0)
        if holds.na is not None:
            outcome = np.where(np.asarray(holds.na, dtype=bool)[rows], 2, outcome)
        gate_codes += outcome * 3**i
        gates[g.id] = coded(outcome, lambda c: _token(("not_applied", "applied", "not_evaluated")[c]))
    total_na = _na(sc.total, len(subjects))[rows]
    published = [name for name, _ in results.published]
    code = gate_codes * 2 + total_na.astype(np.int64)
    for i, (_, mask) in enumerate(results.published):
        code += (np.asarray(mask, dtype=bool)[rows].astype(np.int64) << i) * (2 * 3 ** len(card.gates))

    def subject_flags(c: int) -> str:
        span = 2 * 3 ** len(card.gates)
        gate_part, rest = (c % span) // 2, c // span
        fired = [f"gate:{g.id}" for i, g in enumerate(card.gates) if (gate_part // 3**i) % 3 == 1]
        none = ["no_kpi_applies"] if c % 2 else []
        return _token(fired + none + [n for i, n in enumerate(published) if rest >> i & 1])

    order = rows.tolist()
    ranks = np.asarray(results.rank)[rows]
    ranks_in = np.asarray(results.rank_in)[rows]
    subject = {
        "bonus_multiplier": distinct([results.bonus[j] for j in order], lambda v: _token(record_text(v))),
        "flags": coded(code, subject_flags),
        "gates": gates,
        "grade": distinct([results.grade[j] for j in order], _token),
        "kpis": kpis,
        "metrics": {name: column(_value_tokens(results.env[name], rows)) for name in card.report},
        "parent": distinct([results.parent.get(subjects[j]) for j in order], _token),
        "rank": column([str(v) if v else "null" for v in ranks.tolist()]),
        "rank_in_parent": column([str(v) if v else "null" for v in ranks_in.tolist()]),
        "sections": sections,
        "total": number(sc.total),
        "total_before_gates": number(sc.before),
    }
    frame = pl.DataFrame(columns)
    columns.clear()
    leaves: list[Any] = []  # each leaf expression, in the order ``_object`` writes them
    pieces = _object(subject, leaves)
    joined = frame.select([expr.str.join(",").alias(f"j{i}") for i, expr in enumerate(leaves)])
    del frame
    ruleset = {"id": appraisal.ruleset_id, "version": appraisal.version, "sha256": appraisal.sha256}
    out = [b'{"columns":']
    text = ""
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        out.append((text + "[").encode())
        text = "]"
        out.append(joined.get_column(f"j{piece}").item().encode())
    tail = ',"period":' + _token(appraisal.period) + ',"ruleset":' + _token(ruleset) + ',"subjects":['
    out.append((text + tail).encode())
    out.append(",".join(_token(subjects[j]) for j in order).encode())
    out.append(b"]}")
    return out


def _named(names: list[str], code: int) -> str:
    """The flag list of a bit code: ``names[i]`` where bit ``i`` is set."""
    return _token([n for i, n in enumerate(names) if code >> i & 1])


def _object(items: Mapping[str, Any], leaves: list[Any]) -> list[str | int]:
    """The pieces of the columns' JSON object: literal text (keys sorted) and the index of each leaf in ``leaves``."""
    parts: list[str | int] = []
    for i, key in enumerate(sorted(items)):
        parts.append(("{" if i == 0 else ",") + _token(key) + ":")
        value = items[key]
        if isinstance(value, Mapping):
            parts.extend(_object(value, leaves))
        else:
            parts.append(len(leaves))
            leaves.append(value)
    parts.append("}" if items else "{}")
    return parts


def _na(col: Any, n: int) -> Any:
    import numpy as np  # noqa: PLC0415

    return np.zeros(n, dtype=bool) if col.na is None else np.asarray(col.na, dtype=bool)


def _value_tokens(col: Any, rows: Any) -> list[str]:
    """JSON tokens of a metric value column (number, text or bool) for ``rows``; ``null`` for N/A."""
    from kpi_engine._columns import Num  # noqa: PLC0415
    from kpi_engine.evaluation.columnar._results import at_row  # noqa: PLC0415

    if isinstance(col, Num):
        return _number_tokens(col, rows, None)
    return [_token(record_text(at_row(col, j))) for j in rows.tolist()]


def _number_tokens(col: Any, rows: Any, zero: str | None) -> list[str] | Any:
    """JSON tokens of ``record_text`` of an exact column for ``rows``: ``"0.25"``, ``"46/3"``, N/A ``null``.

    ``zero``: the text of an N/A cell instead of ``null`` (effective weights and contributions
    of an excluded KPI are 0). In NumPy and Polars for int64 columns, each distinct denominator
    taken apart once in Python; rows whose decimal would not fit int64 (and columns of Python
    integers) are written one by one.
    """
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._results import at_row  # noqa: PLC0415

    n = len(rows)
    na = np.zeros(n, dtype=bool) if col.na is None else np.asarray(col.na, dtype=bool)[rows]
    na_token = "null" if zero is None else f'"{zero}"'

    def slow(j: int) -> str:
        value = at_row(col, j)
        return na_token if value is None else _token(record_text(value))

    num, den = col.num, col.den
    if any(isinstance(x, int) and abs(x) >= _LIMIT for x in (num, den)) or any(
        not isinstance(x, int) and x.dtype == object for x in (num, den)
    ):
        return [slow(j) for j in rows.tolist()]
    if isinstance(num, int) and isinstance(den, int):  # one value in every row
        tokens = pl.Series([_token(record_text(Fraction(num, den))), na_token], dtype=pl.Utf8)
        return tokens.gather(na.astype(np.int64))
    num = np.broadcast_to(np.int64(num), n) if isinstance(num, int) else np.asarray(num, dtype=np.int64)[rows]
    den = np.broadcast_to(np.int64(den), n) if isinstance(den, int) else np.asarray(den, dtype=np.int64)[rows]
    num = np.where(na, 0, num)
    den = np.where(na, 1, den)
    dens, where = np.unique(den, return_inverse=True)
    where = where.reshape(-1)
    rest, places, mult = (part[where] for part in _splits(dens))
    finite = num % rest == 0  # the value has a finite decimal expansion
    whole = num // rest
    fits = finite & (places <= _MAX_PLACES) & (np.abs(whole) <= _LIMIT // mult)
    scaled = np.abs(np.where(fits, whole, 0) * np.where(fits, mult, 1))
    power = np.power(10, np.where(fits, places, 0), dtype=np.int64)
    common = np.gcd(num, den)
    frame = pl.DataFrame(
        {
            "ip": scaled // power, "fp": scaled % power, "k": np.where(fits, places, 0), "neg": num < 0,
            "p": num // common, "q": den // common, "finite": finite, "na": na,
        }
    )  # fmt: skip
    fraction = pl.col("fp").cast(pl.Utf8).str.zfill(pl.col("k")).str.strip_chars_end("0")
    decimal = pl.col("ip").cast(pl.Utf8) + pl.when(fraction == "").then(pl.lit("")).otherwise(pl.lit(".") + fraction)
    decimal = pl.when(pl.col("neg")).then(pl.lit("-") + decimal).otherwise(decimal)
    ratio = pl.col("p").cast(pl.Utf8) + pl.lit("/") + pl.col("q").cast(pl.Utf8)
    text = pl.lit('"') + pl.when(pl.col("finite")).then(decimal).otherwise(ratio) + pl.lit('"')
    tokens = frame.select(pl.when(pl.col("na")).then(pl.lit(na_token)).otherwise(text).alias("t")).to_series()
    hard = np.flatnonzero(finite & ~fits & ~na)
    if len(hard):
        tokens = tokens.scatter(hard, [slow(j) for j in rows[hard].tolist()])
    return tokens


_LIMIT = 2**62
_MAX_PLACES = 18  # 10**18 < 2**63


def _splits(dens: Any) -> tuple[Any, Any, Any]:
    """``_split`` of each of an array of positive int64 denominators, in NumPy (a loop per factor, not per value)."""
    import numpy as np  # noqa: PLC0415

    rest = np.array(dens, dtype=np.int64)
    counts = []
    for prime in (2, 5):
        count = np.zeros(len(rest), dtype=np.int64)
        while (divisible := rest % prime == 0).any():
            rest = np.where(divisible, rest // prime, rest)
            count += divisible
        counts.append(count)
    twos, fives = counts
    places = np.maximum(twos, fives)
    fits = places <= _MAX_PLACES
    low = np.where(fits, places, 0)  # 2**k * 5**j with k, j <= 18 fits int64
    mult = np.where(fits, np.power(2, low - np.minimum(twos, low)) * np.power(5, low - np.minimum(fives, low)), 1)
    return rest, places, mult


def _split(den: int) -> tuple[int, int, int]:
    """``den = 2**a * 5**b * rest``: ``(rest, k, 10**k // (2**a * 5**b))`` with ``k = max(a, b)`` decimals.

    ``k`` beyond ``_MAX_PLACES`` is given with a multiplier of 1 (those rows are written one by one).
    """
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    places = max(twos, fives)
    if places > _MAX_PLACES:
        return den, places, 1
    return den, places, 2 ** (places - twos) * 5 ** (places - fives)


def kpi_count(appraisal: Appraisal) -> int:
    """How many KPI results the appraisal holds (a kernel run: every subject has every KPI; no object is built)."""
    results = appraisal.results
    if _columnar_results(results):
        return len(results) * len(results.card.kpis)  # type: ignore[attr-defined]
    return sum(len(r.kpis) for r in results)
