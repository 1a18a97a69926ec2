"""Hostile input never ends in anything but a result or a KpiError (issue 10).

Fuzzes the YAML loader, the expression compiler and evaluator, the record readers and the lead
log reader with random and mutated text. Time bounds are the corpus runner's job
(tests/test_corpus.py), not these properties'.
"""

import contextlib
import decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_engine import KpiError, evaluate, load_ruleset
from kpi_engine.attribution import attribute, parse_policy, read_events
from kpi_engine.attribution._reading import stream_csv
from kpi_engine.expr import parse_expression
from kpi_engine.io.loading import read_csv_text, read_table
from kpi_engine.language._yaml import load_yaml

ROOT = Path(__file__).resolve().parent.parent.parent
RULESET = (ROOT / "rulesets" / "sales_rep_monthly.yaml").read_text(encoding="utf-8")
EVENTS = (ROOT / "examples" / "attribution" / "events.csv").read_text(encoding="utf-8")
POLICY = parse_policy((ROOT / "examples" / "attribution" / "policy.yaml").read_text(encoding="utf-8"))
TINY = """\
ruleset: t
version: "1"
title: t
subject: rep
period: month
inputs:
  x: {type: number}
  y: {type: number, required: false}
metrics:
  m: FORMULA
kpis:
  - {id: k, metric: m, method: attainment, target: 1, cap: 120, weight: 100%}
grades:
  - {grade: A, min: 90}
  - {grade: B}
"""
YAML_BITS = [
    "[", "]", "{", "}", "- ", ": ", "&a ", "*a", "!!python/object ", "!!str ", "? ", "'", '"', "\n", "  ",
    "#", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "~", "yes", "on", "1e999", "0x1F", "\x00", "\ufeff",
    "9" * 70, "<<: ", ",", "\t",
]  # fmt: skip
EXPR_BITS = [
    "x", "y", "m", "(", ")", "+", "-", "*", "/", "**", "%", " ", "0", "1", "0.5", "1e99", "1e999", "0x10",
    "0b1", "1_0", "9" * 61, "min(", "max(", "abs(", "round(", ",", " if ", " else ", " and ", " or ",
    " not ", "<", "==", "'t'", "true", "__class__", ".", "[", "]", "lambda", ":", "\\", "\n", "@", "j",
]  # fmt: skip
CSV_BITS = [
    ",", "\n", '"', '""', "\r", "\x00", "2026-03", "r1", "1e99", "1e999", "-0", "NaN", "inf", "1%", "=1+2",
    "subject", "period", "x", "y", "9" * 70, "\ufeff", " ", "0x1", "true",
]  # fmt: skip
EVENT_BITS = [
    ",", "\n", '"', "e1", "e2", "registration", "deal", "claim", "override", "follow_up", "same_customer",
    "void_register", "2026-03-08T02:30:00", "0001-01-01T00:30:00+05:00", "9999-12-31T23:59:59-05:00",
    "2026-13-40", "a", "b", "c1", "d1", "100", "-1", "1e999", "yes", "maybe", "\x00", "Z",
]  # fmt: skip


def _joined(bits: list[str], max_size: int = 40) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(bits), st.text(max_size=3)), max_size=max_size).map("".join)


def _mutated(text: str, bits: list[str]) -> st.SearchStrategy[str]:
    """``text`` with a few slices replaced by hostile fragments."""
    edit = st.tuples(st.integers(0, len(text)), st.integers(0, 20), st.sampled_from(bits))

    def apply(edits: list[tuple[int, int, str]]) -> str:
        out = text
        for where, length, bit in edits:
            at = min(where, len(out))
            out = out[:at] + bit + out[at + length :]
        return out

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def _result_or_kpi_error(fn, *args, **kwargs):
    """Call ``fn``; a KpiError is an acceptable outcome, anything else fails the test."""
    with contextlib.suppress(KpiError):
        return fn(*args, **kwargs)
    return None


@given(st.one_of(_joined(YAML_BITS), _mutated(RULESET, YAML_BITS), st.text(max_size=200)))
def test_yaml_loader_reports_issues_and_never_raises(text):
    """Any text loads into data or located issues; load_yaml itself never raises."""
    _data, _smap, issues = load_yaml(text, "fuzz.yaml")
    assert all(i.location is not None and i.code.startswith(("yaml_", "duplicate_key")) for i in issues)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mutated(RULESET, YAML_BITS), _mutated(TINY.replace("FORMULA", "x / y"), YAML_BITS)))
def test_ruleset_loading_ends_in_a_ruleset_or_a_kpi_error(text):
    """Mutated rulesets load or raise a KpiError, never another exception."""
    _result_or_kpi_error(load_ruleset, text + "\n")


@given(_joined(EXPR_BITS, 25))
def test_expression_compiler_ends_in_an_expression_or_a_kpi_error(text):
    """Any expression text compiles or raises ExpressionError (a KpiError)."""
    _result_or_kpi_error(parse_expression, text, {"x": "number", "y": "number", "m": "number"})


