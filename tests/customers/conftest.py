"""Customer tests: a fixed data key, so that nothing touches the real data directory."""

from __future__ import annotations

import base64

import pytest

TEST_DATA_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def data_key(monkeypatch):
    monkeypatch.setenv("OPENLEND_DATA_KEY", TEST_DATA_KEY)
    monkeypatch.delenv("OPENLEND_DATA_KEYS_PREVIOUS", raising=False)
    monkeypatch.delenv("OPENLEND_LOOKUP_KEY", raising=False)
    yield TEST_DATA_KEY
