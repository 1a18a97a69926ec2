import pytest

from kpi_engine import DataError, RulesetError
from kpi_engine.attribution import attribute, load_policy, parse_policy

POLICY = parse_policy("policy: test\n")


def log(*rows):
    """Rows as (id, type, local time, rep, customer, deal_id, extra-dict)."""
    out = []
    for row in rows:
        event_id, kind, at, rep, customer, deal, *extra = row
        item = {"event_id": event_id, "type": kind, "at": at, "rep": rep, "customer": customer, "deal_id": deal}
        if kind == "deal":
            item["amount"] = "1000"
        if extra:
            item.update(extra[0])
        out.append(item)
    return out


def credit(events, deal="D", policy=POLICY):
    c = attribute(policy, events).credit(deal)
    return c.credited_to, c.reason


@pytest.mark.parametrize(
    ("case", "events", "expected"),
    [
        (1, [("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-06T10:00", "B", "C", "D"),
             ("c", "claim", "2026-03-08T10:00", "A", None, "D")], ("A", "claim")),
        (2, [("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-06T10:00", "B", "C", "D"),
             ("c", "claim", "2026-03-10T10:00", "A", None, "D")], ("B", "late_claim")),
        (3, [("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-09T10:00", "B", "C", "D")],
         ("B", "expired")),
        (4, [("r", "registration", "2026-03-01T10:00", "A", "C", None), ("f", "follow_up", "2026-03-06T10:00", "A", "C", None),
             ("d", "deal", "2026-03-12T10:00", "B", "C", "D"), ("c", "claim", "2026-03-13T10:00", "A", None, "D")],
         ("A", "claim")),
        (5, [("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-08T10:00", "B", "C", "D"),
             ("c", "claim", "2026-03-11T10:00", "A", None, "D")], ("A", "claim")),
    ],
)  # fmt: skip
def test_domain_worked_examples(case, events, expected):
    """The five worked examples of DOMAIN §6 credit as the table says."""
    assert credit(log(*events)) == expected, f"case {case}"


def test_owner_closing_is_credited_to_the_owner():
    """A deal closed by the protecting owner is the owner's, no claim needed."""
    events = log(
        ("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-03T10:00", "A", "C", "D")
    )
    assert credit(events) == ("A", "owner")


def test_no_claim_inside_protection_goes_to_the_closer():
    """Inside protection without a claim by the owner, the closer gets it (R5)."""
    events = log(
        ("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-03T10:00", "B", "C", "D")
    )
    assert credit(events) == ("B", "no_claim")


def test_unregistered_customer_goes_to_the_closer():
    """A customer nobody registered has no protection (R6)."""
    assert credit(log(("d", "deal", "2026-03-03T10:00", "B", "C", "D"))) == ("B", "unregistered")


def test_late_follow_up_does_not_revive_protection():
    """After protection ends, a follow-up by the old owner does not revive it (R6)."""
    events = log(
        ("r", "registration", "2026-03-01T10:00", "A", "C", None),
        ("f", "follow_up", "2026-03-10T10:00", "A", "C", None),
        ("d", "deal", "2026-03-12T10:00", "B", "C", "D"),
        ("c", "claim", "2026-03-12T11:00", "A", None, "D"),
    )
    assert credit(events) == ("B", "expired")


def test_second_registration_inside_protection_changes_nothing():
    """Another rep registering a protected customer does not take it over (R8)."""
    events = log(
        ("r1", "registration", "2026-03-01T10:00", "A", "C", None),
        ("r2", "registration", "2026-03-03T10:00", "B", "C", None),
        ("d", "deal", "2026-03-05T10:00", "B", "C", "D"),
        ("c", "claim", "2026-03-05T11:00", "A", None, "D"),
    )
    assert credit(events) == ("A", "claim")


def test_new_registration_after_expiry_starts_new_protection():
    """Once free, the next registration by anyone starts that rep's protection (R6)."""
    events = log(
        ("r1", "registration", "2026-03-01T10:00", "A", "C", None),
        ("r2", "registration", "2026-03-10T10:00", "B", "C", None),
        ("d", "deal", "2026-03-12T10:00", "A", "C", "D"),
        ("c", "claim", "2026-03-12T11:00", "B", None, "D"),
    )
    assert credit(events) == ("B", "claim")


def test_void_register_voids_its_registrations():
    """A falsified register voids every customer registered in it (R7)."""
    events = log(
        ("r", "registration", "2026-03-01T10:00", "A", "C", None),
        ("v", "void_register", "2026-03-02T10:00", "A", None, None),
        ("d", "deal", "2026-03-03T10:00", "B", "C", "D"),
        ("c", "claim", "2026-03-03T11:00", "A", None, "D"),
    )
    result = attribute(POLICY, events).credit("D")
    assert (result.credited_to, result.reason) == ("B", "void")
    assert "v" in result.decided_by


