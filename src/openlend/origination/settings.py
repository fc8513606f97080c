"""Origination settings, from the environment like :mod:`openlend.settings` (``OPENLEND_*``).

Kept beside the domain rather than in the shared settings module: they concern only this domain,
and a test changes them with ``monkeypatch.setenv`` (they are read afresh on each use, so no
cache needs clearing)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OriginationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLEND_", extra="ignore")

    # Verification codes. OWASP ASVS 5.0 (2.7.x) caps an out-of-band code's life at 10 minutes; the
    # seed patent's 1 hour is allowed by configuration (docs/design/origination.md).
    otp_ttl_seconds: int = Field(300, ge=30, le=3600)
    otp_resend_seconds: int = Field(60, ge=0, le=3600)       # per mobile number, whatever the purpose
    otp_max_attempts: int = Field(5, ge=1, le=20)             # wrong codes before the code is locked
    otp_per_mobile_per_hour: int = Field(5, ge=1)
    otp_per_ip_per_hour: int = Field(20, ge=1)
    otp_verified_window_seconds: int = Field(900, ge=60, le=86400)  # a verified code stays usable this long
    # HMAC-SHA256 key for the stored codes (base64 of 32 random bytes); unset: derived from the
    # look-up key of openlend.customers.crypto (itself from OPENLEND_DATA_KEY).
    otp_key: str | None = None

    # SMS: "smpp" (the SMSC stand-in, or any SMPP 3.4 SMS centre); a real provider's HTTP API would
    # be another SmsSender.
    sms_sender: str = "smpp"
    sms_signature: str = "【openlend】"  # mainland SMS carry the sender's registered signature
    smsc_host: str = "127.0.0.1"
    smsc_port: int = 2775
    smsc_system_id: str = "openlend"
    smsc_password: str = "sandbox"
    smsc_source_addr: str = "10690000"
    smsc_timeout_seconds: float = 5.0


def get_origination_settings() -> OriginationSettings:
    return OriginationSettings()
