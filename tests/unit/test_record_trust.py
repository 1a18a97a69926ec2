"""A run record is untrusted input: replay reads only what it may, recounts everything, and refuses to hang.

An auditor receives records from someone else. Replay must not read files outside the record's
folder (or ``--inputs DIR``), must not hang on a FIFO or eat memory on a device, must not take a
single figure of the record on trust, and must refuse a hostile shape with a located message. A
record that could not be replayed is refused when written.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from kpi_engine import KpiError, read_table
from kpi_engine.audit.record import _seal, input_path_problem, record_appraisal, record_attribution
from kpi_engine.audit.replay import MAX_DEPTH, load_record, replay
from kpi_engine.cli import main
from kpi_engine.io import records as record_io
from kpi_engine.io.records import resolver

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets" / "sales_rep_monthly.yaml"
RECORDS = ROOT / "examples" / "sales_rep_monthly" / "records.csv"
SECRET = "TOPSECRET_TOKEN=hunter2"  # noqa: S105 - a planted string that must never be shown


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def archive(tmp_path):
    """A digest record next to its input, and a secret file beside the archive folder."""
    folder = tmp_path / "archive"
    folder.mkdir()
    shutil.copy(RECORDS, folder / "records.csv")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    table = read_table(folder / "records.csv", name="records.csv")
    _, record = record_appraisal(S1.read_text(encoding="utf-8"), table, inputs="digest")
    path = folder / "run.json"
    path.write_bytes(record.to_bytes())
    return path


def resealed(data):
    """The record with its digests recomputed: what a forger able to rewrite every digest would send."""
    data = {k: v for k, v in data.items() if k not in {"digests", "sha256"}}
    return _seal(data).to_bytes()


def with_input_path(record_path, path):
    """A copy of the record whose first input names ``path``, digests recomputed."""
    data = json.loads(record_path.read_bytes())
    data["inputs"]["records"][0]["path"] = path
    forged = record_path.with_name("forged.json")
    forged.write_bytes(resealed(data))
    return forged


class TestInputsReadOnlyBelowTheRecord:
    """Replay reads an input kept by digest only from a regular file below the record's folder."""

    @pytest.mark.parametrize(
        "path", ["../outside/secret.txt", "/etc/passwd", "a/../../outside/secret.txt", "./records.csv", "a\\b.csv", ""]
    )
    def test_a_path_leaving_the_folder_is_refused_before_anything_is_read(self, capsys, archive, path):
        """`..`, absolute, `.`, backslash and empty paths are refused by name; no line of another file is shown."""
        code, out, err = run(capsys, "replay", with_input_path(archive, path))
        assert code == 1
        assert "is refused" in out
        assert SECRET not in out + err
        assert "root:" not in out + err

    def test_a_symbolic_link_leading_outside_is_refused(self, capsys, archive):
        """A link inside the folder to a file outside it is refused; the file is not read."""
        (archive.parent / "link.csv").symlink_to(archive.parent.parent / "outside" / "secret.txt")
        code, out, err = run(capsys, "replay", with_input_path(archive, "link.csv"))
        assert code == 1
        assert "symbolic link leads outside" in out
        assert SECRET not in out + err

    def test_a_link_to_an_endless_device_is_refused_without_reading_it(self, capsys, archive):
        """A link to /dev/zero is refused at once (it lies outside the folder), no memory is eaten."""
        (archive.parent / "zero.csv").symlink_to("/dev/zero")
        code, out, _ = run(capsys, "replay", with_input_path(archive, "zero.csv"))
        assert code == 1
        assert "is refused" in out

    def test_a_fifo_is_refused_without_hanging(self, capsys, archive):
        """A named pipe with no writer is opened without blocking and refused as not a regular file."""
        os.mkfifo(archive.parent / "pipe.csv")
        code, out, _ = run(capsys, "replay", with_input_path(archive, "pipe.csv"))
        assert code == 1
        assert "FIFO" in out

    def test_a_directory_is_refused(self, capsys, archive):
        """A folder named as an input is refused as not a regular file."""
        (archive.parent / "sub").mkdir()
        code, out, _ = run(capsys, "replay", with_input_path(archive, "sub"))
        assert code == 1
        assert "a directory, not a regular file" in out

    def test_inputs_dir_reads_the_files_from_another_folder(self, capsys, archive, tmp_path):
        """`--inputs DIR` reads the digest inputs below DIR; without it the moved input is missing."""
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (archive.parent / "records.csv").rename(elsewhere / "records.csv")
        code, out, _ = run(capsys, "replay", archive)
        assert (code, "no such file" in out) == (1, True)
        code, out, _ = run(capsys, "replay", archive, "--inputs", elsewhere)
        assert (code, out) == (0, "reproduced: 4 subjects, 44 KPIs\n")

    def test_inputs_dir_still_refuses_paths_leaving_it(self, capsys, archive, tmp_path):
        """With `--inputs DIR` a `..` path is refused as it is without."""
        code, out, _ = run(capsys, "replay", with_input_path(archive, "../outside/secret.txt"), "--inputs", tmp_path)
        assert code == 1
        assert SECRET not in out

    def test_the_resolver_refuses_on_its_own_too(self, archive):
        """The library's resolver applies the same rules when called directly."""
        resolve = resolver(archive)
        with pytest.raises(KpiError, match="refused"):
            resolve("../outside/secret.txt")
        assert len(resolve("records.csv").cells) == 8

    def test_the_path_rule_is_one_function(self):
        """The rule that records and replay share accepts nested relative paths and nothing else."""
        assert input_path_problem("data/q1/records.csv") is None
        for bad in ("/x", "C:x", "..", "a//b", "a/./b", "a\x00b", 3, None):
            assert input_path_problem(bad) is not None


