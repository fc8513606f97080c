"""The SMSC stand-in runs as its own process (``python -m sim.smsc``), started here on a free port."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.smsc.testing import running_smsc  # noqa: E402


@pytest.fixture(scope="module")
def smsc(tmp_path_factory):
    with running_smsc(tmp_path_factory.mktemp("smsc")) as proc:
        yield proc
