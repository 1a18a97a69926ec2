import datetime as dt
import json

from hypothesis import example, given
from hypothesis import strategies as st

from kpi_engine.attribution import attribute, parse_policy, read_events
from kpi_engine.io.loading import read_table

POLICY = parse_policy("policy: p\n")
REPS = ["A", "B", "C"]
CUSTOMERS = ["c1", "c2", "c3"]
START = dt.datetime(2026, 3, 1, 9, 0)  # noqa: DTZ001 - naive on purpose: read in the policy zone


@st.composite
def logs(draw, max_events=25):
    events = []
    deals = []
    n = draw(st.integers(1, max_events))
    for i in range(n):
        kind = draw(
            st.sampled_from(
                ["registration", "registration", "follow_up", "reception", "deal", "claim", "same_customer"]
            )
        )
        at = START + dt.timedelta(hours=draw(st.integers(0, 24 * 30)))
        row = {"event_id": f"e{i:03d}", "type": kind, "at": at.isoformat(), "rep": draw(st.sampled_from(REPS)),
               "customer": draw(st.sampled_from(CUSTOMERS))}  # fmt: skip
        if kind == "deal":
            row["deal_id"] = f"D{i}"
            row["amount"] = str(draw(st.integers(0, 10**6)))
            deals.append(row)
        elif kind == "claim":
            if not deals:
                continue
            deal = draw(st.sampled_from(deals))
            row = {**row, "deal_id": deal["deal_id"], "customer": None,
                   "at": (dt.datetime.fromisoformat(deal["at"]) + dt.timedelta(hours=draw(st.integers(0, 24 * 6)))).isoformat()}  # fmt: skip
        elif kind == "same_customer":
            row["related_customer"] = draw(st.sampled_from(CUSTOMERS))
            row["rep"] = None
        events.append(row)
    return events


def credit_map(result):
    return {c.deal_id: (c.credited_to, c.reason) for c in result.credits}


def window_log(base, *, deal=None, claim=None, follow_up=None):
    """A registration by A at ``base``, and optionally B's deal, A's claim and A's follow-up, N days later."""
    at = lambda days: (base + dt.timedelta(days=days)).isoformat()  # noqa: E731
    events = [{"event_id": "1r", "type": "registration", "at": at(0), "rep": "A", "customer": "C"}]
    if deal is not None:
        events.append(
            {
                "event_id": "2d",
                "type": "deal",
                "at": at(deal),
                "rep": "B",
                "customer": "C",
                "deal_id": "D",
                "amount": "1",
            }
        )
    if claim is not None:
        events.append({"event_id": "3c", "type": "claim", "at": at(claim), "rep": "A", "deal_id": "D"})
    if follow_up is not None:
        events.append({"event_id": "2f", "type": "follow_up", "at": at(follow_up), "rep": "A", "customer": "C"})
    return events


@given(st.integers(0, 60), st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)))
def test_a_window_of_n_days_admits_day_n_and_rejects_day_n_plus_1(n, start):
    """The claim window admits a claim on deal day + N and rejects one on + N + 1, for any N and start."""
    policy = parse_policy(f"policy: p\nclaim_days: {n}\nprotection_days: 400\n")
    base = dt.datetime.combine(start, dt.time(10))

    def run(offset):
        return attribute(policy, window_log(base, deal=0, claim=offset)).credit("D").reason

    assert run(n) == "claim"
    assert run(n + 1) == "late_claim"


@given(st.integers(0, 30), st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)))
def test_protection_admits_day_n_and_rejects_day_n_plus_1(n, start):
    """A deal by another rep on registration day + N is protected; on + N + 1 it has expired."""
    policy = parse_policy(f"policy: p\nprotection_days: {n}\n")
    base = dt.datetime.combine(start, dt.time(10))

    def run(offset):
        return attribute(policy, window_log(base, deal=offset)).credit("D").reason

    assert run(n) == "no_claim"
    assert run(n + 1) == "expired"


@given(st.integers(0, 59))
def test_dates_are_taken_in_the_policy_zone(minute):
    """16:30 UTC on 1 March is 2 March in Shanghai: day 1 of the protection, not day 0."""
    events = [
        {"event_id": "r", "type": "registration", "at": "2026-03-01T09:00:00+08:00", "rep": "A", "customer": "C"},
        {"event_id": "d", "type": "deal", "at": f"2026-03-08T16:{30 + minute % 30:02d}:00Z", "rep": "B", "customer": "C",
         "deal_id": "D", "amount": "1"},
    ]  # fmt: skip
    credit = attribute(POLICY, events).credit("D")
    assert credit.date == dt.date(2026, 3, 9)
    assert credit.reason == "expired"


