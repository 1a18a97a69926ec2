"""No command writes a spreadsheet formula: hostile text in every text field reads back as text.

Every command that writes CSV or xlsx runs on the shipped examples with each free-text field
(subject and team ids, names, ruleset, KPI, section and grade titles, grade ids, gate reasons,
rep, customer, deal and event ids, plan shares and titles) replaced by text starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return, ``=HYPERLINK(...)`` among them. Each output is
read back (CSV with the csv module, xlsx with openpyxl): no cell may be a formula or text a
spreadsheet would run as one, and the hostile text must be there, guarded.
"""

import csv
import itertools
import re
from pathlib import Path

import pytest
import yaml

from kpi_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ['=HYPERLINK("http://e")', "+1+cmd", "-2-cmd", "@SUM(A1)", "\t=1+1", "\r=2+2", "=cmd|' /C calc'!A0"]
INNER = "ok\r=3+3"  # a carriage return inside a cell: a spreadsheet starts a new row there
STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")


def live(text):
    """True when a spreadsheet would run this text as a formula."""
    return text.startswith(STARTS) and not PLAIN_NUMBER.fullmatch(text)


class Names:
    """A hostile text for every original id or title, each distinct and recognisable.

    Ids read from CSV lose leading white space there, so ``ids`` (shared by a YAML file and a
    CSV file) carry none; titles keep a leading tab or carriage return.
    """

    counter = itertools.count()

    def __init__(self, *, ids=False):
        self.made = {}
        self.ids = ids

    def __call__(self, original):
        if original not in self.made:
            i = next(self.counter)
            text = f"{HOSTILE[i % len(HOSTILE)]}#{i}" if i % 5 else f"{INNER}#{i}"
            self.made[original] = text.lstrip() if self.ids else text
        return self.made[original]


