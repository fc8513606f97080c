"""Funding institutions (资金方): the banks that fund approved loans through a lending-cooperation
interface.  :mod:`.client` holds the interface, the HTTP client and the configuration objects;
:mod:`.routing` chooses the bank for an application.  See ``docs/design/funding.md``."""

from .client import (
                     ApplicantSummary,
                     CallbackVerifier,
                     Funder,
                     FunderConfig,
                     FunderDecision,
                     FunderError,
                     FunderQuota,
                     FundingConfig,
                     FundingRequest,
                     HttpFunder,
                     MemoryNonceStore,
                     NonceStore,
)
from .routing import choose_funder, route

__all__ = ["ApplicantSummary", "CallbackVerifier", "Funder", "FunderConfig", "FunderDecision", "FunderError",
           "FunderQuota", "FundingConfig", "FundingRequest", "HttpFunder", "MemoryNonceStore", "NonceStore",
           "choose_funder", "route"]
