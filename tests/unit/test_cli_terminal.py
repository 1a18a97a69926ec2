"""The terminal around the commands: shell completion, data errors in Chinese, kpi validate on a folder."""

import shutil
import subprocess

import pytest

from kpi_engine import load_ruleset
from kpi_engine.cli import main

S1 = "rulesets/sales_rep_monthly.yaml"
HEADER = (
    "subject,period,sales_target,sales_actual,weekly_orders,new_customers,visits_existing,phone_calls,"
    "lost_customers,conduct_score,plans_due,plans_done,resource_requests,resource_replies\n"
)


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)
    for key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(key, raising=False)


class TestCompletion:
    """kpi completion bash|zsh|fish prints a script written from the parser itself."""

    def test_bash_completes_commands_options_and_choices(self, capsys, tmp_path):
        """Sourced in bash, the script completes 'eva' to evaluate, --lay to --layout and --format's choices."""
        bash = shutil.which("bash")
        if bash is None:  # pragma: no cover - every CI machine has bash
            pytest.skip("no bash")
        assert main(["completion", "bash"]) == 0
        script = tmp_path / "kpi.bash"
        script.write_text(capsys.readouterr().out, encoding="utf-8")

        def complete(*words: str) -> list[str]:
            line = " ".join(words)
            quoted = " ".join(f"'{w}'" for w in words)
            code = (f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
                    f"COMP_LINE='{line}'; COMP_POINT={len(line)}; _shtab_kpi; printf '%s\\n' \"${{COMPREPLY[@]}}\"")  # fmt: skip
            done = subprocess.run([bash, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
            return done.stdout.split()

        assert complete("kpi", "eva") == ["evaluate"]
        assert complete("kpi", "evaluate", "x", "--lay") == ["--layout"]
        assert complete("kpi", "evaluate", "x", "--layout", "") == ["long", "wide"]
        assert "statement" in complete("kpi", "st")

    def test_zsh_and_fish_scripts_name_every_command(self, capsys):
        """The zsh script defines _kpi; the fish script has one completion line per command and their options."""
        from kpi_engine.cli import GROUPS, build_parser
        from kpi_engine.cli import completion as completion_module
        from kpi_engine.cli.completion import _subparsers

        commands = set(_subparsers(build_parser()))
        assert {"evaluate", "statement", "completion", "validate"} <= commands
        assert completion_module in GROUPS
        assert main(["completion", "zsh"]) == 0
        zsh = capsys.readouterr().out
        assert "#compdef kpi" in zsh
        assert all(name in zsh for name in commands)
        assert main(["completion", "fish"]) == 0
        fish = capsys.readouterr().out
        for name in commands:
            assert f"complete -c kpi -n __fish_use_subcommand -a {name} " in fish
        assert "-n '__fish_seen_subcommand_from evaluate' -l layout -x -a 'long wide'" in fish
        assert "-n '__fish_seen_subcommand_from evaluate' -l records -r -F" in fish
        assert all(line.startswith(("complete -c kpi", "#")) for line in fish.splitlines())


class TestChineseDataErrors:
    """Data errors read in Chinese under --lang zh, with their locations and codes unchanged."""

    def test_bad_values_periods_and_missing_files(self, tmp_path, capsys):
        """Cells that are not numbers, negative counts, a 13th month and a missing file are told in Chinese."""
        data = tmp_path / "bad.csv"
        data.write_text(
            HEADER + "r1,2026-03,100,abc,1,1,1,1,1,50,1,1,1,1\nr2,2026-03,100,90,-1,1,1,1,1,50,1,1,1,1\n"
            "r3,2026-13,100,90,1,1,1,1,1,50,1,1,1,1\n",
            encoding="utf-8",
        )
        assert main(["evaluate", S1, "--records", str(data), "--lang", "zh"]) == 1
        err = capsys.readouterr().err
        assert f"{data}:2:4: sales_actual: 'sales_actual'：'abc' 不是数字 [bad_value]" in err
        assert f"{data}:3:5: weekly_orders: 'weekly_orders'：计数不能为负数（-1） [bad_value]" in err
        assert f"{data}:4:2: period: '2026-13' 不是有效的月度期间：月份必须在 1 到 12 之间 [bad_period]" in err
        assert main(["evaluate", S1, "--records", str(tmp_path / "none.csv"), "--lang", "zh"]) == 1
        assert f"{tmp_path / 'none.csv'}：文件不存在" in capsys.readouterr().err

    def test_english_stays_as_the_checks_wrote_it(self, tmp_path, capsys):
        """Under --lang en the same errors read exactly as before."""
        data = tmp_path / "bad.csv"
        data.write_text(HEADER + "r1,2026-03,100,abc,1,1,1,1,1,50,1,1,1,1\n", encoding="utf-8")
        assert main(["evaluate", S1, "--records", str(data), "--lang", "en"]) == 1
        assert "'sales_actual': 'abc' is not a number [bad_value]" in capsys.readouterr().err

    def test_a_ruleset_outside_its_dates_is_told_in_chinese(self, capsys):
        """An error without a location (the period is outside the ruleset's dates) is translated as a whole."""
        argv = ["evaluate", S1, "--records", "examples/sales_rep_monthly/records.csv", "--period", "2025-01"]
        assert main([*argv, "--lang", "zh"]) == 1
        version = load_ruleset(S1).version
        assert (
            f"规则集 sales_rep_monthly {version} 自 2026-01-01 起生效；期间 2025-01 不在生效范围内"
            in capsys.readouterr().err
        )


class TestValidateFolders:
    """kpi validate takes folders: each stands for its YAML files."""

    def test_a_folder_validates_each_yaml_file(self, capsys):
        """kpi validate rulesets/ checks every ruleset in the folder, in name order."""
        assert main(["validate", "rulesets/", "examples/attribution"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "rulesets/sales_dashboard_monthly.yaml: ok"
        assert "examples/attribution/policy.yaml: ok" in out
        assert len(out) >= 6

    def test_a_folder_with_a_bad_file_fails_and_an_empty_one_is_named(self, tmp_path, capsys):
        """A mistake in one file of the folder gives exit 1; a folder without YAML files is an error."""
        (tmp_path / "a.yaml").write_text("ruleset: x\nversion: '1'\n", encoding="utf-8")
        assert main(["validate", str(tmp_path)]) == 1
        assert "a.yaml" in capsys.readouterr().err
        empty = tmp_path / "empty"
        empty.mkdir()
        assert main(["validate", str(empty), "--format", "json"]) == 1
        assert "no ruleset files (*.yaml, *.yml) in this folder" in capsys.readouterr().err
