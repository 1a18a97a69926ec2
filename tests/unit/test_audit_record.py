import json
from pathlib import Path

import pytest

import kpi_engine
from kpi_engine import KpiError, read_table
from kpi_engine.audit.canonical import same_value, tree_diff
from kpi_engine.audit.record import FORMAT, record_appraisal, record_attribution
from kpi_engine.audit.replay import load_record, replay
from kpi_engine.audit.values import appraisal_values, record_text, to_columns
from kpi_engine.io.records import resolver

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets" / "sales_rep_monthly.yaml"
RECORDS = ROOT / "examples" / "sales_rep_monthly" / "records.csv"
MEMBERS = ROOT / "examples" / "sales_rep_monthly" / "members.csv"
FIXTURES = ROOT / "tests" / "fixtures" / "records"


def s1_record(**kwargs):
    return record_appraisal(
        S1.read_text(encoding="utf-8"),
        read_table(RECORDS),
        ruleset_name=str(S1),
        members=read_table(MEMBERS),
        **kwargs,
    )


@pytest.fixture(scope="module")
def s1():
    return s1_record()


def tampered(record, edit):
    data = json.loads(record.to_bytes())
    edit(data)
    return replay(json.dumps(data))


def test_record_holds_rules_inputs_options_engine_and_results(s1):
    """A record carries the ruleset text and digest, the rows, the options, the engine version and the results."""
    appraisal, record = s1
    data = record.data
    assert data["format"] == FORMAT
    assert data["engine"] == {"name": "kpi_engine", "version": kpi_engine.__version__}
    assert data["ruleset"]["text"] == S1.read_text(encoding="utf-8")
    assert data["ruleset"]["sha256"] == appraisal.sha256
    assert data["ruleset"]["name"] == "sales_rep_monthly.yaml"
    assert len(data["inputs"]["records"][0]["rows"]) == 8
    assert data["inputs"]["members"]["name"] == "members.csv"
    assert data["options"] == {"period": "2026-03", "strict": False}
    assert data["created"] is None
    assert data["summary"] == {"subjects": 4, "kpis": 44}
    values = data["results"]["values"]
    assert values["columns"]["grade"][values["subjects"].index("li_na")] == "B"
    assert data["results"] == {"values": to_columns(appraisal_values(appraisal, record_text))}  # no trace


def test_record_bytes_hold_no_absolute_path_and_are_sorted(s1):
    """The bytes name no folder of this machine and list keys in sorted order."""
    text = s1[1].to_bytes().decode()
    assert str(ROOT) not in text
    assert "examples/" not in text
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_two_runs_give_identical_bytes(s1):
    """Recording the same run twice gives the same bytes and digest."""
    again = s1_record()[1]
    assert again.to_bytes() == s1[1].to_bytes()
    assert again.sha256 == s1[1].sha256


def test_created_is_stored_only_when_given():
    """A timestamp appears only when the caller passes one; it changes the digest."""
    record = s1_record(created="2026-04-01T09:00:00+08:00")[1]
    assert record.data["created"] == "2026-04-01T09:00:00+08:00"
    assert record.sha256 != s1_record()[1].sha256


def test_replay_reproduces(s1):
    """An untouched record replays exactly."""
    report = replay(s1[1].to_bytes())
    assert report.reproduced, report.render()
    assert report.headline() == "reproduced: 4 subjects, 44 KPIs"


def test_tampered_input_value_is_named(s1):
    """Changing one input cell names the input table and shows the subject and KPI that moved."""

    def edit(data):
        row = next(
            r for r in data["inputs"]["records"][0]["rows"] if r["subject"] == "li_na" and r["period"] == "2026-03"
        )
        row["sales_actual"] = "90000"

    report = tampered(s1[1], edit)
    assert not report.reproduced
    assert [f.part for f in report.tampered] == ["inputs.records[0]"]
    paths = {d.path for d in report.mismatches}
    assert "subjects.li_na.kpis.target_completion.score" in paths
    text = report.render()
    assert "subject li_na" in text
    assert "KPI target_completion score: recorded" in text


