"""Hostile rulesets, formulas, records and membership rows end in located errors (issue 10)."""

import datetime as dt
from decimal import Decimal

import pytest

from kpi_engine import DataError, EvaluationError, KpiError, RulesetError, evaluate, load_ruleset
from kpi_engine._numbers import canonical, quantize
from kpi_engine.language._yaml import MAX_DEPTH, load_yaml
from kpi_engine.time.zones import parse_instant, to_utc, zone

TINY = """\
ruleset: t
version: "1"
title: t
subject: SUBJECT
period: month
inputs:
  x: {type: number}
metrics:
  m: FORMULA
kpis:
  - {id: k, metric: m, method: attainment, target: 1, weight: 100%EXTRA}
grades:
  - {grade: A, min: 90}
  - {grade: B}
"""


def ruleset(formula="x", extra="", subject="rep"):
    """The tiny ruleset with a formula, extra KPI keys and a subject level."""
    return load_ruleset(TINY.replace("FORMULA", formula).replace("EXTRA", extra).replace("SUBJECT", subject))


def rec(x, subject="r1"):
    """One record of period 2026-03."""
    return {"subject": subject, "period": "2026-03", "x": x}


@pytest.mark.parametrize(
    "text", ["[" * 30_000 + "]" * 30_000, "{a: " * 30_000 + "1" + "}" * 30_000, "- " * 30_000 + "x"]
)
def test_deep_yaml_is_refused_before_composing(text):
    """YAML nested 30,000 deep (flow lists, flow maps, block lists) is one yaml_size issue, no crash."""
    data, _, issues = load_yaml(text, "deep.yaml")
    assert data is None
    assert [i.code for i in issues] == ["yaml_size"]
    assert f"more than {MAX_DEPTH} levels" in issues[0].message


def test_node_limit_stops_reading_at_the_limit(monkeypatch):
    """A flow list over the node limit is refused after the parser reached the limit, not the end."""
    import yaml

    from kpi_engine.language import _yaml

    monkeypatch.setattr(_yaml, "MAX_NODES", 1000)
    text = "a: [" + "1, " * 50_000 + "1]\n"
    parser = yaml.SafeLoader(text)
    read = []

    def next_event():
        read.append(1)
        return parser.get_event()

    with pytest.raises(_yaml._TooLargeError, match="more than 1000 nodes"):
        _yaml._compose_events(next_event)
    assert len(read) < 1010
    data, _, issues = _yaml.load_yaml(text, "big.yaml")
    assert data is None
    assert [i.code for i in issues] == ["yaml_size"]


def test_anchored_scalar_used_twice_is_one_alias_issue():
    """A scalar anchor and its alias give one yaml_alias issue (at the anchored scalar); its first use is kept."""
    data, smap, issues = load_yaml("a: &x 7\nb: *x\n", "f.yaml")
    assert data == {"a": 7, "b": None}
    assert [(i.code, i.location.line) for i in issues] == [("yaml_alias", 1)]
    assert smap.values[("a",)] == (1, 4)


@pytest.mark.parametrize(
    ("text", "code", "where"),
    [
        ("a: " + "9" * 5000 + "\n", "yaml_number", (1, 4)),
        ("a: 1.5e+999\n", "yaml_number", (1, 4)),
        ('a: ok\nb: "x\\0y"\n', "yaml_control", (2, 4)),
        ("a: ok\nb: x\0y\n", "yaml_syntax", (2, 5)),
    ],
)
def test_bad_scalars_are_located(text, code, where):
    """5,000-digit numbers, huge exponents and NUL bytes are located issues, not exceptions."""
    _, _, issues = load_yaml(text, "f.yaml")
    assert issues[0].code == code
    assert (issues[0].location.line, issues[0].location.col) == where


@pytest.mark.parametrize("word", ["yes", "on", "1", "no", "off", "Yes"])
def test_lax_yaml_booleans_are_rejected(word):
    """required: yes / normalize: on are errors: only true and false are booleans."""
    text = TINY.replace("FORMULA", "x").replace("EXTRA", "").replace("SUBJECT", "rep")
    text = text.replace("{type: number}", f"{{type: number, required: {word}}}")
    with pytest.raises(RulesetError, match="expected true or false"):
        load_ruleset(text)


