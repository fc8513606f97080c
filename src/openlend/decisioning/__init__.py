"""Decisioning: the credit scorecard (and, later, bureau, policy rules, limits and decision records).

``score(model, applicant)`` is a pure function of a :class:`Scorecard`, which is plain data read from
JSON; importing this package imports neither optbinning nor scikit-learn (only :func:`train` does).
"""

from __future__ import annotations

from importlib import resources

from .scorecard import (
    ApplicantError,
    ModelError,
    Reason,
    Scaling,
    Scorecard,
    ScoreResult,
    from_dict,
    from_json,
    score,
    to_dict,
    to_json,
    train,
)

PACKAGED_MODEL = "german_credit_scorecard.json"


def packaged_model() -> Scorecard:
    """The scorecard trained with the defaults and shipped in the wheel (``openlend model train`` made it)."""
    return from_json(resources.files(__package__).joinpath(PACKAGED_MODEL).read_text(encoding="utf-8"))


__all__ = [
    "PACKAGED_MODEL",
    "ApplicantError",
    "ModelError",
    "Reason",
    "Scaling",
    "ScoreResult",
    "Scorecard",
    "from_dict",
    "from_json",
    "packaged_model",
    "score",
    "to_dict",
    "to_json",
    "train",
]
