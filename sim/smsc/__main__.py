"""``python -m sim.smsc --port N``: run the SMPP stand-in until interrupted.

Once listening it prints one line, ``SMSC listening on HOST:PORT``, to stdout (``--port 0`` picks
a free port, which that line names)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from .server import Smsc


def _account(text: str) -> tuple[str, str]:
    system_id, sep, password = text.partition(":")
    if not sep or not system_id or len(system_id) > 15 or len(password) > 8:
        raise argparse.ArgumentTypeError("an account is SYSTEM_ID:PASSWORD (at most 15 and 8 characters)")
    return system_id, password


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.smsc", description="SMPP 3.4 SMS-centre stand-in")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2775, help="0 picks a free port (printed on start)")
    ap.add_argument("--account", type=_account, action="append", metavar="SYSTEM_ID:PASSWORD",
                    help="an ESME that may bind (repeatable); default openlend:sandbox")
    ap.add_argument("--messages", type=Path, default=None, metavar="FILE",
                    help="append every message received as a JSON line to FILE")
    ap.add_argument("--receipt-delay", type=float, default=0.0, metavar="SECONDS",
                    help="wait this long before sending a delivery receipt")
    ap.add_argument("--undeliverable", default=None, metavar="REGEX",
                    help="destinations matching REGEX get an UNDELIV receipt")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    smsc = Smsc(dict(args.account or [("openlend", "sandbox")]), messages_file=args.messages,
                receipt_delay=args.receipt_delay, undeliverable=args.undeliverable)

    async def serve() -> None:
        port = await smsc.start(args.host, args.port)
        print(f"SMSC listening on {args.host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        smsc.server.close()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
