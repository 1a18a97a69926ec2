"""Lead logs under an address-space limit and from several threads: a result or a KpiError, never an abort.

Polars aborts the process (SIGABRT) or hangs when an allocation fails, so each limited run happens
in a subprocess with a timeout. The limit is 1 GiB, as in the report that found the abort; the
logs are small, since Polars alone used to exhaust such a limit before reading a row.
"""

import hashlib
import json
import subprocess
import sys
import textwrap
import threading

import pytest

from kpi_engine.attribution import attribute, format_attribution, parse_policy, read_events, read_log

pytest.importorskip("polars")

POLICY = "policy: p\n"
LIMIT = 1 << 30


def write_log(path, n=3000):
    """A deterministic log: registrations, follow-ups, deals by owners and others, claims."""
    lines = ["event_id,type,at,rep,customer,deal_id,amount,courtesy"]
    for i in range(n // 5):
        day = 1 + i % 27
        owner, other = f"r{i % 7}", f"r{(i + 3) % 7}"
        c = f"c{i:05d}"
        lines += [
            f"e{i:05d}a,registration,2026-03-{day:02d}T09:00:00,{owner},{c},,,",
            f"e{i:05d}b,follow_up,2026-04-{day:02d}T10:00:00,{owner},{c},,,",
            f"e{i:05d}c,deal,2026-03-{day:02d}T15:00:00,{other if i % 2 else owner},{c},D{i:05d},{i}.50,",
            f"e{i:05d}d,claim,2026-03-{day:02d}T16:00:00,{owner},,D{i:05d},,",
            f"e{i:05d}e,reception,2026-03-{day:02d}T12:00:00,{other},{c},,,{'true' if i % 3 else ''}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def limited(code, *args):
    """Run Python ``code`` under a 1 GiB address-space limit; return the completed process."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, resource.RLIM_INFINITY))\n"
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", prelude + textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def log(tmp_path):
    return write_log(tmp_path / "log.csv")


@pytest.fixture
def expected(log):
    policy = parse_policy(POLICY)
    return format_attribution(attribute(policy, read_events(log, policy), engine="reference"), "json")


def test_kpi_attribute_under_a_1_gib_address_space_limit_exits_cleanly_with_the_right_credits(tmp_path, log, expected):
    """Under ulimit -v 1 GiB, `kpi attribute` (engine auto) succeeds and writes the reference's JSON."""
    policy, out = tmp_path / "policy.yaml", tmp_path / "out.json"
    policy.write_text(POLICY, encoding="utf-8")
    proc = limited(
        """
        import sys
        from kpi_engine.cli import main
        sys.exit(main(["attribute", sys.argv[1], "--events", sys.argv[2], "--out", sys.argv[3]]))
        """,
        policy,
        log,
        out,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text(encoding="utf-8") == expected


def test_the_vectorised_engine_under_a_small_limit_is_refused_with_a_message(tmp_path, log):
    """Asked for explicitly under 1 GiB, the vectorised engine is a one-line error (exit 1), not an abort."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    proc = limited(
        """
        import sys
        from kpi_engine.cli import main
        sys.exit(main(["attribute", sys.argv[1], "--events", sys.argv[2], "--engine", "vectorised"]))
        """,
        policy,
        log,
    )
    assert proc.returncode == 1
    assert "address-space limit" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_four_threads_reading_logs_under_the_limit_give_the_serial_result(log, expected):
    """Four threads reading and attributing at once under 1 GiB: no abort, each gets the serial JSON."""
    proc = limited(
        """
        import hashlib, sys, threading
        from kpi_engine.attribution import attribute, format_attribution, parse_policy, read_log
        policy = parse_policy("policy: p\\n")
        out = []
        def work():
            result = attribute(policy, read_log(sys.argv[1], policy))
            out.append(hashlib.sha256(format_attribution(result, "json").encode()).hexdigest())
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(" ".join(out))
        """,
        log,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [digest(expected)] * 4


def test_four_threads_with_the_vectorised_engine_give_the_serial_result(log, expected):
    """Without a limit, four threads on the column-wise path at once each get the reference's JSON."""
    policy = parse_policy(POLICY)
    out = []

    def work():
        result = attribute(policy, read_log(log, policy, "vectorised"), engine="vectorised")
        out.append(format_attribution(result, "json"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [expected] * 4
    assert json.loads(expected)["credits"]
