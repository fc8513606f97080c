"""Which bank funds an application: pure, deterministic, no I/O.

Within a product, funders are grouped by ``priority`` (the lowest first).  In a group, the one chosen
is drawn by the funders' ``share`` with a coin made from the application id (SHA-256), so the same
application always goes to the same bank (a retry or a re-run routes identically) while, over many
applications, each bank gets its share.  A funder is left out while it is disabled, excluded (it
already declined this application, or it is failing), has a share of 0, or has less quota left than
the amount (``quota_left``: what the caller knows, e.g. from :meth:`HttpFunder.quota` or its own
count of today's approvals; a bank missing from it is assumed to have room).  Its share then goes to
the others in its group; when a whole group is out, the next priority takes over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from itertools import groupby

from .client import FunderConfig


def _coin(application_id: str, salt: str) -> int:
    """A number in [0, 2**64) from the application id: the same id, the same coin, on every run."""
    h = hashlib.sha256(f"openlend-funding:{salt}:{application_id}".encode()).digest()
    return int.from_bytes(h[:8], "big")


def eligible(funder: FunderConfig, amount: Decimal, quota_left: Mapping[str, Decimal | None],
             exclude: Collection[str]) -> bool:
    if not funder.enabled or funder.share <= 0 or funder.bank_code in exclude:
        return False
    left = quota_left.get(funder.bank_code)
    return left is None or left >= amount


def _weights(funders: Sequence[FunderConfig]) -> list[int]:
    """The shares as exact integers (scaled by a common power of ten): integer draws are exact and fast."""
    places = max((-f.share.normalize().as_tuple().exponent for f in funders), default=0)
    scale = Decimal(10) ** max(places, 0)
    return [int(f.share * scale) for f in funders]


def route(funders: Sequence[FunderConfig], application_id: str, amount: Decimal, *,
          quota_left: Mapping[str, Decimal | None] | None = None,
          exclude: Collection[str] = ()) -> list[FunderConfig]:
    """Every eligible funder, in the order to try them: the chosen one first, then the rest of its
    priority group (each drawn by share from those left), then the next groups the same way."""
    quota_left = quota_left or {}
    candidates = [f for f in funders if eligible(f, amount, quota_left, exclude)]
    order: list[FunderConfig] = []
    for priority, group in groupby(sorted(candidates, key=lambda f: f.priority), key=lambda f: f.priority):
        left = list(group)
        weights = _weights(left)
        draw = 0
        while left:
            # coin in [0, 2**64); the pick is the first funder whose cumulative weight exceeds
            # coin * total / 2**64, compared without division.
            point = _coin(application_id, f"{priority}:{draw}") * sum(weights)
            acc, pick = 0, len(left) - 1
            for k, w in enumerate(weights):
                acc += w
                if point < acc << 64:
                    pick = k
                    break
            order.append(left.pop(pick))
            weights.pop(pick)
            draw += 1
    return order


def choose_funder(funders: Sequence[FunderConfig], application_id: str, amount: Decimal, *,
                  quota_left: Mapping[str, Decimal | None] | None = None,
                  exclude: Collection[str] = ()) -> FunderConfig | None:
    """The funder to submit ``application_id`` to, or None when no bank can take it."""
    order = route(funders, application_id, amount, quota_left=quota_left, exclude=exclude)
    return order[0] if order else None
