"""``kpi completion bash|zsh|fish``: the shell completion script of ``kpi``, written from its own parser.

bash and zsh scripts come from shtab (static scripts: nothing runs ``kpi`` on each TAB); fish's is
written here from the same parser (shtab does not write fish). Options that take a file complete
file names, folders for a folder, and options with choices their choices. Install, e.g.::

    kpi completion bash > ~/.local/share/bash-completion/completions/kpi
    kpi completion zsh > "${fpath[1]}/_kpi"
    kpi completion fish > ~/.config/fish/completions/kpi.fish
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from kpi_engine.cli._common import write

SHELLS = ("bash", "zsh", "fish")
_FILES = {"FILE", "RULESET", "CHANGED_RULESET", "POLICY", "PLAN", "RECORD", "PATH"}
_FOLDERS = {"DIR"}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk of its parsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return {a.dest: a.help or "" for a in action._choices_actions}  # noqa: SLF001
    return {}


def _mark_files(parser: argparse.ArgumentParser) -> None:
    """Tell shtab which arguments are files or folders (by their metavar)."""
    import shtab  # noqa: PLC0415 - only this command needs it

    for sub in [parser, *_subparsers(parser).values()]:
        for action in sub._actions:  # noqa: SLF001
            if action.metavar in _FILES:
                action.complete = shtab.FILE  # type: ignore[attr-defined]
            elif action.metavar in _FOLDERS:
                action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(parser: argparse.ArgumentParser) -> str:
    """The fish completions of ``kpi``: each command, then each command's options."""
    lines = [f"# fish completion for {parser.prog} (kpi completion fish)", f"complete -c {parser.prog} -f"]
    helps = _helps(parser)
    for name, sub in _subparsers(parser).items():
        lines.append(f"complete -c {parser.prog} -n __fish_use_subcommand -a {name} -d {_quote(helps.get(name, ''))}")
        when = f"-n {_quote('__fish_seen_subcommand_from ' + name)}"
        lines.extend(f"complete -c {parser.prog} {when} {rest}" for rest in _fish_options(sub))
    return "\n".join(lines) + "\n"


def _fish_options(sub: argparse.ArgumentParser) -> Iterator[str]:
    for action in sub._actions:  # noqa: SLF001
        if isinstance(action, argparse._HelpAction):  # noqa: SLF001
            continue
        described = f" -d {_quote(action.help)}" if action.help and action.help != argparse.SUPPRESS else ""
        takes = action.nargs != 0
        if not action.option_strings:  # a positional: files, when it names one
            if action.metavar in _FILES or action.metavar in _FOLDERS:
                yield "-F" + described
            continue
        names = " ".join(f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}" for o in action.option_strings)
        if action.choices:
            yield f"{names} -x -a {_quote(' '.join(map(str, action.choices)))}{described}"
        elif takes and action.metavar in _FOLDERS:
            yield f"{names} -x -a '(__fish_complete_directories)'{described}"
        elif takes and action.metavar in _FILES:
            yield f"{names} -r -F{described}"
        elif takes:
            yield f"{names} -x{described}"
        else:
            yield names + described


def cmd_completion(args: argparse.Namespace) -> int:
    from kpi_engine.cli import build_parser  # noqa: PLC0415 - the whole parser, built when asked

    parser = build_parser(args.msg)
    if args.shell == "fish":
        write(fish_script(parser), args.out)
        return 0
    import shtab  # noqa: PLC0415

    _mark_files(parser)
    write(shtab.complete(parser, shell=args.shell), args.out)
    return 0


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add ``kpi completion`` to the ``kpi`` parser."""
    p = sub.add_parser(
        "completion", parents=[lang], help=t("print the shell completion script of kpi (bash, zsh or fish)")
    )
    p.add_argument("shell", choices=SHELLS)
    p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
    p.set_defaults(func=cmd_completion)