def test_tampered_rule_is_named(s1):
    """Changing the ruleset text names it and shows the recomputed difference."""

    def edit(data):
        data["ruleset"]["text"] = data["ruleset"]["text"].replace("target: 95%", "target: 90%")

    report = tampered(s1[1], edit)
    assert [f.part for f in report.tampered] == ["ruleset.text"]
    assert [d.path for d in report.mismatches] == ["ruleset.sha256"]  # every score is unchanged by this edit
    assert not report.trace_differences  # format 2 keeps no trace to compare


def format_1_record():
    """A record of format 1 (every trace kept), as 0.2 wrote it before format 2."""
    return json.loads((FIXTURES / "v0.2-s1.record.json").read_bytes())


def test_tampered_rule_in_a_format_1_record_shows_in_its_traces():
    """Changing the ruleset text of a format 1 record names it and the recorded trace header that moved."""
    data = format_1_record()
    assert data["format"] == "kpi_engine.run-record/1"
    data["ruleset"]["text"] = data["ruleset"]["text"].replace("target: 95%", "target: 90%")
    report = replay(json.dumps(data))
    assert [f.part for f in report.tampered] == ["ruleset.text"]
    paths = {d.path for d in report.trace_differences}
    assert "results.appraisal.scorecard.kpis.replies.parameters.target" in paths  # written once, in the header


def test_tampered_exact_result_is_named(s1):
    """Changing a recorded exact value names the results part and the value recorded against computed."""

    def edit(data):
        values = data["results"]["values"]
        values["columns"]["total"][values["subjects"].index("li_na")] = "99"

    report = tampered(s1[1], edit)
    assert [f.part for f in report.tampered] == ["results"]
    assert [(d.path, d.recorded) for d in report.mismatches] == [("subjects.li_na.total", "99")]


def test_tampered_trace_is_named_by_dotted_path():
    """Changing a grade in the appraisal tree of a format 1 record shows its dotted path."""
    data = format_1_record()
    subject = next(r for r in data["results"]["appraisal"]["results"] if r["subject"] == "li_na")
    subject["grade"] = "A"
    report = replay(json.dumps(data))
    assert [f.part for f in report.tampered] == ["results"]
    assert [(d.path, d.recorded, d.computed) for d in report.trace_differences] == [
        ("results.appraisal.results.li_na.grade", "A", "B")
    ]


def test_tampered_record_digest_is_named(s1):
    """Changing only the record's own digest names it."""
    report = tampered(s1[1], lambda d: d.update(sha256="0" * 64))
    assert [f.part for f in report.tampered] == ["sha256"]
    assert not report.mismatches


@pytest.mark.parametrize("part", ["inputs", "ruleset", "results", "options", "meta"])
def test_tampered_part_digest_is_named(s1, part):
    """Changing one recorded part digest names that digest and says the part is intact."""
    report = tampered(s1[1], lambda d: d["digests"].update({part: "0" * 64}))
    assert [f.part for f in report.tampered] == [f"digests.{part}"]
    assert "intact" in report.tampered[0].message


def test_tampered_options_and_meta_are_named(s1):
    """Changing an option or the engine version names the options or the metadata."""
    report = tampered(s1[1], lambda d: d["options"].update(strict=True))
    assert [f.part for f in report.tampered] == ["options"]
    report = tampered(s1[1], lambda d: d["engine"].update(version="9.9.9"))
    assert [f.part for f in report.tampered] == ["meta"]


def test_an_added_field_is_named(s1):
    """A top-level field that no record has is named as added."""
    report = tampered(s1[1], lambda d: d.update(approved_by="me"))
    assert [f.part for f in report.tampered] == ["approved_by"]


def test_unknown_format_names_both_versions(s1):
    """A record of an unknown format fails with a message naming its writer and this version."""
    data = json.loads(s1[1].to_bytes())
    data["format"] = "kpi_engine.run-record/99"
    data["engine"]["version"] = "7.0.0"
    with pytest.raises(KpiError, match=r"7\.0\.0.*" + kpi_engine.__version__.replace(".", r"\.")):
        load_record(json.dumps(data))


def test_not_a_record_is_refused():
    """Bytes that are not JSON, or JSON without a format, are refused with a clear error."""
    with pytest.raises(KpiError, match="not valid JSON"):
        replay(b"{")
    with pytest.raises(KpiError, match="no 'format'"):
        replay(b"{}")