def rewrite_csv(source, target, ids, columns):
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for c in columns:
            if row.get(c):
                row[c] = ids(row[c])
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def hostile_ruleset(source, target, names):
    """The ruleset with every free-text field hostile (ids the language restricts to identifiers stay)."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data.pop("cases", None)
    data["title"] = names("ruleset title")
    data["description"] = names("ruleset description")
    for spec in data.get("inputs", {}).values():
        spec["title"] = names(f"input {spec.get('title')}")
    for spec in data.get("metrics", {}).values():
        spec["title"] = names(f"metric {spec.get('title')}")
    for section in data.get("sections", {}).values():
        section["title"] = names(f"section {section.get('title')}")
    for kpi in data.get("kpis", []):
        kpi["title"] = names(f"kpi {kpi['id']}")
    for gate in data.get("gates", []):
        gate["reason"] = names(f"gate {gate['id']}")
    for grade in data.get("grades", []):
        grade["title"] = names(f"grade title {grade['grade']}")
        grade["grade"] = names(f"grade {grade['grade']}")
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def hostile_plan(source, target, names, ids):
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["title"] = names("plan title")
    data["company"] = ids(data["company"])
    data["shares"] = {
        ids(team): {
            **spec,
            **({"title": names(f"share {spec['title']}")} if "title" in spec else {}),
            "members": {ids(m): w for m, w in spec.get("members", {}).items()},
        }
        for team, spec in data["shares"].items()
    }
    for group in ("targets", "budgets"):
        for spec in data.get(group, {}).values():
            spec["title"] = names(f"{group} {spec.get('title')}")
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def cells_of(path):
    """Every cell of a CSV or xlsx output as (text, is_formula)."""
    if path.suffix == ".xlsx":
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.load_workbook(path)
        return [
            (str(cell.value), cell.data_type == "f")
            for sheet in book.worksheets
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None
        ]
    with path.open(encoding="utf-8-sig", newline="") as fh:  # a bare CR ends a row, as in a spreadsheet
        return [(cell, False) for row in csv.reader(fh) for cell in row]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Run every CSV and xlsx writer on hostile inputs; return the output files and the hostile names."""
    pytest.importorskip("openpyxl")
    pytest.importorskip("xlsxwriter")
    work = tmp_path_factory.mktemp("hostile")
    names, ids = Names(), Names(ids=True)
    ex = ROOT / "examples"
    s1 = hostile_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml", work / "s1.yaml", names)
    records = rewrite_csv(ex / "sales_rep_monthly" / "records.csv", work / "records.csv", ids, ["subject", "name"])
    members = rewrite_csv(ex / "sales_rep_monthly" / "members.csv", work / "members.csv", ids, ["member", "parent"])
    dash = hostile_ruleset(ROOT / "rulesets" / "sales_dashboard_monthly.yaml", work / "dash.yaml", names)
    dash_records = rewrite_csv(
        ex / "sales_dashboard_monthly" / "records.csv", work / "dash.csv", ids, ["subject", "name"]
    )
    dash_events = rewrite_csv(ex / "sales_dashboard_monthly" / "events.csv", work / "dash_ev.csv", ids, ["rep"])
    events = rewrite_csv(
        ex / "attribution" / "events.csv", work / "events.csv", ids, ["event_id", "rep", "customer", "deal_id"]
    )
    floor = rewrite_csv(ex / "attribution" / "floor.csv", work / "floor.csv", ids, ["event_id", "customer"])
    plan = hostile_plan(ex / "plan" / "plan_2026.yaml", work / "plan.yaml", names, ids)
    year = hostile_plan(ex / "year" / "plan_2026.yaml", work / "year.yaml", names, ids)
    actuals = [
        str(rewrite_csv(ex / "year" / f"{name}.csv", work / f"{name}.csv", ids, ["subject", "name"]))
        for name in ("actuals_2026", "company_spend_2026")
    ]
    s1_args = [str(s1), "--records", str(records)]
    runs = {
        "evaluate_row.csv": ["evaluate", *s1_args, "--members", str(members), "--format", "csv", "--engine", "row"],
        "evaluate_columnar.csv": ["evaluate", *s1_args, "--format", "csv", "--engine", "columnar"],
        "evaluate_zh.csv": ["evaluate", *s1_args, "--members", str(members), "--format", "csv", "--lang", "zh"],
        "evaluate.xlsx": ["evaluate", *s1_args, "--members", str(members), "--format", "xlsx"],
        "evaluate_ids.xlsx": ["evaluate", *s1_args, "--format", "xlsx", "--ids", "--lang", "zh"],
        "attribute.csv": ["attribute", str(ex / "attribution" / "policy.yaml"), "--events", str(events),
                          "--format", "csv"],
        "alerts.csv": ["alerts", str(dash), "--records", str(dash_records), "--events", str(dash_events),
                       "--period", "2026-05", "--format", "csv"],
        "alerts_events.csv": ["alerts", str(dash), "--records", str(dash_records), "--events", str(dash_events),
                              "--period", "2026-05", "--format", "events"],
        "rotation.csv": ["rotation", str(ex / "attribution" / "policy.yaml"), "--events", str(floor), "--format", "csv"],
        "plan.csv": ["plan", str(plan)],
        "plan.xlsx": ["plan", str(plan), "--format", "xlsx"],
        "track.csv": ["track", str(year), "--actuals", *actuals, "--level", "year", "month", "--format", "csv"],
        "track_events.csv": ["track", str(year), "--actuals", *actuals, "--format", "events"],
    }  # fmt: skip
    files = {}
    for name, argv in runs.items():
        out = work / name
        assert main([*argv, "--out", str(out)]) == 0, name
        files[name] = out
    return files, {**names.made, **ids.made}


@pytest.mark.parametrize(
    "name",
    [
        "evaluate_row.csv",
        "evaluate_columnar.csv",
        "evaluate_zh.csv",
        "evaluate.xlsx",
        "evaluate_ids.xlsx",
        "attribute.csv",
        "alerts.csv",
        "alerts_events.csv",
        "rotation.csv",
        "plan.csv",
        "plan.xlsx",
        "track.csv",
        "track_events.csv",
    ],
)
def test_no_cell_reads_back_as_a_formula(outputs, name):
    """Every cell of the output is plain text or a number; the hostile ids and titles are there, guarded."""
    files, made = outputs
    cells = cells_of(files[name])
    assert cells
    assert not [text for text, formula in cells if formula], "formula cells"
    assert not [text for text, _ in cells if live(text)], "cells a spreadsheet would run"
    guarded = {text for text, _ in cells if text.startswith("'") and live(text[1:])}
    hostile = set(made.values())
    assert any(text[1:].split("#")[0] in HOSTILE for text in guarded)
    shown = {text[1:] for text in guarded} & hostile
    assert shown, "the hostile text reached the output (guarded), or the test checked nothing"