def test_same_customer_merges_and_earliest_registration_owns():
    """Family members are one customer; the earliest registration owns it (R10)."""
    events = log(
        ("r1", "registration", "2026-03-01T10:00", "A", "husband", None),
        ("r2", "registration", "2026-03-02T10:00", "B", "wife", None),
        ("s", "same_customer", "2026-03-02T12:00", None, "husband", None, {"related_customer": "wife"}),
        ("d", "deal", "2026-03-04T10:00", "B", "wife", "D"),
        ("c", "claim", "2026-03-04T11:00", "A", None, "D"),
    )
    result = attribute(POLICY, events).credit("D")
    assert (result.credited_to, result.reason, result.customer) == ("A", "claim", "husband")


def test_courtesy_deal_stays_with_the_owner():
    """A courtesy reception's deal is the owner's without a claim (R11)."""
    events = log(
        ("r", "registration", "2026-03-01T10:00", "A", "C", None),
        ("d", "deal", "2026-03-04T10:00", "B", "C", "D", {"courtesy": "true"}),
    )
    assert credit(events) == ("A", "courtesy")


def test_override_decides_outright_even_to_the_house():
    """A manager's override credits the named rep or the house account (R15)."""
    events = log(
        ("r", "registration", "2026-03-01T10:00", "A", "C", None),
        ("d", "deal", "2026-03-04T10:00", "B", "C", "D"),
        ("c", "claim", "2026-03-04T11:00", "A", None, "D"),
        ("o", "override", "2026-03-05T10:00", "house", None, "D"),
    )
    assert credit(events) == ("house", "override")


def test_first_follow_up_timeliness_violations():
    """A first follow-up after day 3, or none, is an R3 violation; day 3 is on time."""
    events = log(
        ("r1", "registration", "2026-03-01T10:00", "A", "C1", None),
        ("f1", "follow_up", "2026-03-04T23:00", "A", "C1", None),
        ("r2", "registration", "2026-03-01T10:00", "A", "C2", None),
        ("f2", "follow_up", "2026-03-05T00:30", "A", "C2", None),
        ("r3", "registration", "2026-03-01T10:00", "A", "C3", None),
    )
    result = attribute(POLICY, events)
    assert [(v.customer, v.first_follow_up and v.first_follow_up.isoformat()) for v in result.violations] == [
        ("C2", "2026-03-05"),
        ("C3", None),
    ]
    rows = result.to_rows("month")
    assert rows == [
        {"subject": "A", "period": "2026-03", "credited_deals": 0, "credited_amount": 0, "lead_registrations": 3,
         "timely_follow_ups": 1}
    ]  # fmt: skip


def test_business_day_basis_skips_weekends_and_holidays():
    """On a business-day basis, a Friday deal's 3-day claim window runs to Wednesday."""
    policy = parse_policy("policy: b\nday_basis: business\nholidays: [2026-03-09]\n")
    events = log(
        ("r", "registration", "2026-03-05T10:00", "A", "C", None),
        ("d", "deal", "2026-03-06T10:00", "B", "C", "D"),  # Friday
        ("c", "claim", "2026-03-11T10:00", "A", None, "D"),  # Mon 9 is a holiday: Tue, Wed, Thu 12
    )
    assert credit(events, policy=policy) == ("A", "claim")


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ({"event_id": "x", "type": "teleport", "at": "2026-03-01T10:00", "rep": "A"}, "bad_type"),
        ({"event_id": "x", "type": "deal", "at": "2026-03-01T10:00", "rep": "A", "customer": "C", "deal_id": "D"}, "missing_field"),
        ({"event_id": "x", "type": "registration", "at": "yesterday", "rep": "A", "customer": "C"}, "bad_value"),
        ({"event_id": "x", "type": "deal", "at": "2026-03-01T10:00", "rep": "A", "customer": "C", "deal_id": "D", "amount": "-5"}, "bad_value"),
        ({"event_id": "x", "type": "claim", "at": "2026-03-01T10:00", "rep": "A", "deal_id": "nope"}, "unknown_deal"),
        ({"event_id": "x", "type": "registration", "at": "2026-03-01T10:00", "rep": "A", "customer": "C", "colour": "red"}, "unknown_column"),
    ],
)  # fmt: skip
def test_malformed_events_are_errors_naming_the_row(row, code):
    """Unknown type, missing field, bad timestamp, negative amount, unknown deal: located errors."""
    with pytest.raises(DataError) as info:
        attribute(POLICY, [row])
    assert [i.code for i in info.value.issues] == [code]
    assert info.value.issues[0].location is not None
    assert info.value.issues[0].location.line == 1


