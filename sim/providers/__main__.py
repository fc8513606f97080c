"""``python -m sim.providers --port N``: run the data-provider stand-in until interrupted.

Once listening it prints one line, ``PROVIDERS listening on HOST:PORT``, to stdout (``--port 0``
picks a free port, which that line names)."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from sim.process import serve

from .server import Config, ProviderServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.providers",
                                 description="identity / carrier / court / multi-lending / credit-bureau stand-in")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090, help="0 picks a free port (printed on start)")
    ap.add_argument("--api-key", action="append", metavar="KEY",
                    help="a key accepted in X-Api-Key (repeatable); default sandbox-key")
    ap.add_argument("--latency-ms", type=int, default=0, help="sleep this long before every answer")
    ap.add_argument("--hang-ms", type=int, default=30_000, help="how long the timeout identity sleeps")
    ap.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                    help="the date reports are computed from (default: today)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config(frozenset(args.api_key or ["sandbox-key"]), args.latency_ms, args.hang_ms, args.as_of)
    server = ProviderServer((args.host, args.port), config)
    return serve(server, "PROVIDERS", args.host)


if __name__ == "__main__":
    raise SystemExit(main())