def test_on_as_a_key_is_an_unknown_key():
    """'on' as a key stays the text 'on' (an unknown key), never True."""
    text = TINY.replace("FORMULA", "x").replace("EXTRA", "").replace("SUBJECT", "rep") + "on: 1\n"
    with pytest.raises(RulesetError, match="unknown key 'on'"):
        load_ruleset(text)


@pytest.mark.parametrize("literal", ["0x10", "0b1", "1e999", "9" * 61])
def test_bad_number_literals_in_formulas_are_located_ruleset_errors(literal):
    """0x10, 0b1, 1e999 and a 61-digit literal are located expression errors."""
    with pytest.raises(RulesetError) as err:
        ruleset(f"x + {literal}")
    [issue] = [i for i in err.value.issues if i.severity == "error"]
    assert issue.code == "bad_expression"
    assert issue.location is not None
    assert issue.location.line == 9


@pytest.mark.parametrize(
    ("formula", "x", "value"),
    [
        ("x ** 0", "0", Decimal(1)),
        ("round(x, 28)", "123456789012345678", Decimal(123456789012345678)),
        ("round(x, 2)", "1e50", Decimal("1e50")),
    ],
)
def test_formerly_signalling_formulas_compute(formula, x, value):
    """0 ** 0 is 1; round() is exact for any size of x."""
    appraisal = evaluate(ruleset(formula), [rec(x)])
    assert appraisal.results[0].kpis[0].value == value


def test_overflowing_formula_is_a_located_evaluation_error():
    """(x**64)**64 beyond 1e±999 is an out_of_range EvaluationError naming subject, KPI and row."""
    with pytest.raises(EvaluationError) as err:
        evaluate(ruleset("(x**64)**64"), [rec("1e-100")])
    [issue] = err.value.issues
    assert issue.code == "out_of_range"
    assert issue.path == "kpis.k"
    assert "'r1'" in issue.message
    assert issue.location is not None
    assert issue.location.line == 1


def test_huge_cap_reports_and_serialises():
    """cap: 1e40 with a value above it gives a total that rounds and serialises exactly."""
    appraisal = evaluate(ruleset("x", ", cap: 1e40"), [rec("1e45")])
    assert appraisal.results[0].total == Decimal("1e40")
    assert '"10000000000000000000000000000000000000000.00"' in appraisal.to_json()


def test_quantize_and_canonical_are_exact_for_long_values():
    """Display rounding never signals and canonical text keeps every digit."""
    assert quantize(Decimal("1e50"), 2, "half_up") == Decimal("1e50")
    assert (
        canonical(Decimal("123456789012345678901234567890123456789.5")) == "123456789012345678901234567890123456789.5"
    )
    assert canonical(Decimal("1.2300")) == "1.23"


def _members(rows):
    return [dict(zip(("member", "parent", "period"), r, strict=True)) for r in rows]


def test_membership_cycle_is_named():
    """A cycle in membership rows is one located member_cycle error naming its members."""
    members = _members(
        [("r1", "t1", "2026-03"), ("x1", "x2", "2026-03"), ("x2", "x3", "2026-03"), ("x3", "x1", "2026-03")]
    )
    with pytest.raises(DataError) as err:
        evaluate(ruleset(subject="team"), [rec("1")], members=members)
    [issue] = err.value.issues
    assert issue.code == "member_cycle"
    assert "x1 → x2 → x3 → x1" in issue.message


def test_deep_membership_chain_is_refused_without_recursion():
    """A 5,000-level chain is a member_depth error, not a RecursionError."""
    rows = [(f"n{i}", f"n{i + 1}", "2026-03") for i in range(5000)] + [("r1", "n0", "2026-03")]
    with pytest.raises(DataError) as err:
        evaluate(ruleset(subject="team"), [rec("1")], members=_members(rows))
    assert [i.code for i in err.value.issues] == ["member_depth"]


def test_unknown_member_is_located_with_a_suggestion():
    """A member with no record anywhere and no members is an unknown_member error with a did-you-mean."""
    members = _members([("r1", "t1", "2026-03"), ("r11", "t1", "2026-03")])
    with pytest.raises(DataError) as err:
        evaluate(ruleset(subject="team"), [rec("1")], members=members)
    [issue] = err.value.issues
    assert issue.code == "unknown_member"
    assert issue.suggestion == "did you mean 'r1'?"