def test_duplicate_event_ids_and_deals_are_errors():
    """A repeated event_id or a deal closed twice is refused; nothing is credited."""
    rows = log(("d", "deal", "2026-03-01T10:00", "A", "C", "D"), ("d", "deal", "2026-03-01T11:00", "A", "C", "D"))
    with pytest.raises(DataError, match="repeats"):
        attribute(POLICY, rows)
    rows = log(("d1", "deal", "2026-03-01T10:00", "A", "C", "D"), ("d2", "deal", "2026-03-01T11:00", "A", "C", "D"))
    with pytest.raises(DataError, match="closed twice"):
        attribute(POLICY, rows)


def test_policy_errors_are_located():
    """Unknown keys and bad values in a policy are errors with line and column."""
    with pytest.raises(RulesetError) as info:
        load_policy("policy: p\nprotection_dayz: 7\nclaim_days: -1\n")
    rendered = info.value.render()
    assert "<string>:2:1: protection_dayz: unknown key 'protection_dayz'; did you mean 'protection_days'?" in rendered
    assert "<string>:3:13: claim_days:" in rendered


def test_explain_tells_the_story_of_a_deal():
    """explain(deal) names the owner, the windows, the reason and the deciding events."""
    events = log(("r", "registration", "2026-03-01T10:00", "A", "C", None), ("d", "deal", "2026-03-06T10:00", "B", "C", "D"),
                 ("c", "claim", "2026-03-08T10:00", "A", None, "D"))  # fmt: skip
    text = attribute(POLICY, events).explain("D")
    assert "protected through 2026-03-08" in text
    assert "claim window: through 2026-03-09; claimed on 2026-03-08" in text
    assert "credited to A: claim" in text
    assert "r, d, c" in text


def test_streamed_csv_errors_name_file_line_and_column(tmp_path):
    """A streamed CSV log reports every bad row with its line and column, and credits nothing."""
    from kpi_engine.attribution import read_events

    path = tmp_path / "log.csv"
    path.write_text(
        "event_id,type,at,rep,customer,deal_id,amount\n"
        "e1,registration,2026-03-01T10:00,A,C,,\n"
        "e2,deal,2026-03-02T10:00,B,C,D,-5\n"
        "e3,visit,2026-03-02T10:00,B,C,,\n"
        "e4,deal,2026-03-02T10:00,B,C,D2,5,extra\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        read_events(path, POLICY)
    assert [(i.code, str(i.location)) for i in info.value.issues] == [
        ("bad_value", f"{path}:3:7"),
        ("bad_type", f"{path}:4:2"),
        ("bad_csv", f"{path}:5:8"),
    ]


@pytest.mark.parametrize(
    "log",
    [
        "event_id,type,at,rep,customer\n",
        (
            "event_id,type,at,rep,customer,deal_id,amount\n"
            'e1,registration,2026-03-01T09:00:00,r\x01"\\,c\u00e9,,\n'
            "e2,deal,2026-03-02T09:00:00,b,c\u00e9,D\u2028,10.50\n"
        ),
    ],
)
def test_streamed_json_of_the_reference_walk_is_the_whole_json(tmp_path, log):
    """The reference result's JSON, written in pieces, is json.dumps of its mapping byte for byte."""
    import json

    from kpi_engine.attribution import iter_attribution_json, load_policy, read_events

    path = tmp_path / "log.csv"
    path.write_text(log, encoding="utf-8")
    policy = load_policy("examples/attribution/policy.yaml")
    result = attribute(policy, read_events(path, policy), engine="reference")
    pieces = list(iter_attribution_json(result))
    assert "".join(pieces) == json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
    assert len(pieces) >= 5
    from kpi_engine.attribution import _json_array

    mappings = [c.to_dict() for c in result.credits]
    assert "".join(_json_array(mappings, chunk=1)) == "".join(_json_array(mappings))


def test_a_field_over_128_kib_gets_the_same_verdict_from_every_reader(root):
    """The corpus log with a 200 KiB note is bad_csv through Polars, the column-wise log and the streaming reader."""
    from kpi_engine.attribution import read_event_frame, read_events, vectorised_available
    from kpi_engine.attribution._reading import stream_csv

    path = root / "tests/corpus/events_big_field.csv"
    policy = load_policy("examples/attribution/policy.yaml")
    readers = [lambda: read_events(path, policy)]
    if vectorised_available():
        readers.append(lambda: read_event_frame(path, policy))

    def streamed():
        with path.open(newline="", encoding="utf-8") as fh:
            return stream_csv(policy, fh, str(path))

    readers.append(streamed)
    for read in readers:
        with pytest.raises(DataError) as caught:
            read()
        assert [i.code for i in caught.value.issues] == ["bad_csv"]
