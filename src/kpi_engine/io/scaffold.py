"""``kpi init``: a new project folder from a template — a commented ruleset, example data and cases.

Templates are the shipped rulesets with their example data (a test keeps them identical):
``s1`` rep monthly table, ``s2`` supervisor scorecard (quarterly, five dimensions, from events and a plan),
``s5`` department KPIs (rolled up through teams). The embedded ``cases`` pass ``kpi test``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kpi_engine.errors import KpiError
from kpi_engine.io.output import write_file

TEMPLATES = {
    "s1": "S1 rep monthly appraisal table",
    "s2": "S2 supervisor scorecard, five dimensions (quarterly, with events)",
    "s5": "S5 department KPIs, rolled up through teams",
}
RUN = {
    "s1": "kpi evaluate ruleset.yaml --records records.csv --members members.csv",
    "s2": "kpi evaluate ruleset.yaml --records reps.csv teams.csv --members members.csv "
    "--events events.csv alerts.csv --plan plan.yaml",
    "s5": "kpi evaluate ruleset.yaml --records records.csv --members members.csv",
}


def scaffold(directory: str | Path, template: str = "s1") -> list[Path]:
    """Write the template's files into ``directory`` (created if needed); never overwrite a file.

    Returns:
        The paths written, ruleset first.

    Raises:
        KpiError: for an unknown template or when a file to write already exists.
    """
    if template not in TEMPLATES:
        raise KpiError(f"unknown template '{template}' (choose from {', '.join(TEMPLATES)})")
    target = Path(directory)
    source = resources.files("kpi_engine") / "templates" / template
    names = sorted((f.name for f in source.iterdir() if f.is_file()), key=lambda n: (n != "ruleset.yaml", n))
    clashes = [n for n in names if (target / n).exists()]
    if clashes:
        raise KpiError(f"{target}: would overwrite {', '.join(clashes)}; choose an empty folder")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        text = (source / name).read_text(encoding="utf-8")
        if name == "ruleset.yaml":
            text = (
                f"# Scaffolded by `kpi init --template {template}` ({TEMPLATES[template]}).\n"
                "# Check it: `kpi validate ruleset.yaml`; run its cases: `kpi test ruleset.yaml`;\n"
                f"# appraise the example data: `{RUN[template]}`.\n" + text
            )
        path = target / name
        write_file(path, text)
        written.append(path)
    return written
