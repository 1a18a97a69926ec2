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


# --- Issue 19: one colour meaning, people never split across printed pages, statements ---------------------

S1 = ["rulesets/sales_rep_monthly.yaml", "--records", "examples/sales_rep_monthly/records.csv",
      "--members", "examples/sales_rep_monthly/members.csv"]  # fmt: skip


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded here."""
    import struct
    import zlib

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    assert colour in {2, 6}
    step = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            corner = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(b for j, b in enumerate(line) if step == 3 or j % 4 != 3))
        previous = line
    return width, height, rows


def colours_in(rows: list[bytes], box: tuple[int, int, int, int], palette: dict[str, tuple[int, int, int]]) -> set[str]:
    """Names of the palette colours drawn inside ``box`` (x, y, width, height): pixels within a small distance."""
    x0, y0, w, h = box
    found: set[str] = set()
    for y in range(max(y0, 0), min(y0 + h, len(rows))):
        line = rows[y]
        for x in range(max(x0, 0), min(x0 + w, len(line) // 3)):
            r, g, b = line[3 * x : 3 * x + 3]
            for name, (pr, pg, pb) in palette.items():
                if abs(r - pr) + abs(g - pg) + abs(b - pb) <= 24:
                    found.add(name)
    return found


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_each_colour_means_a_grade_in_every_chart(root, tmp_path, capsys):
    """In the S1 report the trend lines are drawn in their subjects' grade colours: no colour there means anything else.

    The ranking shows wang_fang's D in red; the trend chart may hold red only because wang_fang (D) is drawn
    there, and never C's orange (nobody has C), which the old line palette used for the fourth subject.
    """
    from kpi_engine.report.html import GRADE_COLOURS

    os.chdir(root)
    page = tmp_path / "s1.html"
    assert main(["evaluate", *S1, "--format", "html", "--history", "2026-02", "--lang", "zh", "--out", str(page)]) == 0
    capsys.readouterr()
    browser = chromium()
    dom = run_browser(browser, "--window-size=1280,1800", "--dump-dom", page.as_uri(), profile=tmp_path / "p1").stdout
    shot = tmp_path / "s1.png"
    run_browser(browser, "--window-size=1280,1800", f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "p2")
    _, _, rows = png_pixels(shot.read_bytes())
    boxes = {}
    for tag in re.findall(r'<svg class="chart"[^>]*>', dom):
        label = re.search(r'aria-label="([^"]*)"', tag).group(1)
        box = [int(re.search(rf'data-drawn-{k}="(-?\d+)"', tag).group(1)) for k in ("x", "y", "width", "height")]
        boxes.setdefault(label, tuple(box))
    palette = dict(zip("ABCD", map(_hex, GRADE_COLOURS[:4]), strict=True))
    ranking = colours_in(rows, boxes["排名"], palette)
    trend = colours_in(rows, boxes["总分趋势"], palette)
    assert ranking == {"A", "B", "D"}  # zhao_lei and zhang_wei A, li_na B, wang_fang D
    assert trend == {"A", "B", "D"}  # the same people, in the same colours
    assert "C" not in trend


def _pdf_pages(path: Path) -> tuple[list[bytes], dict[str, int]]:
    """The page objects of a Chromium PDF in order, and each named destination's page index (an anchor's page)."""
    data = path.read_bytes()
    objects = {m.group(1): m.group(2) for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", data, re.DOTALL)}

    def kids(ref: bytes) -> list[bytes]:
        body = objects[ref]
        if re.search(rb"/Type\s*/Pages\b", body):
            inner = re.search(rb"/Kids\s*\[(.*?)\]", body, re.DOTALL).group(1)
            return [page for kid in re.findall(rb"(\d+) 0 R", inner) for page in kids(kid)]
        return [ref]

    catalog = next(body for body in objects.values() if re.search(rb"/Type\s*/Catalog", body))
    pages = kids(re.search(rb"/Pages\s+(\d+) 0 R", catalog).group(1))
    where = {page: i for i, page in enumerate(pages)}
    dests = {  # the catalog's /Dests: /s0 [34 0 R /XYZ 0 560 0], one per anchor a link points to
        name.decode(): where[ref] for name, ref in re.findall(rb"/(\w+)\s*\[\s*(\d+) 0 R\s*/XYZ", data) if ref in where
    }
    return pages, dests


def test_each_subject_prints_on_one_page_of_its_own(report, tmp_path, root, capsys):
    """Printed, the S1 and S2 reports put each subject on a page of its own: card i starts on the page after card i-1's.

    Each card starts a new page, so a card split over two sheets would push the next card two pages on.
    """
    browser = chromium()
    os.chdir(root)
    s1 = tmp_path / "s1.html"
    assert main(["evaluate", *S1, "--format", "html", "--history", "2026-02", "--lang", "zh", "--out", str(s1)]) == 0
    capsys.readouterr()
    for page, subjects in ((report, 2), (s1, 4)):
        pdf = tmp_path / f"{page.stem}.pdf"
        run_browser(browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri(), profile=tmp_path / "p")
        pages, dests = _pdf_pages(pdf)
        starts = [dests[f"s{i}"] for i in range(subjects)]
        assert starts == list(range(starts[0], starts[0] + subjects)), (page.name, starts)
        assert starts[-1] == len(pages) - 1  # the last card ends the document: it did not spill over
        assert starts[0] <= 2  # the overview takes at most two sheets


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_statements_print_one_a4_portrait_page_per_person(root, tmp_path, capsys, lang):
    """kpi statement prints S1's four reps and S2's two teams on exactly one A4 portrait page each."""
    browser = chromium()
    os.chdir(root)
    for argv, people in ((S1, 4), (S2, 2)):
        page = tmp_path / f"statements_{people}.html"
        history = ["--history", "2026-02"] if people == 4 else ["--history", "2026-Q1"]
        assert main(["statement", *argv, *history, "--lang", lang, "--out", str(page)]) == 0
        capsys.readouterr()
        pdf = tmp_path / f"statements_{people}.pdf"
        run_browser(browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri(), profile=tmp_path / "p")
        data = pdf.read_bytes()
        boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
        assert len(boxes) == people
        assert all((round(float(w)), round(float(h))) == (595, 842) for w, h in boxes)
