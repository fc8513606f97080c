"""Repayment schedules: the pure engine (:mod:`.engine`), its dates and day counts (:mod:`.dates`),
APR in Decimal (:mod:`.apr`) and the ``openlend schedule`` JSON contract (:mod:`.io`)."""

from .engine import (
    APR,
    Fee,
    Frequency,
    Installment,
    Schedule,
    ScheduleInputError,
    ScheduleTerms,
    generate,
)

__all__ = ["APR", "Fee", "Frequency", "Installment", "Schedule", "ScheduleInputError", "ScheduleTerms", "generate"]
