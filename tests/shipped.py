"""The shipped S2 example's inputs as the library reads them (plan targets merged, the alert log beside the CRM log)."""

from pathlib import Path

from kpi_engine import read_table
from kpi_engine.io.targets import read_plan
from kpi_engine.time.targets import decompose, merge_plan

ROOT = Path(__file__).resolve().parent.parent
S2 = ROOT / "examples" / "sales_supervisor_quarterly"
# The command line that evaluates it (paths relative to the repository root).
S2_ARGS = [
    "rulesets/sales_supervisor_quarterly.yaml",
    "--records",
    "examples/sales_supervisor_quarterly/reps.csv",
    "examples/sales_supervisor_quarterly/teams.csv",
    "--members",
    "examples/sales_supervisor_quarterly/members.csv",
    "--events",
    "examples/sales_supervisor_quarterly/events.csv",
    "examples/sales_supervisor_quarterly/alerts.csv",
    "--plan",
    "examples/sales_supervisor_quarterly/plan.yaml",
]


def s2_inputs() -> dict:
    """``evaluate`` keyword arguments for the S2 example: records with the plan's targets, members, both logs."""
    records = [read_table(S2 / "reps.csv"), read_table(S2 / "teams.csv")]
    records = merge_plan(records, decompose(read_plan(S2 / "plan.yaml")), {"sales_target"}, "quarter")
    return {
        "records": records,
        "members": read_table(S2 / "members.csv"),
        "events": [read_table(S2 / "events.csv"), read_table(S2 / "alerts.csv")],
    }
