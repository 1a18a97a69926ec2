"""Choosing a version from a folder reads each file's header only, and reads it as the YAML loader would.

``version_header`` takes the plain forms only when they are certain to be the document's own
top-level keys; any doubt (a value running onto the next line, a key repeated or set later, an
anchor, a tag, another line break) returns ``None`` and the file is parsed in full. So the header
of every file equals what a full parse says, and the ids and overlaps are checked on all of them.
"""

import contextlib
import datetime as dt
import io
from pathlib import Path

import pytest

from kpi_engine import RulesetError, parse_ruleset
from kpi_engine.audit.versions import VersionHeader, check_versions, choose_header, version_header
from kpi_engine.cli import main
from kpi_engine.cli._common import load_version
from kpi_engine.language import build

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "examples" / "versions" / "sales_rep_monthly"
V110 = (VERSIONS / "v1.1.0.yaml").read_text(encoding="utf-8")


def full(text, name="v.yaml"):
    return VersionHeader.of(parse_ruleset(text, name))


def dated(text, start, until=None, version=None):
    effective = f"{{from: {start}, until: {until}}}" if until else f"{{from: {start}}}"
    text = text.replace("effective: {from: 2026-03-01}", f"effective: {effective}")
    return text.replace('version: "1.1.0"', f'version: "{version}"') if version else text


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_header_of_each_shipped_version_is_what_a_full_parse_reads(path):
    """id, version, effective dates, period kind and the locations of the shipped versions, as parsed in full."""
    text = path.read_text(encoding="utf-8")
    header = version_header(text, path.name)
    assert header is not None
    parsed = full(text, path.name)
    assert header == parsed
    assert header.where("ruleset") == parsed.where("ruleset")
    assert header.where("effective.from") == parsed.where("effective.from")


@pytest.mark.parametrize(
    "text",
    [
        V110.replace('version: "1.1.0"', "version: '1.1.0'"),
        V110.replace('version: "1.1.0"', "version: 1.1.0"),
        V110.replace('version: "1.1.0"', 'version: "1.1.0"   # the March change'),
        V110.replace("effective: {from: 2026-03-01}", "effective: {from: 2026-03-01, until: 2026-12-31}"),
        V110.replace("ruleset: sales_rep_monthly", "ruleset:   sales_rep_monthly"),
    ],
    ids=["single quotes", "plain", "comment", "until", "spaces"],
)
def test_plain_forms_read_as_the_loader_reads_them(text):
    """Quoted, plain and commented values and both date forms give what a full parse gives."""
    header = version_header(text, "v.yaml")
    assert header is not None
    assert header == full(text)
    assert header.where("effective.from") == full(text).where("effective.from")


@pytest.mark.parametrize(
    "text",
    [
        V110.replace("title: ", 'title: "x\nversion: 9.9.9"\nname: ', 1),  # a quoted value runs on at column 0
        V110.replace("title: ", "title: {a: 1,\nversion: 9.9.9}\nname: ", 1),  # a flow mapping runs on
        V110 + 'version: "9.9.9"\n',  # the key again, later
        V110 + '"version": "9.9.9"\n',  # a quoted key later
        V110 + "<<: {version: 9.9.9}\n",  # a merge key
        V110.replace("effective: {from: 2026-03-01}", "effective:\n  from: 2026-03-01"),  # block form
        V110.replace("effective: {from: 2026-03-01}", 'effective: {from: "2026-03-01"}'),  # quoted date
        V110.replace('version: "1.1.0"', "version: 1.1"),  # a number to the loader
        V110.replace('version: "1.1.0"', "version: &v 1.1.0"),  # an anchor
        V110.replace("ruleset: sales_rep_monthly", "ruleset: !!str sales_rep_monthly"),  # a tag
        V110.replace("period: month", "period: null"),
        V110.replace("ruleset: sales_rep_monthly", "ruleset: null"),
        V110.replace("\n", "\r\n"),
        V110.replace("title: ", "title: a\u2028version: 9.9.9 ", 1),  # a line break YAML counts
        "---\n" + V110,
        V110.replace("effective: {from: 2026-03-01}\n", "") + "effective: {from: 2026-03-01}\n",  # late header key
    ],
    ids=[
        "quoted run-on", "flow run-on", "repeated key", "quoted key", "merge", "block effective", "quoted date",
        "numeric version", "anchor", "tag", "null period", "null id", "CRLF", "U+2028", "document marker", "late key",
    ],
)  # fmt: skip
def test_anything_unusual_is_left_to_the_full_parse(text):
    """Any form the scan is not certain of returns None: that file is parsed in full."""
    assert version_header(text, "v.yaml") is None


