"""The data-provider stand-in runs as its own process (``python -m sim.providers``) on a free port,
with every date pinned (``--as-of``) so that reports and features are the same on every run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.providers.testing import running_providers  # noqa: E402

from risk_standin import AS_OF, HANG_MS  # noqa: E402


@pytest.fixture(scope="session")
def providers(tmp_path_factory):
    with running_providers(tmp_path_factory.mktemp("providers"), "--as-of", AS_OF.isoformat(),
                           "--hang-ms", str(HANG_MS)) as proc:
        yield proc


@pytest.fixture(scope="session")
def slow_providers(tmp_path_factory):
    """The same stand-in answering every call after 300 ms, as a bureau might."""
    with running_providers(tmp_path_factory.mktemp("providers-slow"), "--as-of", AS_OF.isoformat(),
                           "--latency-ms", "300") as proc:
        yield proc
