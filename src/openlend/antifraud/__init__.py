"""Anti-fraud: velocity features and rules, a gradient-boosted fraud model stored as JSON, scoring.

``fraud_score(model, application, velocity)`` is pure standard-library code over a :class:`FraudModel`
read from JSON; importing this package imports neither numpy nor scikit-learn (only ``model.train``
does, and ``generate`` needs nothing but the standard library).  See docs/design/antifraud.md.
"""

from __future__ import annotations

from importlib import resources

from .model import (
    ApplicationError,
    FraudModel,
    FraudResult,
    ModelError,
    Reason,
    features,
    fraud_score,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from .velocity import DEFAULT_RULES, VELOCITY_FEATURES, VelocityRule, VelocityTracker, check_velocity, velocity_features

PACKAGED_MODEL = "fraud_model.json"


def packaged_model() -> FraudModel:
    """The model trained with the defaults (``python -m openlend.antifraud --output ...``)."""
    return from_json(resources.files(__package__).joinpath(PACKAGED_MODEL).read_text(encoding="utf-8"))


__all__ = [
    "DEFAULT_RULES", "PACKAGED_MODEL", "VELOCITY_FEATURES", "ApplicationError", "FraudModel", "FraudResult",
    "ModelError", "Reason", "VelocityRule", "VelocityTracker", "check_velocity", "features", "fraud_score",
    "from_dict", "from_json", "packaged_model", "to_dict", "to_json", "velocity_features",
]
