"""Every command under an address-space cap: a result or one line about memory, never an abort or a hang.

Polars aborts the process (SIGABRT) when an allocation fails and CPython 3.11 can spin for ever
when the heap is exhausted, so each capped run happens in a subprocess, with a timeout that only
stops a hang (no timing is asserted).
"""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from kpi_engine.cli import main

pytest.importorskip("polars")

GIB = 1 << 30
S1 = ["rulesets/sales_rep_monthly.yaml", "--records", "examples/sales_rep_monthly/records.csv"]
S1_MEMBERS = [*S1, "--members", "examples/sales_rep_monthly/members.csv"]
S2 = [
    "rulesets/sales_supervisor_quarterly.yaml",
    "--records", "examples/sales_supervisor_quarterly/reps.csv", "examples/sales_supervisor_quarterly/teams.csv",
    "--members", "examples/sales_supervisor_quarterly/members.csv",
    "--plan", "examples/sales_supervisor_quarterly/plan.yaml",
    "--events", "examples/sales_supervisor_quarterly/events.csv", "examples/sales_supervisor_quarterly/alerts.csv",
]  # fmt: skip
VERSIONS = "examples/versions/sales_rep_monthly"


def capped(code, *args, limit=GIB, cwd=None, stdin=None, env=None):
    """Run Python ``code`` with ``RLIMIT_AS`` set to ``limit`` before anything is imported."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, resource.RLIM_INFINITY))\n"
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", prelude + textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
        stdin=stdin,
        env=env,
    )


def commands(out):
    """The main commands on the shipped examples, each writing to a file in ``out``."""
    record = f"{out}/s1.record.json"
    return [
        ["validate", "rulesets/sales_rep_monthly.yaml", "examples/attribution/policy.yaml",
         "examples/plan/plan_2026.yaml"],
        ["evaluate", *S1_MEMBERS, "--out", f"{out}/s1.txt"],
        ["evaluate", *S1, "--format", "json", "--out", f"{out}/s1.json"],
        ["evaluate", *S1, "--format", "csv", "--engine", "columnar", "--out", f"{out}/s1c.csv"],
        ["evaluate", *S1, "--format", "csv", "--engine", "row", "--out", f"{out}/s1r.csv"],
        ["evaluate", *S1, "--format", "jsonl", "--out", f"{out}/s1.jsonl"],
        ["evaluate", *S1_MEMBERS, "--format", "html", "--out", f"{out}/s1.html"],
        ["evaluate", *S1_MEMBERS, "--format", "xlsx", "--out", f"{out}/s1.xlsx"],
        ["evaluate", *S1, "--format", "parquet", "--out", f"{out}/s1.parquet"],
        ["evaluate", *S1_MEMBERS, "--record", record],
        ["replay", record],
        ["evaluate", *S2, "--format", "json", "--out", f"{out}/s2.json"],
        ["evaluate", "rulesets/sales_department.yaml", "--records", "examples/sales_department/records.csv",
         "--members", "examples/sales_department/members.csv", "--out", f"{out}/s5.txt"],
        ["explain", *S1, "--subject", "wang_fang", "--out", f"{out}/explain.txt"],
        ["evaluate", VERSIONS, "--period", "2026-03", *S1[1:], "--out", f"{out}/v.txt"],
        ["diff", f"{VERSIONS}/v1.0.0.yaml", f"{VERSIONS}/v1.1.0.yaml", *S1[1:], "--out", f"{out}/diff.txt"],
        ["impact", f"{VERSIONS}/v1.0.0.yaml", f"{VERSIONS}/v1.1.0.yaml", *S1_MEMBERS[1:], "--out", f"{out}/imp.txt"],
        ["alerts", "rulesets/sales_dashboard_monthly.yaml", "--records", "examples/sales_dashboard_monthly/records.csv",
         "--events", "examples/sales_dashboard_monthly/events.csv", "--period", "2026-05", "--out", f"{out}/al.txt"],
        ["attribute", "examples/attribution/policy.yaml", "--events", "examples/attribution/events.csv",
         "--out", f"{out}/credits.json"],
        ["attribute", "examples/attribution/policy.yaml", "--events", "examples/attribution/events.csv",
         "--format", "csv", "--engine", "vectorised", "--out", f"{out}/credits.csv"],
        ["calendar", "2026", "--out", f"{out}/cal.txt"],
        ["plan", "examples/plan/plan_2026.yaml", "--out", f"{out}/plan.csv"],
        ["plan", "examples/plan/plan_2026.yaml", "--format", "xlsx", "--out", f"{out}/plan.xlsx"],
        ["track", "examples/year/plan_2026.yaml", "--actuals", "examples/year/actuals_2026.csv",
         "examples/year/company_spend_2026.csv", "--risks", "examples/year/risks_2026.yaml", "--format", "html",
         "--out", f"{out}/year.html"],
        ["track", "examples/year/plan_2026.yaml", "--actuals", "examples/year/actuals_2026.csv",
         "examples/year/company_spend_2026.csv", "--format", "csv", "--out", f"{out}/track.csv"],
        ["risks", "examples/year/risks_2026.yaml", "--as-of", "2026-06-30", "--out", f"{out}/risks.txt"],
        ["territories", "examples/year/accounts_2026.csv", "--design", "examples/year/territories_2026.yaml",
         "--out", f"{out}/territories.txt"],
        ["test", "rulesets"],
        ["schema", "--out", f"{out}/schema.json"],
    ]  # fmt: skip


def test_the_main_commands_on_the_examples_under_a_1_gib_cap_exit_cleanly(root, tmp_path):
    """Under RLIMIT_AS = 1 GiB every main command on the shipped examples succeeds, in one process after another."""
    cmds = commands(tmp_path)
    proc = capped(
        """
        import contextlib, io, json, sys
        from kpi_engine.cli import main
        codes = []
        for argv in json.loads(sys.argv[1]):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                codes.append([argv[0], main(argv), err.getvalue()[-300:]])
        print(json.dumps(codes))
        """,
        json.dumps(cmds),
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout)
    expected = [1 if argv[0] == "attribute" and "vectorised" in argv else 0 for argv in cmds]
    assert [c[1] for c in codes] == expected, codes
    refused = expected.index(1)
    assert "address-space limit" in codes[refused][2]  # the vectorised attribution engine is refused, in one line


def test_the_columnar_engine_under_a_cap_gives_the_bytes_it_gives_without(root, tmp_path):
    """`kpi evaluate --engine columnar` under 1 GiB (exit 134 before) writes what it writes without a cap."""
    out = tmp_path / "capped.csv"
    proc = capped(
        "import sys\nfrom kpi_engine.cli import main\nsys.exit(main(sys.argv[1:]))\n",
        "evaluate", *S1, "--format", "csv", "--engine", "columnar", "--out", out,
        cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    os.chdir(root)
    free = tmp_path / "free.csv"
    assert main(["evaluate", *S1, "--format", "csv", "--engine", "columnar", "--out", str(free)]) == 0
    assert out.read_bytes() == free.read_bytes()


def test_under_a_cap_polars_starts_with_one_thread_and_one_malloc_arena():
    """Importing kpi_engine under a cap asks Polars and BLAS for one thread (an explicit setting is kept)."""
    env = {k: v for k, v in os.environ.items() if k not in {"POLARS_MAX_THREADS", "OPENBLAS_NUM_THREADS"}}
    code = "import os, kpi_engine\nprint(os.environ.get('POLARS_MAX_THREADS'), os.environ.get('OPENBLAS_NUM_THREADS'))"
    assert capped(code, env=env).stdout.split() == ["1", "1"]
    assert capped(code, env={**env, "POLARS_MAX_THREADS": "2"}).stdout.split() == ["2", "1"]
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # noqa: S603
    assert free.stdout.split() == ["None", "None"]


def test_an_endless_input_under_a_cap_ends_with_one_line_about_memory(root):
    """Rows streamed without end into `kpi evaluate --engine row` under a cap: exit 1, one line, no spin at the cap."""
    row = "r{:07d},2026-03,100000,90000,5,3,10,50,1,80,8,7,10,9,5,4\n"
    header = (
        "subject,period,sales_target,sales_actual,weekly_orders,new_customers,visits_existing,phone_calls,"
        "lost_customers,conduct_score,plans_due,plans_done,resource_requests,resource_replies,lead_registrations,"
        "timely_follow_ups\n"
    )
    chunk = "".join(row.format(i) for i in range(20_000)).encode()
    code = (
        f"import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, ({384 << 20}, resource.RLIM_INFINITY))\n"
        "from kpi_engine.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    argv = [sys.executable, "-c", code, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", "/dev/stdin"]
    with subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [*argv, "--engine", "row"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root
    ) as child:
        # A child stuck at the cap stops reading, and a blocked write would then wait for ever (CI once
        # timed out so): past 600 s it is killed, which ends the writes and fails the test instead.
        stopper = threading.Timer(600, child.kill)
        stopper.start()
        try:
            child.stdin.write(header.encode())
            while child.poll() is None:
                child.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            stopper.cancel()
            with contextlib.suppress(BrokenPipeError):
                child.stdin.close()
        err = child.stderr.read().decode()
        assert child.wait(timeout=600) == 1
    assert err.strip().splitlines() == [
        "kpi: not enough memory for this input (raise the memory limit, or split the input)"
    ]


def test_the_memory_guard_turns_heap_exhaustion_in_a_with_block_into_a_memory_error():
    """Small objects exhausting the heap inside a `with` block raise MemoryError instead of spinning at the cap.

    Without the guard this very loop spins for ever: unwinding out of the `with` needs a new int for
    an instruction offset above 256, and CPython 3.11 retries the unwinding when that allocation fails.
    """
    proc = capped(
        """
        import contextlib
        from kpi_engine._limits import memory_guard
        src = "def pile():\\n" + "".join(f"    v{i} = {i}\\n" for i in range(300)) + (
            "    chain, i = None, 1000\\n"
            "    with contextlib.suppress(KeyError):\\n"
            "        while True:\\n"
            "            i += 1\\n"
            "            chain = (chain, i)\\n"
        )
        exec(src)
        try:
            with memory_guard():
                pile()
        except MemoryError:
            print("MemoryError")
        """,
        limit=256 << 20,
    )
    assert proc.stdout.split() == ["MemoryError"], proc.stderr[-2000:]


def test_a_guard_that_cannot_even_look_fires_and_then_exits_with_one_line():
    """At the cap the watcher's own look at the address space can fail with MemoryError (seen in CI).

    That counts as the cap: the watcher raises MemoryError in the watched thread, prints no
    traceback of its own, and when the thread stays stuck it ends the process with the one line.
    """
    code = """
        import threading, time
        from kpi_engine import _limits

        def no_memory():
            raise MemoryError

        _limits.address_space_used = no_memory  # every look fails, as at the cap
        try:  # entered first: the watcher's first look comes at once
            guard = _limits._Guard(1 << 40, threading.get_ident())
            while True:
                time.sleep(0.01)
        except MemoryError:
            print("fired", flush=True)
        while True:  # stuck at the cap: the guard must end the process
            time.sleep(0.01)
        """
    proc = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 1
    assert proc.stdout.split() == ["fired"]
    assert proc.stderr.strip().splitlines() == [
        "kpi: not enough memory for this input (raise the memory limit, or split the input)"
    ]


def test_a_guard_below_the_cap_fires_nothing_and_stops_when_asked():
    """Below the threshold the watcher only looks; after `stopped` it ends within a poll."""
    import threading

    from kpi_engine import _limits

    guard = _limits._Guard(1 << 50, threading.get_ident())
    guard.stop()
    assert not guard.thread.is_alive()
    assert (guard.polls, guard.fired) == (0, False)
    assert guard.ballast is not None  # held until the cap, which never came


@pytest.mark.parametrize("attempt", range(3))
def test_an_endless_input_under_a_cap_ends_with_one_line_about_memory_every_time(root, attempt):  # noqa: ARG001
    """The endless-input run again: the guard's race with the main thread at the cap must hold every time."""
    test_an_endless_input_under_a_cap_ends_with_one_line_about_memory(root)


