"""Registration tests: a real PostgreSQL (the root fixtures) and the real SMSC stand-in as a
subprocess; the only way a test learns a code is the message the stand-in received."""

from __future__ import annotations

import base64
import datetime as dt
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.smsc.testing import running_smsc  # noqa: E402

from openlend.origination import codes  # noqa: E402

OTP_KEY = base64.b64encode(b"otp-test-key-".ljust(32, b"k")).decode()


@pytest.fixture(scope="session")
def smsc_process(tmp_path_factory):
    with running_smsc(tmp_path_factory.mktemp("smsc")) as proc:
        yield proc


class Phones:
    """The stand-in's messages received since this test began."""

    def __init__(self, proc):
        self.proc = proc
        self.start = len(proc.messages())

    def inbox(self, to: str) -> list[dict]:
        return [m for m in self.proc.messages()[self.start:] if m["to"] == to]

    def last_code(self, to: str, count: int = 1) -> str:
        self.proc.wait_for(to, count=count)
        texts = [m["text"] for m in self.inbox(to)]
        assert texts, f"no SMS reached {to}"
        return re.search(r"验证码是(\d{6})", texts[-1]).group(1)


@pytest.fixture
def phones(smsc_process, monkeypatch):
    monkeypatch.setenv("OPENLEND_SMSC_HOST", smsc_process.host)
    monkeypatch.setenv("OPENLEND_SMSC_PORT", str(smsc_process.port))
    monkeypatch.setenv("OPENLEND_SMSC_SYSTEM_ID", smsc_process.system_id)
    monkeypatch.setenv("OPENLEND_SMSC_PASSWORD", smsc_process.password)
    monkeypatch.setenv("OPENLEND_OTP_KEY", OTP_KEY)
    return Phones(smsc_process)


class Clock:
    def __init__(self):
        self.t = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(codes, "now", c)
    return c
