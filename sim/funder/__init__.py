"""A funding-bank stand-in (资金方: a bank funding loans through a lending-cooperation interface), run
as its own process::

    python -m sim.funder --port 8095 --bank-code BANKA [--latency-ms 200] [--rules rules.json]

See :mod:`sim.funder.server` for the protocol, :mod:`sim.funder.rules` for the bank's rules and
``docs/design/funding.md`` for both.
"""

from .rules import Rules
from .server import (
                     BAD_SIGNATURE_APPLICANT,
                     FAIL_ONCE_APPLICANT,
                     REFER_APPLICANT,
                     TIMEOUT_APPLICANT,
                     Config,
                     FunderServer,
)

__all__ = [
                     "BAD_SIGNATURE_APPLICANT",
                     "FAIL_ONCE_APPLICANT",
                     "REFER_APPLICANT",
                     "TIMEOUT_APPLICANT",
                     "Config",
                     "FunderServer",
                     "Rules",
]
