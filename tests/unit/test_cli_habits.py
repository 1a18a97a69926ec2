"""CLI habits of the ecosystem: --version, kpi test, JUnit, validate JSON, diff --strict, init (issue 7)."""

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kpi_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
REP = ["rulesets/sales_rep_monthly.yaml", "--records", "examples/sales_rep_monthly/records.csv"]


@pytest.fixture(autouse=True)
def at_root(root):
    os.chdir(root)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_prints_the_package_version(capsys):
    """kpi --version prints 'kpi X.Y.Z' and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("kpi ")


NO_CASES = """\
ruleset: t
version: "1"
title: t
inputs: {calls: {type: count}}
kpis: [{id: c, metric: calls, method: linear, floor: 0, target: 10, weight: 100%}]
"""


def test_kpi_test_without_any_case_exits_one(capsys, tmp_path):
    """A ruleset with no case is reported, and a run where no case ran exits 1."""
    path = tmp_path / "t.yaml"
    path.write_text(NO_CASES, encoding="utf-8")
    code, out, err = run(capsys, "test", str(path))
    assert code == 1
    assert f"NONE {path}: no cases" in out
    assert "no case ran" in err


def test_kpi_test_reports_every_file_and_writes_junit(capsys, tmp_path):
    """A broken ruleset is reported as a failure without hiding the other files; JUnit XML lists all cases."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(NO_CASES.replace("weight: 100%", "weight: 90%"), encoding="utf-8")
    junit = tmp_path / "junit.xml"
    code, out, _ = run(capsys, "test", str(broken), "rulesets/sales_rep_monthly.yaml", "--junit", str(junit))
    assert code == 1
    assert f"FAIL {broken}: cannot load" in out
    assert "PASS rulesets/sales_rep_monthly.yaml::growth against the previous month" in out
    suites = ET.parse(junit).getroot().findall("testsuite")  # noqa: S314 - our own file
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        (str(broken), "1", "1"),
        ("rulesets/sales_rep_monthly.yaml", "3", "0"),
    ]
    assert suites[0].find("testcase/failure") is not None


def test_validate_json_lists_issues_for_editors(capsys):
    """kpi validate --format json gives every issue with code, severity and location; exit 1 when invalid."""
    code, out, _ = run(
        capsys, "validate", "--format", "json", "rulesets/sales_rep_monthly.yaml", "tests/cases/invalid/planted.yaml"
    )
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    good, bad = report["files"]
    assert (good["valid"], good["issues"]) == (True, [])
    assert len([i for i in bad["issues"] if i["severity"] == "error"]) == 14
    assert {"code", "severity", "message", "file", "line", "column", "suggestion"} <= set(bad["issues"][0])


def test_diff_strict_applies_to_both_runs(capsys):
    """kpi diff --strict refuses N/A values, as evaluate --strict does (it used to be accepted and ignored)."""
    code, _, err = run(capsys, "diff", REP[0], *REP, "--strict")
    assert code == 1
    assert "N/A" in err
    code, _, _ = run(capsys, "diff", REP[0], *REP)
    assert code == 0


@pytest.mark.parametrize("template", ["s1", "s2", "s5"])
def test_init_scaffolds_a_project_whose_cases_pass(capsys, tmp_path, template):
    """kpi init DIR --template writes a ruleset, data and cases that pass kpi test and evaluate."""
    target = tmp_path / "proj"
    code, out, _ = run(capsys, "init", "--template", template, str(target))
    assert code == 0
    assert f"wrote {target / 'ruleset.yaml'}" in out
    text = (target / "ruleset.yaml").read_text(encoding="utf-8")
    assert text.startswith(f"# Scaffolded by `kpi init --template {template}`")
    code, out, _ = run(capsys, "test", str(target / "ruleset.yaml"))
    assert code == 0, out
    code, _, _ = run(capsys, "init", str(target))
    assert code == 1  # never overwrites