@given(logs(), st.randoms(use_true_random=False))
def test_shuffling_events_changes_no_credit(events, rnd):
    """Events may arrive in any order: the credits are the same."""
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert credit_map(attribute(POLICY, events)) == credit_map(attribute(POLICY, shuffled))


@given(logs())
def test_every_deal_gets_exactly_one_credit(events):
    """Each deal id appears once among the credits, credited to the closer, the owner or the house."""
    result = attribute(POLICY, events)
    deal_ids = [e["deal_id"] for e in events if e["type"] == "deal"]
    assert sorted(c.deal_id for c in result.credits) == sorted(deal_ids)


@given(logs(), st.integers(0, 24 * 30))
def test_adding_an_owner_follow_up_never_takes_a_credit_from_the_owner(events, hours):
    """A follow-up by the rep a deal is credited to (as owner) never moves that credit away."""
    before = attribute(POLICY, events)
    for c in before.credits:
        if c.reason not in {"owner", "claim", "courtesy"} or c.owner != c.credited_to:
            continue
        at = (START + dt.timedelta(hours=hours)).isoformat()
        extra = {"event_id": "zz_follow", "type": "follow_up", "at": at, "rep": c.credited_to, "customer": c.customer}
        after = attribute(POLICY, [*events, extra])
        assert after.credit(c.deal_id).credited_to == c.credited_to


@given(logs(), st.integers(0, 24 * 6))
def test_adding_a_claim_never_takes_a_credit_from_the_claimant(events, hours):
    """Filing an extra claim never moves a deal away from the rep who files it."""
    before = attribute(POLICY, events)
    deals = {e["deal_id"]: e for e in events if e["type"] == "deal"}
    for c in before.credits:
        at = (dt.datetime.fromisoformat(deals[c.deal_id]["at"]) + dt.timedelta(hours=hours)).isoformat()
        extra = {"event_id": "zz_claim", "type": "claim", "at": at, "rep": c.credited_to, "deal_id": c.deal_id}
        after = attribute(POLICY, [*events, extra])
        assert after.credit(c.deal_id).credited_to == c.credited_to


@given(logs())
def test_csv_jsonl_and_streamed_logs_give_the_same_result(tmp_path_factory, events):
    """The same log read from CSV, JSONL, or streamed from CSV credits every deal identically."""
    folder = tmp_path_factory.mktemp("log")
    columns = ["event_id", "type", "at", "rep", "customer", "deal_id", "amount", "related_customer"]
    csv_path, jsonl_path = folder / "log.csv", folder / "log.jsonl"
    lines = [",".join(columns)] + [",".join(str(e.get(c) or "") for c in columns) for e in events]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    jsonl_path.write_text(
        "\n".join(json.dumps({k: v for k, v in e.items() if v is not None}) for e in events) + "\n", encoding="utf-8"
    )
    a = attribute(POLICY, read_table(csv_path))
    b = attribute(POLICY, read_table(jsonl_path))
    c = attribute(POLICY, read_events(csv_path, POLICY))  # streamed line by line
    assert a.to_dict() == b.to_dict() == c.to_dict()


@given(
    st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Shanghai"]),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 12, 31)),  # noqa: DTZ001 - naive local times
)
@example("America/New_York", dt.datetime(2026, 3, 8, 2, 30))  # noqa: DTZ001 - a local time that does not exist
@example("America/New_York", dt.datetime(2026, 11, 1, 1, 30))  # noqa: DTZ001 - a local time that occurs twice
@example("America/New_York", dt.datetime(2026, 3, 8, 23, 0))  # noqa: DTZ001 - after the change, same day
@example("Australia/Lord_Howe", dt.datetime(2026, 10, 4, 2, 15))  # noqa: DTZ001 - a half-hour transition
def test_naive_timestamps_convert_like_zoneinfo_even_on_transition_days(zone, local):
    """The per-day offset cache gives zoneinfo's instant for local times that exist, the transition for a gap."""
    from kpi_engine.time.zones import to_utc
    from kpi_engine.time.zones import zone as get_zone

    local = local.replace(fold=0)  # ISO text carries no fold: an ambiguous local time is its first occurrence
    policy = parse_policy(f"policy: p\ntimezone: {zone}\n")
    events = [{"event_id": "1", "type": "registration", "at": local.isoformat(), "rep": "A", "customer": "C"}]
    from kpi_engine.attribution import parse_events
    from kpi_engine.evaluation.records import Table

    [event] = parse_events(policy, Table.from_rows(events))
    tz = get_zone(zone)
    by_zoneinfo = local.replace(tzinfo=tz).astimezone(dt.UTC)
    if by_zoneinfo.astimezone(tz).replace(tzinfo=None) == local:  # the local time exists
        assert event.at == by_zoneinfo.replace(tzinfo=None)
    else:  # in a spring-forward gap: the first instant after it, before any later wall-clock time
        assert event.at == to_utc(local, tz)
        assert event.at <= by_zoneinfo.replace(tzinfo=None)
        assert (event.at + dt.timedelta(microseconds=-1)).replace(tzinfo=dt.UTC).astimezone(tz).utcoffset() != (
            event.at.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset()
        )
    assert event.date == local.date()