class TestNothingTakenOnTrust:
    """Every figure beside the results is recomputed and compared, even when every digest is consistent."""

    @pytest.fixture
    def inline(self):
        return json.loads(record_appraisal(S1.read_text(encoding="utf-8"), read_table(RECORDS))[1].to_bytes())

    def forged(self, data, edit):
        edit(data)
        return replay(resealed(data))

    def test_a_forged_summary_is_not_reproduced(self, inline):
        """`kpis: 45` where 44 were computed, digests recomputed: NOT reproduced, naming summary.kpis."""
        report = self.forged(inline, lambda d: d["summary"].update(kpis=45))
        assert not report.reproduced
        assert not report.tampered  # every digest is consistent: only the recount finds it
        assert [(d.path, d.recorded, d.computed) for d in report.mismatches] == [("summary.kpis", 45, 44)]
        assert report.headline() == "NOT reproduced (4 subjects, 45 KPIs recorded)"

    @pytest.mark.parametrize(
        ("edit", "path"),
        [
            (lambda d: d["summary"].update(subjects=5), "summary.subjects"),
            (lambda d: d["summary"].update(note="all good"), "summary.note"),
            (lambda d: d["ruleset"].update(id="another"), "ruleset.id"),
            (lambda d: d["ruleset"].update(version="9.9.9"), "ruleset.version"),
            (lambda d: d["ruleset"].update(name="../../etc/x.yaml"), "ruleset.name"),
            (lambda d: d["options"].update(strict="yes"), "options.strict"),
            (lambda d: d["options"].update(period=None), "options.period"),
            (lambda d: d["inputs"]["records"][0].update(comment="x"), "inputs.records.records.csv.comment"),
            (lambda d: d["inputs"].update(members={"mode": "inline", "name": "m.csv", "sha256": "0", "rows": []}),
             "inputs.members"),
            (lambda d: d["engine"].update(name="other"), "engine.name"),
            (lambda d: d.update(created={"by": "x"}), "created"),
        ],
    )  # fmt: skip
    def test_a_forged_part_is_named(self, inline, edit, path):
        """Each edited figure or added key outside the results is NOT reproduced, named by its path."""
        report = self.forged(inline, edit)
        assert not report.reproduced
        assert path in {d.path for d in report.mismatches} | {f.part for f in report.tampered}, report.render()

    def test_a_forged_row_count_of_a_digest_input_is_named(self, archive):
        """A digest entry claiming 9 rows where the file has 8 is NOT reproduced."""
        data = json.loads(archive.read_bytes())
        data["inputs"]["records"][0]["rows"] = 9
        archive.write_bytes(resealed(data))
        report = replay(archive.read_bytes(), resolve=resolver(archive))
        assert [(d.path, d.recorded, d.computed) for d in report.mismatches] == [("inputs.records[0].rows", 9, 8)]

    def test_a_forged_attribution_summary_is_named(self):
        """An attribution record claiming one deal more than credited is NOT reproduced."""
        root = ROOT / "examples" / "attribution"
        events = read_table(root / "events.csv")
        _, record = record_attribution((root / "policy.yaml").read_text(encoding="utf-8"), events)
        data = json.loads(record.to_bytes())
        data["summary"]["deals"] += 1
        report = replay(resealed(data))
        assert [d.path for d in report.mismatches] == ["summary.deals"]

    def test_a_forged_pay_summary_is_named(self, capsys, tmp_path, monkeypatch):
        """A pay record claiming one person more than were paid is NOT reproduced, naming summary.people."""
        monkeypatch.chdir(ROOT)
        record = tmp_path / "pay.json"
        code = main([
            "pay", "pay_plans/sales_rep_monthly_pay.yaml", "--ruleset", "rulesets/sales_rep_monthly.yaml",
            "--records", "examples/pay/records.csv", "--policy", "examples/attribution/policy.yaml",
            "--lead-events", "examples/pay/events.csv", "--deals", "examples/pay/deals.csv",
            "--people", "examples/pay/people.csv", "--period", "2026-04", "--record", str(record),
        ])  # fmt: skip
        capsys.readouterr()
        assert code == 0
        assert replay(record.read_bytes()).reproduced
        data = json.loads(record.read_bytes())
        data["summary"]["people"] += 1
        report = replay(resealed(data))
        assert [d.path for d in report.mismatches] == ["summary.people"]
        assert not report.tampered

    def test_an_untouched_record_still_reproduces_with_the_counts_computed_now(self, inline):
        """The honest record replays; the headline's counts are the recomputed ones."""
        report = replay(json.dumps(inline))
        assert report.reproduced, report.render()
        assert report.headline() == "reproduced: 4 subjects, 44 KPIs"


