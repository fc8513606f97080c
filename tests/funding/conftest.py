"""The funding-bank stand-in runs as its own process (``python -m sim.funder``) on a free port."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from funder_helpers import BANK_RULES, HANG_MS, config_for

from sim.funder.testing import running_funder


@pytest.fixture(scope="session")
def bank(tmp_path_factory):
    with running_funder(tmp_path_factory.mktemp("funder"), "--hang-ms", str(HANG_MS), bank_code="BANKA",
                        rules=BANK_RULES) as proc:
        yield proc


@pytest.fixture
def funder(bank):
    from openlend.funding import HttpFunder

    with HttpFunder(config_for(bank)) as f:
        yield f