def test_same_rows_in_another_order_give_the_same_record(tmp_path):
    """Reversing the rows of the records file leaves the record's bytes unchanged."""
    lines = RECORDS.read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "records.csv"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    a = record_appraisal(S1.read_text(encoding="utf-8"), read_table(RECORDS), members=read_table(MEMBERS))[1]
    b = record_appraisal(S1.read_text(encoding="utf-8"), read_table(shuffled), members=read_table(MEMBERS))[1]
    assert a.to_bytes() == b.to_bytes()


def test_digest_mode_refers_to_files_and_replays_through_a_resolver(tmp_path):
    """In digest mode the record holds a relative path and a SHA-256; replay reads and checks the file."""
    (tmp_path / "data").mkdir()
    source = tmp_path / "data" / "records.csv"
    source.write_bytes(RECORDS.read_bytes())
    table = read_table(source, name="data/records.csv")
    _, record = record_appraisal(S1.read_text(encoding="utf-8"), table, inputs="digest")
    entry = record.data["inputs"]["records"][0]
    assert entry["path"] == "data/records.csv"
    assert entry["rows"] == 8  # a count, not the rows
    path = tmp_path / "run.record.json"
    path.write_bytes(record.to_bytes())
    assert replay(path.read_bytes(), resolve=resolver(path)).reproduced
    source.write_text(RECORDS.read_text(encoding="utf-8").replace("81000", "81001"), encoding="utf-8")
    report = replay(path.read_bytes(), resolve=resolver(path))
    assert [f.part for f in report.tampered] == ["inputs.records[0]"]
    assert not replay(path.read_bytes()).reproduced  # no resolver: cannot read the file


def test_digest_mode_refuses_an_absolute_path():
    """An absolute table name cannot go into a digest-mode record."""
    with pytest.raises(KpiError, match="relative to the record's folder"):
        record_appraisal(S1.read_text(encoding="utf-8"), read_table(RECORDS), inputs="digest")


def test_a_binary_float_cannot_be_recorded():
    """A float without a short decimal repr is refused with the row named, not written with lost digits."""
    rows = [{"subject": "r1", "period": "2026-03", "sales_actual": 0.1 + 0.2}]  # 0.30000000000000004
    with pytest.raises(KpiError, match="float"):
        record_appraisal(S1.read_text(encoding="utf-8"), rows)


def test_attribution_record_replays_and_names_a_tampered_credit():
    """An attribution record replays; a changed credit is reported by deal."""
    root = ROOT / "examples" / "attribution"
    _, record = record_attribution(
        (root / "policy.yaml").read_text(encoding="utf-8"), read_table(root / "events.csv"), policy_name="policy.yaml"
    )
    report = replay(record.to_bytes())
    assert report.reproduced, report.render()
    assert report.headline().startswith("reproduced: 7 deals")
    data = json.loads(record.to_bytes())
    deal = next(iter(data["results"]["values"]["credits"]))
    data["results"]["values"]["credits"][deal]["credited_to"] = "someone_else"
    report = replay(json.dumps(data))
    assert [f.part for f in report.tampered] == ["results"]
    assert report.mismatches[0].path == f"credits.{deal}.credited_to"
    assert f"credit {deal}" in report.render()


@pytest.mark.parametrize(
    "name", ["v0.2-s1.record.json", "v0.2-attribution.record.json", "v0.1-attribution.record.json"]
)
def test_record_of_the_previous_release_replays(name):
    """Records committed as written by releases 0.1 (attribution) and 0.2 replay under this version."""
    report = replay((FIXTURES / name).read_bytes())
    assert report.reproduced, report.render()


def test_a_01_scorecard_record_differs_only_where_01_rounded_a_renormalised_share():
    """0.1 cut shares like 3/68 to 34 digits: replay names both versions and only those unrounded values differ.

    Every reported digit (2 places) is the same; the exact values differ from 0.1's by less than 1e-32.
    """
    from fractions import Fraction

    report = replay((FIXTURES / "v0.1-s1.record.json").read_bytes())
    assert not report.reproduced
    assert "recorded by kpi_engine 0.1.0, replayed by kpi_engine" in report.render()
    assert not report.tampered
    assert report.mismatches
    for d in report.mismatches:
        assert d.path.rsplit(".", 1)[1] in {"effective_weight", "contribution"}, d.path
        recorded, computed = Fraction(str(d.recorded)), Fraction(str(d.computed))
        assert abs(recorded - computed) < Fraction(1, 10**32)
        assert round(recorded * 100, 2) == round(computed * 100, 2)  # the reported digits agree


