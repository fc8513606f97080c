"""``openlend cob``: close business days.

    openlend cob                       close the open business date
    openlend cob --date D              close D (it must be the open business date; a closed date is a no-op)
    openlend cob --to D                close every open business date up to D (catch up)
    openlend cob --catch-up            close every open business date up to yesterday (the scheduled job)
    openlend cob --status              the last runs

Options: ``--batch-size N`` (loans per batch, default 20,000), ``--workers N`` (batches at once,
default 2), ``--json`` (one JSON object per day closed on stdout).  Progress goes to stderr.
A refused request prints the problem on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from ..errors import Problem


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def _run(args: argparse.Namespace) -> int:
    from ..cli import open_database
    from . import service

    db = open_database()
    progress = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    kw: dict[str, Any] = {"batch_size": args.batch_size, "workers": args.workers, "progress": progress}
    try:
        if args.status:
            with db.transaction() as conn:
                for r in service.runs(conn):
                    print(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()},
                                     default=str))
            return 0
        if args.catch_up:
            results = service.catch_up(db, dt.date.today() - dt.timedelta(days=1), **kw)
        elif args.to is not None:
            results = service.catch_up(db, args.to, **kw)
        else:
            d = args.date
            if d is None:
                with db.transaction() as conn:
                    d = service.open_business_date(conn) or dt.date.today()
            results = [service.close_day(db, d, **kw)]
    except Problem as exc:
        print(f"openlend cob: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        db.close()
    if args.json:
        for r in results:
            print(json.dumps(r.as_json()))
    elif not results:
        print("nothing to close", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("cob", help="close of business: accrual, falling due, ageing, penalty, reminders")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--date", type=_date, help="close this business date (the open one)")
    g.add_argument("--to", type=_date, help="close every open business date up to this one")
    g.add_argument("--catch-up", action="store_true", help="close every open business date up to yesterday")
    g.add_argument("--status", action="store_true", help="show the last runs")
    p.add_argument("--batch-size", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", action="store_true", help="one JSON object per day closed on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_run)