def test_templates_are_the_shipped_rulesets(root):
    """The init templates are byte-identical to the shipped rulesets and examples."""
    templates = root / "src/kpi_engine/templates"
    pairs = {
        "s1": ("sales_rep_monthly", "sales_rep_monthly"),
        "s2": ("sales_supervisor_quarterly", "sales_supervisor_quarterly"),
        "s5": ("sales_department", "sales_department"),
    }
    for name, (ruleset, example) in pairs.items():
        folder = templates / name
        assert (folder / "ruleset.yaml").read_bytes() == (root / f"rulesets/{ruleset}.yaml").read_bytes()
        for data in [*(root / "examples" / example).glob("*.csv"), *(root / "examples" / example).glob("*.yaml")]:
            assert (folder / data.name).read_bytes() == data.read_bytes()


def test_evaluate_writes_parquet(capsys, tmp_path):
    """--format parquet --out writes one row per subject × KPI with decimal scores; without --out it is refused."""
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "a.parquet"
    code, _, _ = run(capsys, "evaluate", *REP, "--format", "parquet", "--out", str(out))
    assert code == 0
    table = pq.read_table(out)
    assert table.num_rows == 4 * 11
    assert str(table.schema.field("total").type) == "decimal128(38, 2)"
    code, _, err = run(capsys, "evaluate", *REP, "--format", "parquet")
    assert code == 1
    assert "--out" in err


def test_warnings_go_to_stderr_and_the_run_succeeds(capsys, tmp_path):
    """A roster member with records in other periods but none in this one is a warning on stderr; exit 0."""
    members, records = tmp_path / "m.csv", tmp_path / "r.csv"
    text = (ROOT / "examples/sales_rep_monthly/members.csv").read_text(encoding="utf-8")
    members.write_text(text + "sun_li,team_east,2026-03\n", encoding="utf-8")
    rows = (ROOT / "examples/sales_rep_monthly/records.csv").read_text(encoding="utf-8").splitlines()
    li_na = next(r for r in rows if r.startswith("li_na,2026-02"))
    records.write_text("\n".join([*rows, li_na.replace("li_na", "sun_li", 1)]) + "\n", encoding="utf-8")
    code, out, err = run(
        capsys, "evaluate", REP[0], "--records", str(records), "--members", str(members), "--period", "2026-03"
    )
    assert code == 0
    assert "warning: 'sun_li' is a member of 'team_east'" in err
    assert "[no_record]" in err
    assert "sun_li" not in out


def test_a_roster_member_with_no_record_in_any_period_is_an_error(capsys, tmp_path):
    """A member that has no record in any period is most likely a misspelt id: a located error, exit 1."""
    members = tmp_path / "m.csv"
    text = (ROOT / "examples/sales_rep_monthly/members.csv").read_text(encoding="utf-8")
    members.write_text(text + "zhang_wie,team_east,2026-03\n", encoding="utf-8")
    code, _, err = run(capsys, "evaluate", *REP, "--members", str(members))
    assert code == 1
    assert "unknown_member" in err
    assert "zhang_wei" in err  # did you mean


def test_records_from_a_duckdb_query_on_the_command_line(capsys, tmp_path):
    """--records duckdb:FILE::SQL reads a query result."""
    duckdb = pytest.importorskip("duckdb")
    db = tmp_path / "crm.db"
    csv_path = (ROOT / "examples/sales_rep_monthly/records.csv").as_posix()
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE m AS SELECT * FROM read_csv_auto('{csv_path}')")  # noqa: S608
    code, out, _ = run(capsys, "evaluate", REP[0], "--records", f"duckdb:{db}::SELECT * FROM m", "--format", "csv")  # noqa: S608
    assert code == 0
    assert out.count("\n") == 1 + 4 * 11


def test_gb18030_hint_on_the_command_line(capsys, tmp_path):
    """A GB18030 records file exits 1 with the --encoding hint; with --encoding it is read."""
    path = tmp_path / "r.csv"
    text = (ROOT / "examples/sales_rep_monthly/records.csv").read_text(encoding="utf-8")
    path.write_bytes(text.encode("gb18030"))
    code, _, err = run(capsys, "evaluate", REP[0], "--records", str(path))
    assert code == 1
    assert "pass --encoding gb18030" in err
    code, out, _ = run(capsys, "evaluate", REP[0], "--records", str(path), "--encoding", "gb18030")
    assert code == 0
    assert "zhao_lei" in out