def test_a_watched_loop_gets_a_memory_error_near_the_cap_in_its_own_thread():
    """Rows piled up through `watched` raise MemoryError from the loop itself, before the cap, with no guard."""
    proc = capped(
        """
        from kpi_engine._limits import watched
        import itertools
        rows = []
        try:
            for i in watched(itertools.count()):
                rows.append(("row", i, str(i) * 20))
        except MemoryError:
            rows = None
            print("MemoryError")
        """,
        limit=256 << 20,
    )
    assert proc.stdout.split() == ["MemoryError"], proc.stderr[-2000:]


def test_watched_is_the_iterable_itself_without_a_limit_and_yields_every_item_under_one():
    """No limit: `watched` returns its argument untouched; under a roomy cap it yields each item, in order."""
    from kpi_engine import _limits

    items = [1, 2, 3]
    if _limits.address_space_limit() is None:
        assert _limits.watched(items) is items
    proc = capped(
        "from kpi_engine._limits import watched\nprint(sum(watched(range(10_001), every=7)), flush=True)",
        limit=8 * GIB,
    )
    assert proc.stdout.split() == [str(sum(range(10_001)))], proc.stderr[-2000:]


def test_a_run_stuck_holding_the_interpreter_lock_is_ended_by_the_backstop():
    """When no Python thread can run (the lock held for ever at the cap), faulthandler ends the run: exit 1.

    A C call made through ``ctypes.PyDLL`` keeps the lock, as CPython's spin at the cap does; the
    backstop is shortened to 2 s here so that the 60 s call outlasts it (it would print "survived").
    """
    proc = capped(
        """
        import ctypes
        from kpi_engine import _limits
        _limits._BACKSTOP = 2
        with _limits.memory_guard():
            ctypes.PyDLL(None).sleep(60)  # libc's sleep, the interpreter lock held throughout
        print("survived")
        """,
        limit=8 * GIB,
    )
    assert proc.returncode == 1
    assert "survived" not in proc.stdout
    assert proc.stderr.strip()  # faulthandler's report: the stacks of the stuck run, never silence


