"""``openlend serve``: migrate, optionally seed demo data, and run the API under uvicorn."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from .settings import get_settings


def _demo_token(data_dir: Path) -> tuple[str, bool]:
    """The demo admin token: generated once, kept (mode 0600) in the data directory."""
    path = data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    token = "olk_test_" + secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def _start_standins(stack, data_dir: Path, out) -> None:
    """With ``--demo``, the sandbox's outside parties as their own processes (when this is a checkout
    with ``sim/``): the SMS centre (SMPP), the data providers and bureau, and a funding bank; the
    platform is pointed at them unless the environment already points elsewhere."""
    import json

    root = Path(__file__).resolve().parents[2]
    if not (root / "sim" / "process.py").exists():
        out.write("Stand-ins:     not found (sim/ is in the source checkout); outside parties not started\n")
        return
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from sim.funder.testing import running_funder
    from sim.providers.testing import running_providers
    from sim.smsc.testing import running_smsc

    work = data_dir / "sandbox"
    started = []
    if not os.environ.get("OPENLEND_SMSC_PORT"):
        smsc = stack.enter_context(running_smsc(work / "smsc"))
        os.environ.update(OPENLEND_SMSC_HOST=smsc.host, OPENLEND_SMSC_PORT=str(smsc.port),
                          OPENLEND_SMSC_SYSTEM_ID=smsc.system_id, OPENLEND_SMSC_PASSWORD=smsc.password)
        started.append(f"SMSC (SMPP) {smsc.host}:{smsc.port}, messages in {smsc.messages_file}")
    if not os.environ.get("OPENLEND_RISK_BASE_URL"):
        prov = stack.enter_context(running_providers(work / "providers"))
        os.environ.update(OPENLEND_RISK_BASE_URL=prov.base_url, OPENLEND_RISK_API_KEY=prov.api_key)
        started.append(f"data providers and bureau {prov.base_url}")
    if not os.environ.get("OPENLEND_FUNDERS"):
        bank = stack.enter_context(running_funder(work / "funder", bank_code="DEMOBANK"))
        cfg = {"bank_code": "DEMOBANK", "base_url": bank.base_url, "secret": bank.secret,
               "partner_id": bank.partner_id}
        os.environ["OPENLEND_FUNDERS"] = json.dumps(
            {"products": {code: [cfg] for code in ("DEMO-CASH-12M", "DEMO-EP-24M", "DEMO-BULLET-30D")}})
        started.append(f"funding bank DEMOBANK {bank.base_url}")
    for line in started:
        out.write(f"Stand-in:      {line}\n")


def serve(*, demo: bool = False, host: str | None = None, port: int | None = None, workers: int | None = None) -> int:
    import uvicorn

    from . import migrate
    from .db import Database, redact_url, resolve_database_url, set_database
    from .logs import setup_logging

    s = get_settings()
    host = host or s.host
    port = port or s.port
    workers = workers or s.workers
    setup_logging(s.log_level, s.log_json)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # keep the start-up banner readable

    url = resolve_database_url(s)
    migrate.upgrade(url)
    # Worker processes (and reloads) attach to the same database instead of starting another.
    os.environ["DATABASE_URL"] = url

    out = sys.stdout
    if not s.admin_token:
        if not demo:
            sys.stderr.write("openlend: set OPENLEND_ADMIN_TOKEN (or use --demo, which generates one)\n")
            return 2
        token, new = _demo_token(s.data_dir)
        os.environ["OPENLEND_ADMIN_TOKEN"] = token
        get_settings.cache_clear()
        out.write(("Generated" if new else "Using") + f" demo admin token (kept in {s.data_dir / 'admin_token'}):\n")
        out.write(f"  OPENLEND_ADMIN_TOKEN={token}\n")
    if demo:
        from .demo import seed

        database = Database(url, min_size=1, max_size=2).open()
        set_database(database)
        summary = seed(database)
        set_database(None)
        database.close()
        out.write(f"Demo data: {summary}\n")

    if s.cob_at:   # close of business as a scheduled job of this process
        from .cob.service import scheduler

        cob_db = Database(url, min_size=1, max_size=4)
        cob_db.open()
        scheduler(cob_db, s.cob_at)
        out.write(f"Close of business: every day at {s.cob_at} (open business dates up to yesterday)\n")
    import contextlib

    stack = contextlib.ExitStack()
    if demo:
        _start_standins(stack, s.data_dir, out)
    base = f"http://{host}:{port}"
    out.write(f"openlend API:  {base}/v1\n")
    out.write(f"API docs:      {base}/docs   (OpenAPI: {base}/openapi.json)\n")
    out.write(f"Database:      {redact_url(url)}\n")
    out.flush()
    with stack:
        uvicorn.run("openlend.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_config=None, access_log=False, server_header=False)
    return 0