values = st.one_of(
    st.none(),
    st.sampled_from(["0", "-0", "1", "-1", "1e100", "-1e100", "1e-100", "123456789012345678901234567890.5", "0.001"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6).map(str),
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=80)
@given(_joined(EXPR_BITS, 12), values, values)
def test_formulas_evaluate_to_a_result_or_a_kpi_error(formula, x, y):
    """A formula that compiles, evaluated on extreme records, gives an appraisal or a located KpiError."""
    text = TINY.replace("FORMULA", repr(formula).replace("\\\\", "\\"))
    try:
        ruleset = load_ruleset(text)
    except KpiError:
        return
    record = {"subject": "r1", "period": "2026-03", "x": x}
    if y is not None:
        record["y"] = y
    appraisal = _result_or_kpi_error(evaluate, ruleset, [record])
    if appraisal is not None:
        appraisal.to_json()


@given(st.one_of(_joined(CSV_BITS, 60), st.text(max_size=120)))
def test_csv_records_read_and_evaluate_to_a_result_or_a_kpi_error(text):
    """Any CSV text reads into a table (then evaluates) or raises a located DataError."""
    ruleset = load_ruleset(TINY.replace("FORMULA", "x / y"))
    try:
        table = read_csv_text(text, "fuzz.csv")
        evaluate(ruleset, table).to_json()
    except KpiError:
        pass


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    st.one_of(
        st.text(max_size=120),
        st.sampled_from(
            [
                "[" * 3000,
                '{"a": ' * 3000,
                "[1e999]",
                '[{"x": NaN}]',
                "[" + "1" * 5000 + "]",
                '[{"subject": "r\\ud800", "period": "2026-03", "x": "1"}]',
                '{"subject": "r\\udc00x", "period": "2026-03", "x": "1"}',
            ]
        ),
    ),
    st.sampled_from([".json", ".jsonl"]),
)
def test_json_records_read_to_a_table_or_a_kpi_error(tmp_path, text, suffix):
    """Any JSON or JSONL text evaluates to writable output or raises a DataError (deep nesting, lone surrogates)."""
    path = tmp_path / f"records{suffix}"
    path.write_text(text, encoding="utf-8")
    ruleset = load_ruleset(TINY.replace("FORMULA", "x"))
    appraisal = _result_or_kpi_error(lambda: evaluate(ruleset, read_table(path)))
    if appraisal is not None:
        appraisal.to_json().encode("utf-8")  # what was read can be written out again


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mutated(EVENTS, EVENT_BITS), _joined(EVENT_BITS, 60)))
def test_lead_logs_attribute_or_raise_a_kpi_error(text):
    """Any lead log text is credited or raises a located DataError, in the streaming reader."""
    try:
        events = stream_csv(POLICY, text.splitlines(keepends=True), "fuzz.csv")
        attribute(POLICY, events).to_dict()
    except KpiError:
        pass


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], max_examples=30)
@given(_mutated(EVENTS, EVENT_BITS))
def test_lead_log_files_attribute_or_raise_a_kpi_error(tmp_path, text):
    """read_events on a file (columnar ingest when installed) gives events or a KpiError."""
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(KpiError):
        attribute(POLICY, read_events(path, POLICY))


def test_decimal_signals_are_not_kpi_errors_by_accident():
    """The fuzz targets would catch a decimal signal: it is an ArithmeticError, not a KpiError."""
    assert not issubclass(decimal.InvalidOperation, KpiError)


nodes = st.sampled_from(["r1", "r2", "t1", "t2", "d1", "c1", "x", ""])
member_rows = st.lists(
    st.fixed_dictionaries({"member": nodes, "parent": nodes, "period": st.sampled_from(["2026-03", "2026-02", "bad"])}),
    max_size=12,
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=80)
@given(member_rows, st.sampled_from(["rep", "team", "department", "company"]))
def test_any_membership_graph_evaluates_or_raises_a_kpi_error(rows, level):
    """Membership rows with cycles, self-loops, blanks and duplicates give an appraisal or a KpiError."""
    text = TINY.replace("FORMULA", "x").replace("subject: rep", f"subject: {level}")
    ruleset = load_ruleset(text)
    records = [{"subject": s, "period": "2026-03", "x": "1"} for s in ("r1", "r2")]
    with contextlib.suppress(KpiError):
        evaluate(ruleset, records, members=rows).to_json()


POLICY_TEXT = (ROOT / "examples" / "attribution" / "policy.yaml").read_text(encoding="utf-8") + (
    "holidays: [2026-10-01, 2026-10-02]\nworkdays: [2026-10-11]\n"
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(POLICY_TEXT, [*YAML_BITS, "Asia/Nowhere", "x" * 80, "2026-02-30", "-1", "99999", "business"]))
def test_policy_loading_ends_in_a_policy_or_a_kpi_error(text):
    """Mutated policies load or raise a located RulesetError, never another exception."""
    _result_or_kpi_error(parse_policy, text)
