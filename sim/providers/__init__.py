"""A data-provider stand-in (identity 2/3/4-factor checks, carrier data, court dishonest-debtor list,
multi-lending counts, PBOC-shaped credit report), run as its own process::

    python -m sim.providers --port 8090 --latency-ms 300

See :mod:`sim.providers.server` for the routes and knobs, :mod:`sim.providers.identities` for the
documented test identities, and docs/design/risk-data.md for what each one answers.
"""

from .identities import IDENTITIES, BY_KEY, TestIdentity, make_id_number, valid_id_number

__all__ = ["IDENTITIES", "BY_KEY", "TestIdentity", "make_id_number", "valid_id_number"]