stamps = st.tuples(
    st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2027, 12, 31)),  # noqa: DTZ001 - local wall times
    st.sampled_from(["T", " "]),
    st.sampled_from(["", ":ss", ":ss.f", ":ss.ffffff"]),
    st.sampled_from(["", "Z", "+08:00", "-05:00", "+05:45"]),
).map(
    lambda t: (
        t[0].strftime(f"%Y-%m-%d{t[1]}%H:%M")
        + {
            "": "",
            ":ss": t[0].strftime(":%S"),
            ":ss.f": t[0].strftime(":%S.") + "5",
            ":ss.ffffff": t[0].strftime(":%S.%f"),
        }[t[2]]
        + t[3]
    )
)


@given(
    st.lists(stamps, min_size=1, max_size=12),
    st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/Berlin"]),
    st.lists(st.sampled_from(["", "true", "False", "yes"]), min_size=12, max_size=12),
)
@example(["2026-11-01T01:30:00", "2026-11-01 01:30"], "America/New_York", [""] * 12)  # a local time seen twice
@example(["2026-03-08T02:30:00"], "America/New_York", [""] * 12)  # a local time that does not exist
def test_columnar_ingest_gives_the_same_events_as_the_exact_parser(tmp_path_factory, times, zone, courtesy):
    """With Polars, the vectorised CSV ingest yields exactly the events of the row-by-row parser."""
    from kpi_engine.attribution._reading import stream_csv
    from kpi_engine.io.loading import read_lead_events_columnar

    policy = parse_policy(f"policy: p\ntimezone: {zone}\n")
    lines = ["event_id,type,at,rep,customer,courtesy"]
    lines += [f"e{i:02d},registration,{t},A{i % 3},C{i % 4},{courtesy[i]}" for i, t in enumerate(times)]
    path = tmp_path_factory.mktemp("log") / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with path.open(encoding="utf-8") as fh:
        exact = stream_csv(policy, fh, str(path))
    fast = read_lead_events_columnar(policy, path)
    if fast is not None:  # None means "deferred to the exact parser" (e.g. a DST gap)
        assert fast == exact


@given(logs())
def test_columnar_ingest_credits_every_log_like_the_exact_parser(tmp_path_factory, events):
    """Whole generated logs: the Polars path (when it accepts the log) credits identically."""
    from kpi_engine.io.loading import read_lead_events_columnar

    folder = tmp_path_factory.mktemp("log")
    columns = ["event_id", "type", "at", "rep", "customer", "deal_id", "amount", "related_customer"]
    path = folder / "log.csv"
    path.write_text(
        "\n".join([",".join(columns)] + [",".join(str(e.get(c) or "") for c in columns) for e in events]) + "\n",
        encoding="utf-8",
    )
    fast = read_lead_events_columnar(POLICY, path)
    assert fast is not None  # generated logs are always valid and ordinary
    assert attribute(POLICY, fast).to_dict() == attribute(POLICY, read_table(path)).to_dict()


@given(st.integers(0, 30), st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)))
def test_first_follow_up_on_day_n_is_on_time_and_day_n_plus_1_is_late(n, start):
    """R3: a first follow-up on registration day + N is on time; on + N + 1 it is a violation."""
    policy = parse_policy(f"policy: p\nfirst_follow_up_days: {n}\n")
    base = dt.datetime.combine(start, dt.time(23, 59))

    def on_time(offset):
        return not attribute(policy, window_log(base, follow_up=offset)).violations

    assert on_time(n)
    assert not on_time(n + 1)
