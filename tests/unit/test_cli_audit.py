import json
import shutil
from pathlib import Path

import pytest

from kpi_engine.cli import main

S1 = ["--records", "examples/sales_rep_monthly/records.csv", "--members", "examples/sales_rep_monthly/members.csv"]
V = "examples/versions/sales_rep_monthly"


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)  # restored after each test


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_record_then_replay_exits_zero(capsys, tmp_path):
    """kpi evaluate --record writes a record that kpi replay reproduces (exit 0)."""
    record = tmp_path / "march.record.json"
    code, out, _ = run(capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", *S1, "--record", str(record))
    assert code == 0
    assert "li_na" in out
    code, out, _ = run(capsys, "replay", str(record))
    assert (code, out) == (0, "reproduced: 4 subjects, 44 KPIs\n")


def test_replay_of_a_tampered_record_exits_one_and_says_what_differs(capsys, tmp_path):
    """A changed input makes kpi replay exit 1, naming the input and the subject and KPI that moved."""
    record = tmp_path / "r.json"
    run(capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", *S1, "--record", str(record))
    data = json.loads(record.read_bytes())
    row = next(
        r for r in data["inputs"]["records"][0]["rows"] if r["subject"] == "zhao_lei" and r["period"] == "2026-03"
    )
    row["phone_calls"] = "10"
    record.write_text(json.dumps(data), encoding="utf-8")
    code, out, _ = run(capsys, "replay", str(record))
    assert code == 1
    assert out.startswith("NOT reproduced")
    assert "tampered: inputs.records[0]: input 'records.csv'" in out
    assert "subject zhao_lei" in out
    assert "KPI calls score: recorded" in out
    code, out, _ = run(capsys, "replay", str(record), "--format", "json")
    assert code == 1
    assert json.loads(out)["reproduced"] is False


def test_digest_inputs_are_read_relative_to_the_record(capsys, tmp_path, monkeypatch):
    """With --record-inputs digest the record names the files relatively; moving both together still replays."""
    work = tmp_path / "q"
    shutil.copytree("examples/sales_supervisor_quarterly", work / "data")
    shutil.copy("rulesets/sales_supervisor_quarterly.yaml", work)
    monkeypatch.chdir(work)
    # A run record holds one event table and the records as files: the plan's targets typed in.
    targets = {"chen_jie": 240000, "liu_yang": 210000, "sun_li": 150000, "zhou_min": 220000, "wu_hao": 180000}
    reps = ["subject,period,name,sales_target"]
    for line in (work / "data/reps.csv").read_text(encoding="utf-8").splitlines()[1:]:
        subject, period, _ = line.split(",")
        if period == "2026-Q2":
            reps.append(f"{line},{targets.get(subject, '')}")
    (work / "data/reps.csv").write_text("\n".join(reps) + "\n", encoding="utf-8")
    args = [
        "--records",
        "data/reps.csv",
        "data/teams.csv",
        "--members",
        "data/members.csv",
        "--events",
        "data/events.csv",
    ]
    code, _, _ = run(
        capsys,
        "evaluate",
        "sales_supervisor_quarterly.yaml",
        *args,
        "--record",
        "run.json",
        "--record-inputs",
        "digest",
    )
    assert code == 0
    data = json.loads((work / "run.json").read_bytes())
    assert [e["path"] for e in data["inputs"]["records"]] == ["data/reps.csv", "data/teams.csv"]
    moved = tmp_path / "archive"
    shutil.move(work, moved)
    code, out, _ = run(capsys, "replay", str(moved / "run.json"))
    assert (code, out) == (0, "reproduced: 2 subjects, 42 KPIs\n")  # S2 2.0.0 has 21 KPIs


def test_attribute_record_replays(capsys, tmp_path):
    """kpi attribute --record writes a record of every credit that kpi replay reproduces."""
    record = tmp_path / "credits.json"
    code, _, _ = run(
        capsys, "attribute", "examples/attribution/policy.yaml", "--events", "examples/attribution/events.csv",
        "--record", str(record), "--created", "2026-04-01",
    )  # fmt: skip
    assert code == 0
    assert json.loads(record.read_bytes())["created"] == "2026-04-01"
    code, out, _ = run(capsys, "replay", str(record))
    assert code == 0
    assert out.startswith("reproduced: 7 deals")


def test_evaluate_a_folder_picks_the_version_in_effect(capsys):
    """kpi evaluate FOLDER --period picks the version whose dates cover the period."""
    code, out, err = run(capsys, "evaluate", V, *S1, "--period", "2026-03")
    assert code == 0
    assert "sales_rep_monthly 1.1.0" in out
    assert "version 1.1.0" in err
    code, out, _ = run(capsys, "evaluate", V, *S1, "--period", "2026-02")
    assert "sales_rep_monthly 1.0.0" in out
    code, _, err = run(capsys, "evaluate", V, *S1)
    assert code == 1
    assert "give --period" in err


def test_evaluate_a_folder_with_overlapping_versions_is_refused(capsys, tmp_path):
    """Overlapping effective dates in a folder exit 1 with the file located."""
    folder = tmp_path / "versions"
    shutil.copytree(V, folder)
    text = (folder / "v1.1.0.yaml").read_text(encoding="utf-8")
    (folder / "v1.1.0.yaml").write_text(text.replace("{from: 2026-03-01}", "{from: 2026-02-01}"), encoding="utf-8")
    code, _, err = run(capsys, "evaluate", str(folder), *S1, "--period", "2026-03")
    assert code == 1
    assert "v1.1.0.yaml:" in err
    assert "overlapping_versions" in err


def test_diff_without_records_states_rule_changes(capsys):
    """kpi diff OLD NEW without records lists the rule changes only."""
    code, out, _ = run(capsys, "diff", f"{V}/v1.0.0.yaml", f"{V}/v1.1.0.yaml")
    assert code == 0
    assert "KPI replies threshold: 95 % → 90 %" in out
    assert "grade B band moved: total ≥ 75 → total ≥ 80" in out
    assert "outcomes" not in out


def test_diff_with_records_adds_outcomes(capsys):
    """kpi diff --records adds the outcome part; JSON holds both."""
    code, out, _ = run(capsys, "diff", f"{V}/v1.0.0.yaml", f"{V}/v1.1.0.yaml", *S1, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {"path": "kpis.growth.weight", "change": "changed", "before": "20 %", "after": "30 %",
            "text": "KPI growth weight: 20 % → 30 %"} in data["rules"]  # fmt: skip
    assert data["unchanged"] == 0
    assert {c["subject"] for c in data["changes"]} == {"li_na", "wang_fang", "zhang_wei", "zhao_lei"}


def test_impact_table_and_json(capsys):
    """kpi impact prints movers largest first and the summary; JSON carries exact values."""
    code, out, _ = run(capsys, "impact", f"{V}/v1.0.0.yaml", f"{V}/v1.1.0.yaml", *S1)
    assert code == 0
    lines = out.splitlines()
    assert "4 of 4 subject(s) change; 0 up a grade, 1 down; total bonus multiplier 5.00 → 5.00 (0.00)" in lines[1]
    assert lines[4].split()[:6] == ["li_na", "82.51", "→", "79.57", "-2.93", "B"]
    code, out, _ = run(capsys, "impact", f"{V}/v1.0.0.yaml", f"{V}/v1.1.0.yaml", *S1, "--format", "json")
    data = json.loads(out)
    assert data["changes"][0]["total"] == ["82.50586419753086419753086419753086", "79.5712962962962962962962962962963"]
    assert data["summary"]["grades_down"] == 1


def test_evaluate_with_a_policy_records_the_merged_records(capsys, tmp_path):
    """With --policy the record holds the records as evaluated (credit fields merged) and replays."""
    record = tmp_path / "r.json"
    code, _, _ = run(
        capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", "examples/attribution/records.csv",
        "--policy", "examples/attribution/policy.yaml", "--lead-events", "examples/attribution/events.csv",
        "--record", str(record),
    )  # fmt: skip
    assert code == 0
    rows = json.loads(record.read_bytes())["inputs"]["records"][0]["rows"]
    assert (
        "lead_registrations"
        not in (Path("examples/attribution/records.csv").read_text(encoding="utf-8").splitlines()[0])
    )
    assert any(r.get("lead_registrations") for r in rows)
    assert run(capsys, "replay", str(record))[0] == 0


def test_replay_of_an_unknown_format_exits_one_naming_both_versions(capsys, tmp_path):
    """A record format this version cannot read exits 1 with the writer's and this version."""
    import kpi_engine

    path = tmp_path / "future.json"
    path.write_text(json.dumps({"format": "kpi_engine.run-record/9", "engine": {"version": "3.0.0"}}), encoding="utf-8")
    code, _, err = run(capsys, "replay", str(path))
    assert code == 1
    assert "3.0.0" in err
    assert kpi_engine.__version__ in err


def test_a_folder_without_rulesets_is_refused(capsys, tmp_path):
    """An empty folder given as a ruleset says it holds no ruleset files."""
    code, _, err = run(capsys, "evaluate", str(tmp_path), *S1, "--period", "2026-03")
    assert code == 1
    assert "no ruleset files" in err