def test_member_known_from_another_period_is_accepted():
    """A member with a record in another period only (e.g. on leave) is accepted."""
    members = _members([("r1", "t1", "2026-03"), ("r2", "t1", "2026-03")])
    records = [rec("1"), {"subject": "r2", "period": "2026-02", "x": "1"}]
    appraisal = evaluate(ruleset(), records, members=members, period="2026-03")
    assert [(r.subject, r.parent) for r in appraisal.results] == [("r1", "t1")]


NY = zone("America/New_York")


def test_nonexistent_local_time_resolves_to_the_transition():
    """02:30 on New York's spring-forward day resolves to 03:00 local, before 03:10."""
    gap = to_utc(dt.datetime(2026, 3, 8, 2, 30), NY)  # noqa: DTZ001 - a local wall time
    assert gap == dt.datetime(2026, 3, 8, 7, 0)  # noqa: DTZ001 - naive UTC
    assert gap < to_utc(dt.datetime(2026, 3, 8, 3, 10), NY)  # noqa: DTZ001
    assert gap > to_utc(dt.datetime(2026, 3, 8, 1, 59, 59), NY)  # noqa: DTZ001


def test_ambiguous_local_time_is_its_first_occurrence():
    """01:30 on the fall-back day is the first 01:30 (EDT); an offset selects the second."""
    assert to_utc(dt.datetime(2026, 11, 1, 1, 30), NY) == dt.datetime(2026, 11, 1, 5, 30)  # noqa: DTZ001
    assert parse_instant("2026-11-01T01:30:00-05:00", NY).astimezone(dt.UTC).hour == 6


def test_dst_gap_registration_keeps_the_credit():
    """A 02:30 registration on the spring-forward day comes before a 03:10 one and owns the customer."""
    from kpi_engine.attribution import attribute, parse_policy

    policy = parse_policy("policy: ny\ntimezone: America/New_York\n")
    events = [
        {"event_id": "e1", "type": "registration", "at": "2026-03-08T02:30:00", "rep": "alice", "customer": "c1"},
        {"event_id": "e2", "type": "registration", "at": "2026-03-08T03:10:00", "rep": "bob", "customer": "c1"},
        {"event_id": "e3", "type": "deal", "at": "2026-03-09T10:00:00", "rep": "alice", "customer": "c1",
         "deal_id": "d1", "amount": "100"},
    ]  # fmt: skip
    assert attribute(policy, events).credit("d1").reason == "owner"


@pytest.mark.parametrize("stamp", ["0001-01-01T00:30:00+05:00", "9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59"])
def test_instants_at_the_calendar_edges_are_refused(stamp):
    """Years 1 and 9999, with offsets crossing the edge, are located errors."""
    from kpi_engine.attribution import attribute, parse_policy

    policy = parse_policy("policy: p\ntimezone: America/New_York\n")
    with pytest.raises(DataError, match="out of range"):
        attribute(policy, [{"event_id": "e1", "type": "registration", "at": stamp, "rep": "a", "customer": "c"}])


def test_long_time_zone_name_is_a_clean_error():
    """A 5,000-character zone name is a located ruleset error, shown shortened."""
    from kpi_engine.attribution import parse_policy

    with pytest.raises(RulesetError, match="5000 characters"):
        parse_policy("policy: p\ntimezone: " + "A" * 5000 + "\n")


def test_everything_raised_is_a_kpi_error():
    """The error classes used above share the one base."""
    assert issubclass(EvaluationError, KpiError)
    assert issubclass(DataError, KpiError)


def _chain(count, *, reverse=False):
    lines = [f"  m{i}: m{i - 1} + 1\n" for i in range(1, count)]
    body = "".join(reversed(lines) if reverse else lines)
    return (
        TINY.replace("  m: FORMULA\n", f"  m0: x\n{body}  m: m{count - 1}\n")
        .replace("EXTRA", "")
        .replace("SUBJECT", "rep")
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_long_metric_chain_is_refused_at_load(reverse):
    """3,000 metrics built on each other (in either order) are one metric_depth error, not a RecursionError."""
    with pytest.raises(RulesetError) as err:
        load_ruleset(_chain(3000, reverse=reverse))
    assert [i.code for i in err.value.issues if i.severity == "error"] == ["metric_depth"]


def test_metric_chain_within_the_limit_evaluates():
    """A chain of 15 metrics loads and evaluates."""
    appraisal = evaluate(load_ruleset(_chain(15)), [rec("0")])
    assert appraisal.results[0].kpis[0].value == Decimal(14)
