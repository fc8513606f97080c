"""Settings, all from the environment (``OPENLEND_*``, plus ``DATABASE_URL``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("openlend", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLEND_", extra="ignore")

    # Any PostgreSQL; when unset, openlend starts an embedded one under data_dir.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "OPENLEND_DATABASE_URL"))
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_name: str = "openlend"

    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "INFO"
    log_json: bool = True
    livemode: bool = False  # the sandbox is test mode; a live deployment sets OPENLEND_LIVEMODE=true

    db_pool_min: int = 2
    db_pool_max: int = 20
    idempotency_retention_hours: int = 48  # Stripe keeps keys 24 h; we keep them at least that long

    default_currency: str = "CNY"
    apr_cap_percent: str = "24"  # China's judicial protection ceiling for private lending
    # close of business as a scheduled job of ``openlend serve``: "HH:MM" (server local time) closes every
    # open business date up to yesterday at that time each day; None: run ``openlend cob`` from cron instead
    cob_at: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