class TestShapeLimits:
    """A hostile record shape is a located KpiError, never an internal error."""

    def test_a_record_nested_200000_deep_is_refused(self, capsys, tmp_path):
        """200,000 nested arrays: exit 1 and one line (was RecursionError, exit 70)."""
        path = tmp_path / "deep.json"
        path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
        code, _, err = run(capsys, "replay", path)
        assert code == 1
        assert err.strip().splitlines() == [f"not a run record: nested deeper than {MAX_DEPTH} levels"]

    def test_a_record_just_past_the_depth_limit_is_refused_by_the_loop(self):
        """A record nested one level past the limit, which JSON parses, is refused before any recursion."""
        deep = {"format": "kpi_engine.run-record/1", "kind": "appraisal", "created": None}
        node = deep
        for _ in range(MAX_DEPTH):
            node["x"] = {}
            node = node["x"]
        with pytest.raises(KpiError, match="nested deeper"):
            load_record(json.dumps(deep))

    def test_nan_in_a_record_is_refused(self):
        """A JSON NaN constant is not a number a record may hold."""
        with pytest.raises(KpiError, match="not valid JSON"):
            load_record('{"format": "kpi_engine.run-record/1", "kind": "appraisal", "summary": {"kpis": NaN}}')

    def test_an_endless_record_file_is_cut_at_the_cap(self, capsys, monkeypatch):
        """`kpi replay /dev/zero` stops reading at the size cap and says so."""
        monkeypatch.setattr(record_io, "MAX_FILE_BYTES", 1 << 20)
        code, _, err = run(capsys, "replay", "/dev/zero")
        assert code == 1
        assert "larger than 1048576 bytes" in err

    def test_an_unknown_input_mode_is_named(self):
        """An input entry whose mode is neither inline nor digest is refused by name."""
        data = json.loads(record_appraisal(S1.read_text(encoding="utf-8"), read_table(RECORDS))[1].to_bytes())
        data["inputs"]["records"][0]["mode"] = "url"
        report = replay(resealed(data))
        assert "unknown input mode 'url'" in report.render()


