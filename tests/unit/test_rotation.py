"""The reception rotation on the sales floor: sign-in order, R8, R9, R11, R13, R14, the queue at any moment."""

import datetime as dt
import json
from pathlib import Path

import pytest

from kpi_engine.attribution import format_rotation, load_policy, parse_policy, read_floor_events, rotate
from kpi_engine.attribution.rotation import REASONS
from kpi_engine.errors import DataError, RulesetError
from kpi_engine.io.loading import read_table

ROOT = Path(__file__).resolve().parents[2]
POLICY = parse_policy("policy: floor\ntimezone: Asia/Shanghai\n")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _log(*rows):
    """Rows as 'id type HH:MM rep [customer] [key=value …]' on 2026-03-14."""
    out = []
    for text in rows:
        parts = text.split()
        row = {"event_id": parts[0], "type": parts[1], "at": f"2026-03-14T{parts[2]}:00", "rep": parts[3]}
        rest = parts[4:]
        if rest and "=" not in rest[0]:
            row["customer"] = rest.pop(0)
        row.update(dict(p.split("=", 1) for p in rest))
        out.append(row)
    return out


def _verdicts(result):
    return {r.event_id: (r.reason, r.expected, r.in_turn) for r in result.receptions}


@pytest.fixture(scope="module")
def example():
    policy = load_policy(ROOT / "examples/attribution/policy.yaml")
    return rotate(policy, read_floor_events(ROOT / "examples/attribution/floor.csv", policy))


class TestShippedExample:
    def test_every_reception_is_judged_as_worked_by_hand(self, example):
        """The 12 receptions of examples/attribution/floor.csv get the verdicts worked out in its notes."""
        assert _verdicts(example) == {
            "f05": ("rotation", "li_na", True),
            "f06": ("rotation", "zhang_wei", True),
            "f08": ("skipped_next", "wang_fang", False),
            "f09": ("two_new_at_once", "wang_fang", False),
            "f10": ("competitor_in_rotation", "wang_fang", True),
            "f12": ("competitor_declared", None, True),
            "f14": ("owner_bypassed", "zhang_wei", False),
            "f15": ("courtesy_owner_absent", "wang_fang", True),
            "f18": ("named", "li_na", True),
            "f19": ("courtesy_named_busy", "wang_fang", True),
            "f20": ("named_off_duty", "zhang_wei", True),
            "f21": ("day_off", None, True),
        }

    def test_out_of_turn_receptions_name_the_deciding_events(self, example):
        """Each reception out of turn carries its own event, the due rep's sign-in and what kept others busy."""
        assert {r.event_id: r.decided_by for r in example.out_of_turn} == {
            "f08": ("f08", "f04"),
            "f09": ("f09", "f06", "f04"),
            "f14": ("f14", "f00", "f03"),
        }

    def test_the_queue_order_before_each_reception_follows_sign_in_and_turns(self, example):
        """Sign-in order li_na, zhang_wei, wang_fang; whoever takes a turn goes to the back."""
        queues = {r.event_id: r.queue for r in example.receptions}
        assert queues["f05"] == ("li_na", "zhang_wei", "wang_fang")
        assert queues["f06"] == ("zhang_wei", "wang_fang", "li_na")
        assert queues["f08"] == ("wang_fang", "li_na", "zhang_wei")
        assert queues["f10"] == ("wang_fang", "li_na", "zhang_wei")
        assert queues["f12"] == ("li_na", "zhang_wei", "wang_fang")

    def test_the_queue_at_a_moment_shows_who_is_next_and_who_is_busy(self, example):
        """At 10:25 li_na and zhang_wei are with customers; wang_fang is next and the courtesy receiver."""
        state = example.queue_at(dt.datetime(2026, 3, 14, 10, 25, tzinfo=SHANGHAI))
        assert [(e.rep, e.free, e.customer) for e in state.entries] == [
            ("li_na", False, "cust_c"),
            ("zhang_wei", False, "cust_d"),
            ("wang_fang", True, None),
        ]
        assert state.next_rep == "wang_fang"
        assert state.courtesy_rep == "wang_fang"
        assert state.entries[0].until == dt.datetime(2026, 3, 14, 11, 0, tzinfo=SHANGHAI)

    def test_after_sign_out_the_rep_leaves_the_queue(self, example):
        """li_na signed out at 13:30: at 14:00 the queue is wang_fang, zhang_wei."""
        state = example.queue_at(dt.datetime(2026, 3, 14, 14, 0, tzinfo=SHANGHAI))
        assert [e.rep for e in state.entries] == ["wang_fang", "zhang_wei"]

    def test_another_day_starts_with_an_empty_queue(self, example):
        """The next morning nobody has signed in yet."""
        assert example.queue_at(dt.datetime(2026, 3, 15, 9, 0, tzinfo=SHANGHAI)).entries == ()

    def test_summary_counts_turns_courtesies_and_out_of_turn(self, example):
        """Per rep: receptions, turns taken, courtesy receptions and receptions out of turn."""
        assert {
            s["rep"]: (s["receptions"], s["turns"], s["courtesy"], s["out_of_turn"]) for s in example.summary()
        } == {
            "li_na": (4, 2, 0, 2),
            "wang_fang": (4, 1, 2, 0),
            "zhang_wei": (3, 3, 0, 1),
            "zhao_lei": (1, 0, 1, 0),
        }

    def test_the_table_lists_out_of_turn_receptions_with_their_reason(self, example):
        """The table marks out-of-turn rows and explains each with its rule."""
        text = format_rotation(example, "table")
        assert "out of turn (3):" in text
        assert "li_na received cust_c (new) — OUT OF TURN; due: wang_fang" in text
        assert REASONS["two_new_at_once"] in text

    def test_json_and_csv_carry_every_reception(self, example):
        """JSON holds receptions and the summary; CSV one row per reception."""
        data = json.loads(format_rotation(example, "json"))
        assert [r["event_id"] for r in data["receptions"]][:3] == ["f05", "f06", "f08"]
        assert data["receptions"][2]["in_turn"] is False
        lines = format_rotation(example, "csv").splitlines()
        assert len(lines) == 13
        assert lines[3].startswith("f08,2026-03-14T10:00:00+08:00,cust_c,new,li_na,wang_fang,false,skipped_next,true")