def write_folder(folder, count):
    """``count`` monthly versions from 2000-01 on, the last one open-ended."""
    folder.mkdir()
    start = dt.date(2000, 1, 1)
    for i in range(count):
        nxt = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
        until = None if i == count - 1 else nxt - dt.timedelta(days=1)
        (folder / f"v{i:04d}.yaml").write_text(dated(V110, start, until, f"1.{i}.0"), encoding="utf-8")
        start = nxt
    return folder


def test_only_the_chosen_version_is_parsed_in_full(tmp_path, monkeypatch):
    """200 versions: one full parse (the chosen one), the right version for the period."""
    folder = write_folder(tmp_path / "versions", 200)
    calls = []
    real = build.parse_ruleset
    monkeypatch.setattr(build, "parse_ruleset", lambda text, file: calls.append(file) or real(text, file))
    with contextlib.redirect_stderr(io.StringIO()):
        ruleset, text = load_version(str(folder), "2010-05")
    assert ruleset.version == "1.124.0"
    assert calls == [str(folder / "v0124.yaml")]
    assert "2010-05-01" in text


def test_a_file_the_scan_leaves_is_parsed_and_still_checked(tmp_path):
    """A version written in block form is parsed in full; its overlap with a scanned one is found and located."""
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "v1.yaml").write_text(dated(V110, "2026-01-01", "2026-07-31", "1.0.0"), encoding="utf-8")
    block = dated(V110, "2026-07-01", None, "2.0.0").replace(
        "effective: {from: 2026-07-01}", "effective:\n  from: 2026-07-01"
    )
    (folder / "v2.yaml").write_text(block, encoding="utf-8")
    assert version_header(block, "v2.yaml") is None
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["evaluate", str(folder), "--period", "2026-03", "--records",
                     str(ROOT / "examples" / "sales_rep_monthly" / "records.csv")])  # fmt: skip
    assert code == 1
    assert f"{folder / 'v2.yaml'}:13:9: effective.from: version 2.0.0 (effective 2026-07-01 onwards) overlaps" in (
        err.getvalue()
    )


def test_headers_and_full_parses_give_the_same_issues():
    """Another ruleset id and overlapping dates: the same codes and locations from headers as from rulesets."""
    a = dated(V110, "2026-01-01", "2026-07-31", "1.0.0")
    b = dated(V110, "2026-07-01", None, "2.0.0").replace("ruleset: sales_rep_monthly", "ruleset: other")
    c = dated(V110, "2026-06-01", None, "3.0.0")
    texts = {"a.yaml": a, "b.yaml": b, "c.yaml": c}
    headers = [version_header(t, n) for n, t in texts.items()]
    rulesets = [parse_ruleset(t, n) for n, t in texts.items()]
    assert all(headers)
    as_headers = [(i.code, str(i.location), i.message) for i in check_versions(headers)]
    assert as_headers == [(i.code, str(i.location), i.message) for i in check_versions(rulesets)]
    assert [c for c, _, _ in as_headers] == ["mixed_rulesets", "overlapping_versions"]
    with pytest.raises(RulesetError):
        choose_header(headers, "2026-03")


def test_a_broken_version_not_in_effect_does_not_block_the_period(tmp_path):
    """A version with a bad KPI is only read for its header unless it is chosen; chosen, its errors are located."""
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "v1.yaml").write_text(
        dated(V110, "2026-01-01", "2026-02-28", "1.0.0").replace("method: attainment", "method: attainmnt", 1),
        encoding="utf-8",
    )
    (folder / "v2.yaml").write_text(dated(V110, "2026-03-01", None, "2.0.0"), encoding="utf-8")
    with contextlib.redirect_stderr(io.StringIO()):
        assert load_version(str(folder), "2026-03")[0].version == "2.0.0"
        with pytest.raises(RulesetError, match=r"v1.yaml:\d+:\d+: kpis\[0\].method"):
            load_version(str(folder), "2026-02")
