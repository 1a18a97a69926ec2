"""``kpi attribute``: decide which rep each closed deal is credited to (DOMAIN §6)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from kpi_engine.cli._common import add_record_arguments, record_table, write
from kpi_engine.io.loading import read_table


def cmd_attribute(args: argparse.Namespace) -> int:
    from kpi_engine import attribution as a  # noqa: PLC0415

    if args.record:
        from kpi_engine.audit.record import record_attribution  # noqa: PLC0415
        from kpi_engine.io.records import read_text  # noqa: PLC0415

        events = record_table(read_table(args.events, encoding=args.encoding), args.events, args)
        result, record = record_attribution(
            read_text(args.policy), events, policy_name=args.policy, inputs=args.record_inputs, created=args.created
        )
        write(record.to_bytes(), args.record)
    else:
        policy = a.load_policy(args.policy)
        log = a.read_log(args.events, policy, args.engine, encoding=args.encoding)
        result = a.attribute(policy, log, engine=args.engine)
    if args.format == "json":
        write(a.iter_attribution_json(result), args.out)  # streamed, column-wise when vectorised
    else:
        write(a.format_attribution(result, args.format), args.out)
    return 0


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    p = sub.add_parser("attribute", parents=[lang], help=t("decide which rep each deal is credited to"))
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--events", required=True, metavar="FILE", help=t("lead log: CSV, JSONL, XLSX, Parquet, duckdb:"))
    p.add_argument("--encoding", metavar="NAME", help=t("of a text log (default UTF-8), e.g. gb18030"))
    p.add_argument("--format", choices=("json", "csv", "table"), default="json")
    p.add_argument("--out", metavar="FILE")
    add_record_arguments(p)
    p.add_argument(
        "--engine", choices=("auto", "row", "columnar", "reference", "vectorised"), default="auto",
        help=t("reference: the Python walk; vectorised: Polars (the columnar extra); auto: vectorised for large logs"),
    )  # fmt: skip
    p.set_defaults(func=cmd_attribute)