def test_numbers_compare_by_exact_value():
    """0.90 equals 0.9, a 34-digit recorded quotient equals the exact fraction it rounds, 1 differs from 1.0001."""
    assert same_value("0.90", "0.9")
    assert same_value("0.3333333333333333333333333333333333", "1/3")
    assert same_value("79.5712962962962962962962962962963", "85937/1080")  # trailing zero dropped when recorded
    assert not same_value("0.3333333333333333333333333333333333", "1/4")
    assert not same_value("1", "1.0001")
    assert not same_value("A", "B")
    assert [d.path for d in tree_diff({"x": ["a", "b"]}, {"x": ["a", "c", "d"]})] == ["x[1]", "x[2]"]
    assert [d.path for d in tree_diff({"l": [{"id": "k", "v": "1"}]}, {"l": [{"id": "k", "v": "2"}]})] == ["l.k.v"]


def test_long_reports_are_cut_to_a_screenful_with_a_count():
    """The readable report shows 40 subjects and says how many more differ."""
    from kpi_engine.audit.canonical import Difference
    from kpi_engine.audit.replay import ReplayReport

    diffs = tuple(Difference(f"subjects.r{i:02d}.total", "1", "2") for i in range(45))
    text = ReplayReport("appraisal", "0.1.0", "0.1.0", 45, 45, mismatches=diffs).render()
    assert text.count("  subject r") == 40
    assert "… and 5 more" in text


def test_a_record_with_traces_in_another_layout_replays_by_exact_values():
    """Traces laid out as another version wrote them are not compared key by key; exact values still are."""
    from kpi_engine.audit.record import _seal

    data = format_1_record()
    for subject in data["results"]["appraisal"]["results"]:
        for kpi in subject["kpis"]:
            kpi["trace"] = kpi.pop("explanation")  # as if an older release named it differently
    del data["digests"], data["sha256"]
    report = replay(_seal(data).to_bytes())
    assert report.reproduced, report.render()
    assert any("laid out differently" in n for n in report.notes)
    data["results"]["values"]["subjects"]["li_na"]["grade"] = "A"
    del data["digests"], data["sha256"]
    report = replay(_seal(data).to_bytes())
    assert [(d.path, d.recorded, d.computed) for d in report.mismatches] == [("subjects.li_na.grade", "A", "B")]


def test_the_record_bytes_are_the_canonical_bytes_of_the_content(s1):
    """Built from parts encoded once, the record is still exactly canonical JSON of its content, sealed."""
    from kpi_engine.audit.canonical import file_bytes
    from kpi_engine.audit.record import record_digest

    raw = s1[1].to_bytes()
    data = json.loads(raw)
    assert file_bytes(data) == raw
    assert record_digest(data) == data["sha256"] == s1[1].sha256


@pytest.mark.parametrize(
    ("ruleset", "records", "members", "events", "period"),
    [
        ("sales_rep_monthly", ["sales_rep_monthly/records.csv"], "sales_rep_monthly/members.csv", None, None),
        ("sales_department", ["sales_department/records.csv"], "sales_department/members.csv", None, None),
        ("sales_dashboard_monthly", ["sales_dashboard_monthly/records.csv"], None, "sales_dashboard_monthly/events.csv",
         "2026-05"),
    ],
)  # fmt: skip
def test_canonical_json_of_an_appraisal_is_its_dict_with_sorted_keys(ruleset, records, members, events, period):
    """iter_canonical_json, with and without traces, joins to the sorted compact JSON of to_dict."""
    ex = ROOT / "examples"
    appraisal = kpi_engine.evaluate(
        kpi_engine.load_ruleset(ROOT / "rulesets" / f"{ruleset}.yaml"),
        [read_table(ex / r) for r in records],
        members=read_table(ex / members) if members else None,
        events=read_table(ex / events) if events else None,
        period=period,
    )
    for traces in (True, False):
        expected = json.dumps(
            appraisal.to_dict(traces=traces), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        assert "".join(appraisal.iter_canonical_json(traces=traces)) == expected
