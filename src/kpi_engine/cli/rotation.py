"""``kpi rotation``: the sales floor's reception rotation judged from sign-in and reception events (R1, R9, R13)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from kpi_engine.cli._common import write
from kpi_engine.errors import KpiError


def cmd_rotation(args: argparse.Namespace) -> int:
    from kpi_engine.attribution import format_rotation, load_policy, read_floor_events, rotate  # noqa: PLC0415
    from kpi_engine.time.zones import parse_instant  # noqa: PLC0415

    policy = load_policy(args.policy)
    result = rotate(policy, read_floor_events(args.events, policy, encoding=args.encoding))
    queue = None
    if args.at:
        try:
            queue = result.queue_at(parse_instant(args.at, policy.tz))
        except ValueError as exc:
            raise KpiError(f"--at: {exc} (e.g. 2026-03-14T10:25)") from None
    write(format_rotation(result, args.format, queue), args.out)
    return 1 if args.fail_on_out_of_turn and result.out_of_turn else 0


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add ``kpi rotation`` to the ``kpi`` parser."""
    p = sub.add_parser(
        "rotation",
        parents=[lang],
        help=t("judge every reception against the day's sign-in rotation and show the queue at a moment"),
    )
    p.add_argument("policy", metavar="POLICY", help=t("attribution policy (its zone and rotation: section)"))
    p.add_argument(
        "--events", required=True, metavar="FILE", help=t("floor log: sign_in, sign_out, reception, reception_end")
    )
    p.add_argument("--at", metavar="TIME", help=t("also show the queue at this moment (local time of the policy)"))
    p.add_argument("--encoding", metavar="NAME", help=t("of a text log (default UTF-8), e.g. gb18030"))
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--fail-on-out-of-turn", action="store_true", help=t("exit 1 when any reception was out of turn"))
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_rotation)
