"""`revocd` command line: run | demo | check-config | fetch | status | query | reload.

Every error that reaches here is a `RevocdError` with a message that names the thing
and the way out; it is printed on stderr (no traceback) and mapped to an exit code by
`errors.exit_code`. Anything else is our bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from revocd import __version__
from revocd.errors import RevocdError, exit_code

DEFAULT_URL = "http://127.0.0.1:8080"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revocd",
        description="Revocation aggregation daemon: one OCSP/JSON answer for many partners.",
    )
    parser.add_argument("--version", action="version", version=f"revocd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_logging(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--log-format",
            choices=("json", "console"),
            default=None,
            help="json lines (default) or console for people",
        )
        p.add_argument("--log-level", default=None, help="debug, info (default), warning, error")

    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config", required=True, type=Path, help="the TOML configuration file")
    add_logging(run)

    demo = sub.add_parser("demo", help="a self-contained federation on 127.0.0.1")
    demo.add_argument(
        "--port", type=int, default=8080, help="revocd's port (default 8080; 0 picks a free one)"
    )
    demo.add_argument(
        "--dir", type=Path, default=None, help="where to keep the demo's PKI and store"
    )
    demo.add_argument(
        "--revoke-every",
        type=float,
        default=20.0,
        help="seconds between revocations by the demo CAs (default 20)",
    )
    add_logging(demo)

    check = sub.add_parser("check-config", help="validate a configuration offline")
    check.add_argument("--config", required=True, type=Path)

    fetch = sub.add_parser("fetch", help="fetch and verify every source once, report, exit")
    fetch.add_argument("--config", required=True, type=Path)
    fetch.add_argument("--partner", default=None, help="only this partner's sources")
    fetch.add_argument("--json", action="store_true", help="machine-readable report")

    status = sub.add_parser("status", help="the partners' freshness table from a daemon")
    status.add_argument("--url", default=None, help=f"daemon URL (default {DEFAULT_URL})")
    status.add_argument("--json", action="store_true")
    status.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the states: auto = on a terminal unless NO_COLOR is set",
    )

    reload = sub.add_parser(
        "reload",
        help="make a running daemon re-read its configuration (sends it SIGHUP)",
        description="Send SIGHUP to a running `revocd run`: it re-reads its --config file and "
        "applies it if valid (config_reloaded in its log), else keeps the running "
        "configuration (config_reload_failed). Under systemd: systemctl reload revocd.",
    )
    target = reload.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=int, help="the daemon's process id")
    target.add_argument("--pidfile", type=Path, help="a file holding the daemon's process id")

    query = sub.add_parser("query", help="ask a daemon about one certificate")
    query.add_argument("--url", default=None, help=f"daemon URL (default {DEFAULT_URL})")
    what = query.add_mutually_exclusive_group(required=True)
    what.add_argument("--cert", type=Path, help="a PEM or DER certificate file")
    what.add_argument("--issuer", help="issuer name or hex SHA-1/SHA-256 key hash")
    query.add_argument("--serial", help="serial in hex (with --issuer)")
    query.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except RevocdError as error:
        print(f"revocd {args.command}: {error}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from revocd import commands

    url = getattr(args, "url", None) or os.environ.get("REVOCD_URL") or DEFAULT_URL
    if args.command == "run":
        return commands.run(args.config, args.log_format, args.log_level)
    if args.command == "demo":
        from revocd.demo import run_demo

        return run_demo(args.port, args.dir, args.revoke_every, args.log_format or "console")
    if args.command == "check-config":
        return commands.check_config(args.config)
    if args.command == "fetch":
        return asyncio.run(commands.fetch(args.config, args.partner, as_json=args.json))
    if args.command == "status":
        return asyncio.run(commands.status(url, as_json=args.json, colour=args.color))
    if args.command == "reload":
        return commands.reload(args.pid, args.pidfile)
    if args.command == "query":
        if args.issuer and not args.serial:
            print("revocd query: --issuer needs --serial (hex)", file=sys.stderr)
            return 2
        return asyncio.run(
            commands.query(url, args.cert, args.issuer, args.serial, as_json=args.json)
        )
    raise AssertionError(args.command)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))
