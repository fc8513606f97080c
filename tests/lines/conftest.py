"""Credit-line tests: a fixed data key, so that customers never touch the real data directory."""

from __future__ import annotations

import pytest
from servicing_helpers import TEST_DATA_KEY


@pytest.fixture(autouse=True)
def data_key(monkeypatch):
    monkeypatch.setenv("OPENLEND_DATA_KEY", TEST_DATA_KEY)
    yield TEST_DATA_KEY
