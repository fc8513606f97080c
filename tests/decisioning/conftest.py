"""Train the scorecard once per test session (a training takes about two seconds after the imports)."""

from __future__ import annotations

import pytest

from openlend.decisioning import train
from openlend.decisioning.data import load_german_credit


@pytest.fixture(scope="session")
def german():
    return load_german_credit()


@pytest.fixture(scope="session")
def trained(german):
    return train(german)