class TestRefusedWhenWritten:
    """A record replay could not reproduce is refused at writing, with the reason, and no file is left."""

    @pytest.fixture(autouse=True)
    def at_root(self, root, monkeypatch):
        monkeypatch.chdir(root)

    @pytest.mark.parametrize(
        ("source", "extra", "reason"),
        [
            ("examples/plan/actuals.csv", ["--plan", "examples/plan/plan_2026.yaml"], "merged with --plan"),
            ("examples/sales_rep_monthly/records.csv", ["--encoding", "gb18030"], "--encoding gb18030"),
        ],
    )
    def test_digest_records_of_rows_replay_cannot_read_back_are_refused(self, capsys, tmp_path, source, extra, reason):
        """Digest records of rows merged with a plan or read in another encoding: exit 1, the reason, no file."""
        shutil.copy(source, tmp_path / "records.csv")
        record = tmp_path / "run.json"
        code, _, err = run(
            capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", tmp_path / "records.csv",
            "--members", "examples/plan/members.csv", *extra, "--record", record, "--record-inputs", "digest",
        )  # fmt: skip
        assert code == 1
        assert reason in err
        assert not record.exists()

    def test_a_duckdb_query_kept_by_digest_is_refused(self, capsys, tmp_path):
        """`--records 'duckdb:…' --record-inputs digest` (exit 0 and an unreplayable record before): exit 1."""
        duckdb = pytest.importorskip("duckdb")
        db = tmp_path / "crm.db"
        with duckdb.connect(str(db)) as con:
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{RECORDS}', all_varchar = true)")  # noqa: S608
        record, query = tmp_path / "run.json", f"duckdb:{db}::SELECT * FROM t"  # noqa: S608 - our own query
        code, _, err = run(
            capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", query,
            "--record", record, "--record-inputs", "digest",
        )  # fmt: skip
        assert code == 1
        assert "DuckDB query is not a file" in err
        assert not record.exists()
        code, _, _ = run(
            capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", query,
            "--record", record,
        )  # fmt: skip
        assert code == 0
        assert run(capsys, "replay", record)[0] == 0  # inline, the same query is recorded and replays

    def test_an_input_outside_the_records_folder_is_refused(self, capsys, tmp_path):
        """A digest record in a folder its input is not below: exit 1, naming the folder."""
        (tmp_path / "records").mkdir()
        record = tmp_path / "records" / "run.json"
        code, _, err = run(
            capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", RECORDS,
            "--record", record, "--record-inputs", "digest",
        )  # fmt: skip
        assert code == 1
        assert "not below the record's folder" in err
        assert not record.exists()

    def test_a_run_with_extra_columns_is_recorded_and_replays(self, capsys, tmp_path):
        """`--allow-extra-columns --record` records the option, and the record reproduces."""
        lines = RECORDS.read_text(encoding="utf-8").splitlines()
        extra = tmp_path / "extra.csv"
        extra.write_text(
            "\n".join([lines[0] + ",note2"] + [line + ",x" for line in lines[1:]]) + "\n", encoding="utf-8"
        )
        record = tmp_path / "run.json"
        code, _, err = run(
            capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", extra, "--allow-extra-columns",
            "--record", record,
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(record.read_bytes())["options"]["allow_extra_columns"] is True
        assert run(capsys, "replay", record)[:2] == (0, "reproduced: 4 subjects, 44 KPIs\n")