class TestRules:
    def test_sign_in_order_decides_the_first_turns(self):
        """Three new visitors go to the reps in the order they signed in (R1)."""
        result = rotate(
            POLICY,
            _log(
                "s1 sign_in 08:00 b", "s2 sign_in 08:05 a", "s3 sign_in 08:10 c",
                "r1 reception 09:00 b k1", "r2 reception 09:01 a k2", "r3 reception 09:02 c k3",
            ),
        )  # fmt: skip
        assert [(r.expected, r.in_turn) for r in result.receptions] == [("b", True), ("a", True), ("c", True)]

    def test_a_busy_rep_keeps_their_place(self):
        """The head of the queue is with a customer: the next free rep receives; the head is still next after."""
        result = rotate(
            POLICY,
            _log(
                "g0 registration 07:00 a k0", "s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "s3 sign_in 08:10 c",
                "r0 reception 08:30 a k0 visitor=returning",  # a's own returning customer: not a turn, but busy
                "r1 reception 09:00 b k1",
                "e0 reception_end 09:10 a k0",
                "r2 reception 09:20 a k2",
            ),
        )  # fmt: skip
        verdicts = _verdicts(result)
        assert verdicts["r1"] == ("rotation", "b", True)
        assert verdicts["r2"] == ("rotation", "a", True)
        assert result.receptions[1].decided_by == ("r1", "r0", "s2")

    def test_a_second_new_customer_while_another_rep_is_free_breaks_r13(self):
        """A rep still with a new customer takes another while a colleague is free: two_new_at_once."""
        result = rotate(
            POLICY,
            _log("s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "r1 reception 09:00 a k1", "r2 reception 09:30 a k2"),
        )
        assert _verdicts(result)["r2"] == ("two_new_at_once", "b", False)

    def test_two_customers_at_once_when_nobody_else_is_free_is_in_turn(self):
        """With every other rep busy, taking a second new customer breaks nothing (R13 needs a free colleague)."""
        result = rotate(
            POLICY,
            _log(
                "s1 sign_in 08:00 a", "s2 sign_in 08:05 b",
                "r1 reception 09:00 a k1", "r2 reception 09:05 b k2", "r3 reception 09:10 a k3",
            ),
        )  # fmt: skip
        assert _verdicts(result)["r3"] == ("all_busy", None, True)

    def test_a_reception_ends_exactly_at_its_end_event(self):
        """A rep whose reception_end is at 09:30 is free for a visitor at 09:30."""
        result = rotate(
            POLICY,
            _log(
                "s1 sign_in 08:00 a", "s2 sign_in 08:05 b",
                "r1 reception 09:00 a k1", "e1 reception_end 09:30 a k1",
                "r2 reception 09:10 b k2", "r3 reception 09:30 a k3",
            ),
        )  # fmt: skip
        assert _verdicts(result)["r3"] == ("rotation", "a", True)

    def test_without_an_end_event_a_reception_lasts_the_policy_minutes(self):
        """reception_minutes: 30 frees the rep at 09:30 exactly, not at 09:29."""
        policy = parse_policy("policy: floor\nrotation: {reception_minutes: 30}\n")
        rows = ["s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "r1 reception 09:00 a k1", "r2 reception 09:01 b k2"]
        early = rotate(policy, _log(*rows, "r3 reception 09:29 a k3"))
        on_time = rotate(policy, _log(*rows, "r3 reception 09:30 a k3"))
        assert _verdicts(early)["r3"] == ("all_busy", None, True)
        assert _verdicts(on_time)["r3"] == ("rotation", "a", True)

    def test_a_competitor_takes_the_turn_unless_declared(self):
        """R9: a competitor posing as a buyer moves the receiver to the back; a declared one does not."""
        rows = ["s1 sign_in 08:00 a", "s2 sign_in 08:05 b"]
        posing = rotate(POLICY, _log(*rows, "r1 reception 09:00 a k1 visitor=competitor", "r2 reception 10:30 b k2"))
        declared = rotate(
            POLICY, _log(*rows, "r1 reception 09:00 a k1 visitor=declared_competitor", "r2 reception 10:30 b k2")
        )
        assert _verdicts(posing) == {"r1": ("competitor_in_rotation", "a", True), "r2": ("rotation", "b", True)}
        assert _verdicts(declared)["r2"] == ("skipped_next", "a", False)

    def test_a_returning_customer_goes_to_the_first_receiver(self):
        """R8: the owner receives without a turn; anyone else while the owner is free is out of turn."""
        rows = ["s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "g1 registration 08:10 b k1"]
        result = rotate(
            POLICY,
            _log(*rows, "r1 reception 09:00 b k1 visitor=returning", "r2 reception 10:30 a k1 visitor=returning"),
        )
        assert _verdicts(result) == {"r1": ("returning", "b", True), "r2": ("owner_bypassed", "b", False)}
        assert result.receptions[0].turn is False

    def test_a_returning_customer_without_a_known_first_receiver_is_rotation(self):
        """R8: when the first receiver cannot be established, the next in rotation receives and takes the turn."""
        result = rotate(
            POLICY, _log("s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "r1 reception 09:00 b k9 visitor=returning")
        )
        assert _verdicts(result)["r1"] == ("skipped_next", "a", False)
        assert result.receptions[0].turn is True

    def test_the_first_reception_makes_the_owner_for_later_visits(self):
        """A new visitor's receiver becomes the owner R8 sends them back to."""
        result = rotate(
            POLICY,
            _log(
                "s1 sign_in 08:00 a", "s2 sign_in 08:05 b",
                "r1 reception 09:00 a k1", "e1 reception_end 09:20 a k1",
                "r2 reception 10:00 a k1 visitor=returning",
            ),
        )  # fmt: skip
        assert _verdicts(result)["r2"] == ("returning", "a", True)

    def test_an_absent_owners_customer_goes_to_the_last_free_rep_as_courtesy(self):
        """R11: the last free rep in the queue receives; the first one in the queue is out of turn."""
        rows = ["g1 registration 07:00 z k1", "s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "s3 sign_in 08:10 c"]
        last = rotate(POLICY, _log(*rows, "r1 reception 09:00 c k1 visitor=returning courtesy=true"))
        first = rotate(POLICY, _log(*rows, "r1 reception 09:00 a k1 visitor=returning"))
        assert _verdicts(last)["r1"] == ("courtesy_owner_absent", "c", True)
        assert last.receptions[0].courtesy is True
        assert last.receptions[0].turn is False
        assert _verdicts(first)["r1"] == ("courtesy_not_last", "c", False)

    def test_a_named_rep_receives_without_taking_a_turn(self):
        """R1: a customer who phoned first and names a rep goes to that rep; the queue does not move."""
        result = rotate(
            POLICY,
            _log(
                "s1 sign_in 08:00 a", "s2 sign_in 08:05 b",
                "r1 reception 09:00 b k1 named_rep=b", "r2 reception 10:30 a k2",
            ),
        )  # fmt: skip
        assert _verdicts(result) == {"r1": ("named", "b", True), "r2": ("rotation", "a", True)}

    def test_a_named_rep_bypassed_is_out_of_turn(self):
        """R14: the named rep was on duty and free, but another received."""
        result = rotate(POLICY, _log("s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "r1 reception 09:00 a k1 named_rep=b"))
        assert _verdicts(result)["r1"] == ("named_rep_bypassed", "b", False)

    def test_a_named_rep_off_duty_makes_a_new_customer(self):
        """R14: the named rep is not on shift: the customer is new and goes to the rotation."""
        result = rotate(POLICY, _log("s1 sign_in 08:00 a", "s2 sign_in 08:05 b", "r1 reception 09:00 b k1 named_rep=z"))
        assert _verdicts(result)["r1"] == ("skipped_next", "a", False)

    def test_a_reception_on_a_day_off_while_someone_is_free_is_out_of_turn(self):
        """A rep who has not signed in receives a new visitor while a rep on duty is free: off_duty."""
        result = rotate(POLICY, _log("s1 sign_in 08:00 a", "r1 reception 09:00 z k1"))
        assert _verdicts(result)["r1"] == ("off_duty", "a", False)
        assert result.receptions[0].courtesy is True

    def test_a_day_without_sign_ins_has_no_rotation(self):
        """Nobody signed in: the reception cannot be judged against a queue."""
        result = rotate(POLICY, _log("r1 reception 09:00 a k1"))
        assert _verdicts(result)["r1"] == ("no_rotation", None, True)

    def test_at_one_instant_sign_ins_come_before_a_reception(self):
        """A visitor received at 09:00 by a rep who signed in at 09:00 is in turn, whatever the ids."""
        result = rotate(POLICY, _log("s1 sign_in 09:00 a", "s2 sign_in 09:00 b", "a1 reception 09:00 a k1"))
        assert _verdicts(result)["a1"] == ("rotation", "a", True)
        assert result.queue_at(dt.datetime(2026, 3, 14, 9, 0, tzinfo=SHANGHAI)).next_rep == "b"

    def test_simultaneous_sign_ins_follow_the_numbers_in_their_ids(self):
        """e9 and e10 sign in at 09:00: e9 first (numbers compare as numbers), so e9's rep is next."""
        result = rotate(POLICY, _log("e9 sign_in 09:00 a", "e10 sign_in 09:00 b", "e11 reception 09:30 a k1"))
        assert _verdicts(result)["e11"] == ("rotation", "a", True)

    def test_the_order_of_rows_in_the_log_does_not_matter(self):
        """Shuffled rows give the same verdicts."""
        policy = load_policy(ROOT / "examples/attribution/policy.yaml")
        rows = [dict(r) for _line, r in read_table(ROOT / "examples/attribution/floor.csv").rows]
        expected = _verdicts(rotate(policy, rows))
        for shuffled in (rows[::-1], rows[7:] + rows[:7], rows[1::2] + rows[::2]):
            assert _verdicts(rotate(policy, shuffled)) == expected


class TestFloorLog:
    def test_every_bad_row_is_located(self):
        """Unknown type, unknown visitor, missing customer, bad time and a repeated id: one DataError."""
        rows = [
            {"event_id": "a", "type": "walk_in", "at": "2026-03-14T09:00", "rep": "x"},
            {
                "event_id": "b",
                "type": "reception",
                "at": "2026-03-14T09:00",
                "rep": "x",
                "customer": "k",
                "visitor": "vip",
            },
            {"event_id": "c", "type": "reception", "at": "2026-03-14T09:00", "rep": "x"},
            {"event_id": "d", "type": "sign_in", "at": "yesterday", "rep": "x"},
            {"event_id": "d", "type": "sign_in", "at": "2026-03-14T09:00", "rep": "x"},
        ]
        with pytest.raises(DataError) as exc:
            rotate(POLICY, rows)
        assert [(i.code, i.location.line, i.path) for i in exc.value.issues] == [
            ("bad_type", 1, "type"),
            ("bad_value", 2, "visitor"),
            ("missing_field", 3, "customer"),
            ("bad_value", 4, "at"),
            ("duplicate_row", 5, "event_id"),
        ]

    def test_an_unknown_column_is_named(self):
        """A column the floor log does not know is an error with a location."""
        with pytest.raises(DataError, match="column 'vistor' is not part of the floor log"):
            rotate(
                POLICY, [{"event_id": "a", "type": "sign_in", "at": "2026-03-14T09:00", "rep": "x", "vistor": "new"}]
            )

    def test_the_rotation_section_of_a_policy_is_validated(self):
        """reception_minutes must be a whole number of minutes from 1 to 1440, located in the policy."""
        with pytest.raises(RulesetError) as exc:
            parse_policy("policy: floor\nrotation:\n  reception_minutes: 0\n", "p.yaml")
        assert "p.yaml:3:22" in exc.value.render()


class TestCommand:
    @pytest.fixture(autouse=True)
    def at_root(self, root, monkeypatch):
        monkeypatch.chdir(root)

    ARGS = ("rotation", "examples/attribution/policy.yaml", "--events", "examples/attribution/floor.csv")

    def test_kpi_rotation_prints_the_table_and_the_queue(self, capsys):
        """kpi rotation lists receptions, the out-of-turn ones with reasons, and the queue at --at."""
        from kpi_engine.cli import main

        assert main([*self.ARGS, "--at", "2026-03-14T10:25"]) == 0
        out = capsys.readouterr().out
        assert "out of turn (3):" in out
        assert "queue at 2026-03-14 10:25 (next new visitor: wang_fang; courtesy: wang_fang):" in out
        assert "  1. li_na — with cust_c until 11:00" in out

    def test_fail_on_out_of_turn_exits_1(self, capsys):
        """--fail-on-out-of-turn turns receptions out of turn into exit 1 (for a nightly check)."""
        from kpi_engine.cli import main

        assert main([*self.ARGS, "--format", "json", "--fail-on-out-of-turn"]) == 1
        assert json.loads(capsys.readouterr().out)["summary"][0]["rep"] == "li_na"

    def test_a_bad_at_is_one_line(self, capsys):
        """--at that is not a time is a one-line error, exit 1."""
        from kpi_engine.cli import main

        assert main([*self.ARGS, "--at", "soon"]) == 1
        assert "--at: 'soon' is not an ISO-8601 timestamp" in capsys.readouterr().err