def test_a_stopped_guard_leaves_no_backstop_armed_to_end_the_process_later():
    """The backstop belongs to the guard: once a guard stops, nothing ends the process afterwards.

    CI once lost a whole test run this way: a test stopped a guard by hand, the backstop it had
    armed stayed armed, and 30 s later faulthandler ended pytest with exit 1 and no summary.
    """
    proc = capped(
        """
        import threading, time
        from kpi_engine import _limits
        _limits._BACKSTOP = 1
        with _limits.memory_guard():
            pass
        _limits._Guard(1 << 50, threading.get_ident()).stop()
        time.sleep(3)  # three backstops' worth
        print("survived")
        """,
        limit=8 * GIB,
    )
    assert (proc.returncode, proc.stdout.split()) == (0, ["survived"]), proc.stderr[-2000:]


def test_the_api_refuses_the_columnar_engine_when_the_cap_leaves_too_little_room(root):
    """evaluate(engine="columnar") with less room than Polars needs is a KpiError; engine auto gives the row result."""
    proc = subprocess.run(  # noqa: S603 - the cap is set from the address space in use, after the imports
        [sys.executable, "-c", textwrap.dedent(
            """
            import resource
            import numpy, polars  # loaded, not yet run: their thread pools start on first use
            from kpi_engine import KpiError, evaluate, load_ruleset, read_table
            from kpi_engine._limits import address_space_used
            ruleset = load_ruleset("rulesets/sales_rep_monthly.yaml")
            rows = [{"subject": f"r{i}", "period": "2026-03", "sales_target": "100", "sales_actual": "90",
                     "weekly_orders": "5", "new_customers": "3", "visits_existing": "10", "phone_calls": "50",
                     "lost_customers": "1", "conduct_score": "80", "plans_due": "8", "plans_done": "7",
                     "resource_requests": "10", "resource_replies": "9", "lead_registrations": "5",
                     "timely_follow_ups": "4"} for i in range(2500)]
            limit = address_space_used() + (300 << 20)
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
            try:
                evaluate(ruleset, rows, engine="columnar")
            except KpiError as exc:
                print("refused:", "address-space limit" in str(exc))
            print("auto:", len(evaluate(ruleset, rows).results))
            """
        )],
        capture_output=True, text=True, timeout=600, check=False, cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["refused: True", "auto: 2500"]
