"""The adversarial corpus of issue 10 (tests/corpus/manifest.json), run through the kpi command.

A small fork server (a fresh interpreter that has imported ``kpi_engine.cli``, and never Polars,
whose thread pool must not be forked) runs each case's ``main(argv)`` in a forked child, so that
a crash of the interpreter (a segfault, an abort) fails its case instead of the test run, without
paying an interpreter start per case. The time bound is the runner's: a child still running after
``TIMEOUT`` seconds is killed and its case fails.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
CASES = {case["id"]: case for case in MANIFEST["cases"]}
TIMEOUT = 120  # seconds per case: generous; the slowest case takes a few seconds

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the runner forks")

SERVER = r"""
import json, os, signal, sys, time
import kpi_engine.attribution
from kpi_engine.cli import main
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            sys.stdout = open(job["out"], "w", encoding="utf-8")
            sys.stderr = open(job["err"], "w", encoding="utf-8")
            code = main(job["argv"])
        except BaseException as exc:
            sys.stderr.write(f"Traceback: the runner caught {type(exc).__name__}: {exc}\n")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + job["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = None
            break
        time.sleep(0.005)
    if status is None:
        result = f"still running after {job['timeout']} s"
    elif os.WIFSIGNALED(status):
        result = f"killed by signal {os.WTERMSIG(status)}"
    else:
        result = os.WEXITSTATUS(status)
    print(json.dumps(result), flush=True)
"""


@pytest.fixture(scope="module")
def server():
    """The fork server, started once for the module."""
    env = {k: v for k, v in os.environ.items() if k != "KPI_DEBUG"}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    yield proc
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=60)
    proc.stdout.close()


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


def _run(server, case) -> tuple[int | str, str, str]:
    """Run one case; return (exit code or what went wrong, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for name, spec in case.get("files", {}).items():
            _make(spec, tmp, name)
        argv = [a.format(root=ROOT, corpus=CORPUS, tmp=tmp) for a in case["argv"]]
        out, err = tmp / ".stdout", tmp / ".stderr"
        job = {"argv": argv, "out": str(out), "err": str(err), "timeout": TIMEOUT}
        server.stdin.write(json.dumps(job) + "\n")
        server.stdin.flush()
        result = json.loads(server.stdout.readline())

        def read(p: Path) -> str:
            return p.read_text(encoding="utf-8") if p.exists() else ""

        return result, read(out), read(err)


def test_corpus_covers_every_class_of_the_issue():
    """The manifest has cases for YAML, expressions, records, members, lead logs and output files."""
    prefixes = {case_id.split("_")[0] for case_id in CASES}
    assert {"yaml", "policy", "expr", "kpi", "records", "members", "events", "out"} <= prefixes
    assert len(CASES) == len(MANIFEST["cases"])


@pytest.mark.parametrize("case_id", list(CASES))
def test_corpus_case(case_id, server):
    """The case exits with its code, reports its error code, prints no traceback and does not crash."""
    case = CASES[case_id]
    code, out, err = _run(server, case)
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
