"""The HTML report in a real headless Chromium: loads offline, draws its charts, logs nothing, prints A4 landscape.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it). In CI (``CI=true``) a missing
browser fails the test; elsewhere it skips with the reason. Artefacts (the screenshot and PDF) go
to ``tmp/artefacts/`` at the repository root (or ``$KPI_ARTEFACTS``).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.shipped import S2_ARGS

from kpi_engine.cli import main

S2 = S2_ARGS
# No network at all: every host resolves nowhere and any proxy use goes to a closed local port.
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost", "--proxy-server=127.0.0.1:9"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    reason = "headless Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser test")
    pytest.skip(reason)
    raise AssertionError  # pragma: no cover - skip raises


def run_browser(browser: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={profile}", *OFFLINE, *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)  # noqa: S603


@pytest.fixture
def report(root, tmp_path, capsys):
    os.chdir(root)
    out = tmp_path / "report.html"
    code = main(["evaluate", *S2, "--format", "html", "--history", "2026-Q1", "--lang", "zh", "--out", str(out)])
    assert code == 0
    capsys.readouterr()
    return out


@pytest.fixture
def artefacts(root):
    where = Path(os.environ.get("KPI_ARTEFACTS", root / "tmp" / "artefacts"))
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_report_draws_every_chart_with_no_console_message(report, artefacts, tmp_path):
    """Chromium loads the report offline; each SVG chart has a non-zero drawn size; the console stays silent."""
    browser = chromium()
    done = run_browser(
        browser, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri(), profile=tmp_path / "p1"
    )
    dom = done.stdout
    assert "<body" in dom, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console
    charts = re.findall(r'<svg class="chart"[^>]*>', dom)
    assert len(charts) == 4 + 2  # ranking, grades, sections, trend + one contribution chart per team
    for tag in charts:
        width = re.search(r'data-drawn-width="(\d+)"', tag)
        height = re.search(r'data-drawn-height="(\d+)"', tag)
        assert width, tag
        assert height, tag
        assert int(width.group(1)) > 0
        assert int(height.group(1)) > 0
    assert re.search(r'<body[^>]*data-charts-drawn="6"', dom)

    shot = artefacts / "report.png"
    shot.unlink(missing_ok=True)
    done = run_browser(
        browser, "--window-size=1400,2000", f"--screenshot={shot}", report.as_uri(), profile=tmp_path / "p2"
    )
    assert shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 20_000  # a drawn page, not a blank one


def test_report_prints_on_a4_landscape_pages(report, artefacts, tmp_path):
    """Printing to PDF gives A4 landscape pages (842 × 595 pt), as the print CSS asks."""
    browser = chromium()
    pdf = artefacts / "report.pdf"
    pdf.unlink(missing_ok=True)
    done = run_browser(
        browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report.as_uri(), profile=tmp_path / "p3"
    )
    assert pdf.exists(), done.stderr[-2000:]
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf.read_bytes())
    assert boxes
    for width, height in boxes:
        assert round(float(width)) == 842
        assert round(float(height)) == 595


def test_console_check_sees_an_error_on_a_broken_page(tmp_path):
    """The same browser run reports a script error on a page that has one (the check above can fail)."""
    browser = chromium()
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefined_function();</script></body></html>", encoding="utf-8")
    done = run_browser(browser, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri(), profile=tmp_path / "p")
    assert any(":CONSOLE" in line and "undefined_function" in line for line in done.stderr.splitlines())


def test_hostile_names_stay_text_in_the_browser(root, tmp_path):
    """Names carrying HTML and script stay text in Chromium: no request, no script, no console message."""
    from kpi_engine import evaluate, load_ruleset, read_table
    from kpi_engine.report import render

    browser = chromium()
    ruleset = load_ruleset(root / "rulesets/sales_rep_monthly.yaml")
    appraisal = evaluate(ruleset, read_table(root / "examples/sales_rep_monthly/records.csv"))
    hostile = {
        "li_na": "<img src=x onerror=alert(1)>",
        "zhang_wei": "</svg><script>document.title='pwned'</script>",
        "wang_fang": '" onmouseover="alert(2)',
    }
    page = tmp_path / "hostile.html"
    text = render(appraisal, "html", ruleset=ruleset, names=hostile)
    assert isinstance(text, str)
    page.write_text(text, encoding="utf-8")
    done = run_browser(browser, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri(), profile=tmp_path / "p")
    assert "<body" in done.stdout
    assert not [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert "pwned" not in re.search(r"<title>(.*?)</title>", done.stdout, re.DOTALL).group(1)
    assert "<img" not in done.stdout
    assert "&lt;img src=x onerror=alert(1)&gt;" in done.stdout
