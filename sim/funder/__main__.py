"""``python -m sim.funder --port N --bank-code BANKA``: run the funding-bank stand-in until interrupted.

Once listening it prints one line, ``FUNDER BANKA listening on HOST:PORT``, to stdout (``--port 0``
picks a free port, which that line names)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from sim.process import serve

from .rules import Rules
from .server import Config, FunderServer


def _partner(text: str) -> tuple[str, str]:
    partner, sep, secret = text.partition(":")
    if not sep or not partner or len(secret) < 8:
        raise argparse.ArgumentTypeError("a partner is PARTNER_ID:SECRET (a secret of at least 8 characters)")
    return partner, secret


def _bank_code(text: str) -> str:
    if not re.match(r"^[A-Z0-9]{2,16}$", text):
        raise argparse.ArgumentTypeError("a bank code is 2-16 characters A-Z 0-9")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.funder", description="funding-bank (资金方) stand-in")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8095, help="0 picks a free port (printed on start)")
    ap.add_argument("--bank-code", type=_bank_code, default="BANKA")
    ap.add_argument("--partner", type=_partner, action="append", metavar="PARTNER_ID:SECRET",
                    help="a platform that may call (repeatable); default openlend:sandbox-funder-secret")
    ap.add_argument("--rules", type=Path, default=None, metavar="FILE", help="the bank's rules as JSON")
    ap.add_argument("--latency-ms", type=int, default=0, help="sleep this long before every answer")
    ap.add_argument("--hang-ms", type=int, default=30_000, help="how long the timeout applicant sleeps")
    ap.add_argument("--max-skew-s", type=int, default=300, help="refuse X-Timestamp further than this")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        rules = Rules.load(args.rules)
    except (OSError, ValueError, TypeError) as exc:
        ap.error(f"--rules: {exc}")
    config = Config(args.bank_code, dict(args.partner or [("openlend", "sandbox-funder-secret")]), rules,
                    latency_ms=args.latency_ms, hang_ms=args.hang_ms, max_skew_s=args.max_skew_s)
    server = FunderServer((args.host, args.port), config)
    logging.getLogger("sim.funder").info("rules %s", json.dumps(rules.as_json()))
    return serve(server, f"FUNDER {args.bank_code}", args.host)


if __name__ == "__main__":
    raise SystemExit(main())
