"""The adversarial corpus of issue 10 (tests/corpus/manifest.json), run through the kpi command.

Each case runs ``kpi_engine.cli.main`` in a forked child process, so that a crash of the
interpreter (a segfault, an abort) fails its case instead of the test run, without paying an
interpreter start per case. The time bound is the runner's: a child still running after
``TIMEOUT`` seconds is killed and its case fails.
"""

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

import kpi_engine.attribution  # noqa: F401 - imported once here, inherited by every forked case
from kpi_engine.cli import main

# Polars is not imported here: its thread pool must not be inherited by a fork.

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
CASES = {case["id"]: case for case in MANIFEST["cases"]}
TIMEOUT = 120  # seconds per case: generous; the slowest case takes a few seconds

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the runner forks")


def _make(spec, tmp: Path, name: str) -> None:
    """Write one generated corpus file (see the manifest's 'about')."""
    if "parts" in spec:
        text = "".join(part * count for part, count in spec["parts"])
    elif "from" in spec:
        text = (CORPUS / spec["from"]).read_text(encoding="utf-8")
        for old, new in spec["replace"]:
            assert old in text, (name, old)
            text = text.replace(old, new)
    else:
        levels = spec["chain"]
        rows = [f"n{i},n{i + 1},2026-03" for i in range(levels)] + ["r1,n0,2026-03"]
        text = "member,parent,period\n" + "\n".join(rows) + "\n"
    (tmp / name).write_text(text, encoding="utf-8")


def _child(argv: list[str], out: Path, err: Path) -> None:  # pragma: no cover - runs in the fork
    code = 70
    try:
        os.environ.pop("KPI_DEBUG", None)
        os.chdir(ROOT)
        sys.stdout = out.open("w", encoding="utf-8")
        sys.stderr = err.open("w", encoding="utf-8")
        code = main(argv)
    except BaseException as exc:  # noqa: BLE001 - reported as the child's stderr
        sys.stderr.write(f"Traceback: the runner caught {type(exc).__name__}: {exc}\n")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _run(case) -> tuple[int | str, str, str]:
    """Run one case; return (exit code or what went wrong, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for name, spec in case.get("files", {}).items():
            _make(spec, tmp, name)
        argv = [a.format(root=ROOT, corpus=CORPUS, tmp=tmp) for a in case["argv"]]
        out, err = tmp / ".stdout", tmp / ".stderr"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            _child(argv, out, err)
        deadline = time.monotonic() + TIMEOUT
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"still running after {TIMEOUT} s", "", ""
            time.sleep(0.005)
        read = lambda p: p.read_text(encoding="utf-8") if p.exists() else ""  # noqa: E731
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}", read(out), read(err)
        return os.WEXITSTATUS(status), read(out), read(err)


def test_corpus_covers_every_class_of_the_issue():
    """The manifest has cases for YAML, expressions, records, members, lead logs and output files."""
    prefixes = {case_id.split("_")[0] for case_id in CASES}
    assert {"yaml", "policy", "expr", "kpi", "records", "members", "events", "out"} <= prefixes
    assert len(CASES) == len(MANIFEST["cases"])


@pytest.mark.parametrize("case_id", list(CASES))
def test_corpus_case(case_id):
    """The case exits with its code, reports its error code, prints no traceback and does not crash."""
    case = CASES[case_id]
    code, out, err = _run(case)
    assert isinstance(code, int), f"{case_id}: {code}\n{err[-2000:]}"
    assert "Traceback" not in err
    assert "internal error" not in err
    assert code == case["exit"], err[-2000:]
    if "code" in case:
        assert f"[{case['code']}]" in err
    if "stderr" in case:
        assert case["stderr"] in err
    if "stdout" in case:
        assert case["stdout"] in out
    if case["exit"] != 0:
        assert err.strip(), "a rejection says why"
