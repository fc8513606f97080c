"""The anti-fraud model: features, gradient-boosted trees as JSON, scoring with reasons, training.

Scoring is pure standard-library code: :func:`fraud_score` reads a :class:`FraudModel`, plain data
that goes to and from JSON (never pickle), so a decision naming ``model.version`` can be replayed
from the stored document without scikit-learn.  Only :func:`train` imports numpy and scikit-learn.

The trees are scikit-learn's ``GradientBoostingClassifier`` regression trees, exported node by node
(children, feature, threshold, leaf value, training cover).  scikit-learn compares features as
float32 against float64 thresholds; :func:`_as_float32` does the same, so the exported trees give
exactly scikit-learn's raw score (checked at training time).

Reasons: each tree's prediction is split along the path the application takes, crediting every
split's feature with the change in the expected value (cover-weighted mean of the leaves below)
from a node to the child taken (Saabas' attribution).  The contributions plus the model's expected
raw score add up to the raw score exactly; features are grouped into reason codes F01..F07 and the
groups pushing the score up the most are the model's reasons.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from .generate import OCCUPATION_INCOME_NORM
from .velocity import DEFAULT_RULES, VELOCITY_FEATURES, VelocityRule, check_velocity, most_severe, timestamp

FORMAT = "openlend.fraud-model/1"
MODEL_NAME = "synthetic-fraud-gbt"
ROUND = 10  # decimals kept of leaf values, so that a model's JSON is the same on any machine

# feature -> reason group
FEATURES: dict[str, str] = {
    "age": "F04",
    "income_to_norm": "F06",
    "form_fill_seconds": "F06",
    "paste_count": "F06",
    "mobile_tenure_months": "F04",
    "carrier_name_mismatch": "F04",
    "bureau_thin_file": "F04",
    "bureau_history_months": "F04",
    "bureau_accounts": "F04",
    "bureau_utilisation": "F05",
    "utilisation_jump": "F05",
    "bureau_queries_1m": "F05",
    "bureau_queries_3m": "F05",
    "ip_region_mismatch": "F07",
    "mobile_region_mismatch": "F07",
    "regions_all_distinct": "F07",
    "night_application": "F06",
    "device_emulator": "F01",
    "device_apps_1h": "F01",
    "device_apps_24h": "F01",
    "device_identities_24h": "F01",
    "ip_apps_1h": "F02",
    "ip_apps_24h": "F02",
    "card_identities_30d": "F03",
    "contact_identities_30d": "F03",
    "address_identities_30d": "F03",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
REASON_TEXTS: dict[str, str] = {
    "F01": "Device: many applications or people on this device, or an emulator",
    "F02": "IP address: many applications from this IP address",
    "F03": "Shared identifiers: bank card, contact mobile or address given by other people",
    "F04": "Identity: thin or new credit file, new mobile number, carrier name mismatch",
    "F05": "Credit behaviour: utilisation jump or many recent credit queries",
    "F06": "Application form: filled too fast, pasted fields, income far above the occupation norm, night",
    "F07": "Location: IP, mobile and ID card regions disagree",
}
MIN_REASON_LOGIT = 0.25  # a group is a reason only if it adds at least this much to the log-odds
NIGHT_HOURS = range(6)


class ModelError(ValueError):
    """A fraud-model document that cannot be read, or whose content does not match its version."""


class ApplicationError(ValueError):
    """An application missing a field the features need, or with a value of the wrong kind."""


# --------------------------------------------------------------------------------------------------
# Features


def _num(app: Mapping[str, Any], name: str, *, null: float | None = None) -> float:
    v = app.get(name)
    if v is None:
        if null is not None:
            return null
        raise ApplicationError(f"{name} is required")
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ApplicationError(f"{name} must be a number, not {v!r}") from None
    if not math.isfinite(x):
        raise ApplicationError(f"{name} must be finite")
    return x


def local_hour(applied_at: Any) -> int:
    """The hour on the applicant's clock: applied_at's own UTC offset (the channel records it)."""
    dt = applied_at if isinstance(applied_at, datetime) else datetime.fromisoformat(str(applied_at))
    timestamp(dt)  # refuses a naive time
    return dt.hour


def features(application: Mapping[str, Any], velocity: Mapping[str, Any]) -> dict[str, float]:
    """The model's inputs: a pure function of the application and its velocity features.

    A null bureau utilisation (thin file) is -1; the utilisation jump is 0 when either side is null;
    an unknown occupation takes the norm of ``other``; a velocity feature missing from ``velocity``
    is an error (0 would silently mean "no history").
    """
    a = application
    occupation = a.get("occupation")
    norm = OCCUPATION_INCOME_NORM.get(occupation if isinstance(occupation, str) else "other",
                                      OCCUPATION_INCOME_NORM["other"])
    util = _num(a, "bureau_utilisation", null=-1.0)
    util6 = _num(a, "bureau_utilisation_6m_avg", null=-1.0)
    id_region, ip_region, mobile_region = (str(a.get(k) or "") for k in ("id_region", "ip_region", "mobile_region"))
    if not id_region:
        raise ApplicationError("id_region is required")
    out = {
        "age": _num(a, "age"),
        "income_to_norm": _num(a, "monthly_income") / norm,
        "form_fill_seconds": _num(a, "form_fill_seconds"),
        "paste_count": _num(a, "paste_count", null=0.0),
        "mobile_tenure_months": _num(a, "mobile_tenure_months"),
        "carrier_name_mismatch": 1.0 - _num(a, "carrier_name_match"),
        "bureau_thin_file": _num(a, "bureau_thin_file"),
        "bureau_history_months": _num(a, "bureau_history_months", null=0.0),
        "bureau_accounts": _num(a, "bureau_accounts", null=0.0),
        "bureau_utilisation": util,
        "utilisation_jump": util - util6 if util >= 0 and util6 >= 0 else 0.0,
        "bureau_queries_1m": _num(a, "bureau_queries_1m"),
        "bureau_queries_3m": _num(a, "bureau_queries_3m"),
        "ip_region_mismatch": float(bool(ip_region) and ip_region != id_region),
        "mobile_region_mismatch": float(bool(mobile_region) and mobile_region != id_region),
        "regions_all_distinct": float(len({id_region, ip_region, mobile_region} - {""}) == 3),
        "night_application": float(local_hour(a["applied_at"]) in NIGHT_HOURS),
        "device_emulator": _num(a, "device_emulator", null=0.0),
    }
    for name in VELOCITY_FEATURES:
        if name not in velocity:
            raise ApplicationError(f"velocity feature {name} is missing")
        out[name] = _num(velocity, name)
    return out


def _as_float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


# --------------------------------------------------------------------------------------------------
# The model as plain data


@dataclass(frozen=True)
class Tree:
    """Nodes in scikit-learn's order; ``left[i] == -1`` marks a leaf.  ``cover``: training rows."""

    left: tuple[int, ...]
    right: tuple[int, ...]
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    value: tuple[float, ...]  # leaf values (0 at internal nodes)
    cover: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.left)
        if not n or any(len(x) != n for x in (self.right, self.feature, self.threshold, self.value, self.cover)):
            raise ModelError("a tree's node arrays differ in length")
        for i in range(n):
            if (self.left[i] == -1) != (self.right[i] == -1) or (
                    self.left[i] != -1 and not (i < self.left[i] < n and i < self.right[i] < n)):
                raise ModelError(f"node {i} has bad children")
        # expected value of each node: cover-weighted mean of its leaves (children come after parents)
        exp = list(self.value)
        for i in reversed(range(n)):
            if self.left[i] != -1:
                lc, rc = self.cover[self.left[i]], self.cover[self.right[i]]
                exp[i] = (lc * exp[self.left[i]] + rc * exp[self.right[i]]) / (lc + rc)
        object.__setattr__(self, "expected", tuple(exp))

    def path(self, x: Sequence[float]) -> list[int]:
        i, nodes = 0, [0]
        while self.left[i] != -1:
            i = self.left[i] if x[self.feature[i]] <= self.threshold[i] else self.right[i]
            nodes.append(i)
        return nodes

    def to_dict(self) -> dict[str, list]:
        return {"left": list(self.left), "right": list(self.right), "feature": list(self.feature),
                "threshold": list(self.threshold), "value": list(self.value), "cover": list(self.cover)}


@dataclass(frozen=True)
class Thresholds:
    refer: float  # score >= refer: refer (or decline)
    decline: float  # score >= decline: decline

    def __post_init__(self) -> None:
        if not 0.0 < self.refer <= self.decline <= 1.0:
            raise ModelError(f"thresholds must satisfy 0 < refer <= decline <= 1: {self}")

    def decision(self, score: float) -> str:
        return "decline" if score >= self.decline else "refer" if score >= self.refer else "pass"


@dataclass(frozen=True)
class FraudModel:
    name: str
    feature_names: tuple[str, ...]
    base_score: float  # raw log-odds before the trees
    learning_rate: float
    trees: tuple[Tree, ...]
    thresholds: Thresholds
    metrics: dict[str, Any]
    training: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)  # library versions; not in the version
    version: str = ""


def _content(model: FraudModel) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": model.name,
        "features": [{"name": n, "reason": FEATURES[n]} for n in model.feature_names],
        "occupation_income_norm": OCCUPATION_INCOME_NORM,
        "base_score": model.base_score,
        "learning_rate": model.learning_rate,
        "trees": [t.to_dict() for t in model.trees],
        "thresholds": {"refer": model.thresholds.refer, "decline": model.thresholds.decline},
        "metrics": model.metrics,
        "training": model.training,
    }


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compute_version(model: FraudModel) -> str:
    return "fm_" + hashlib.sha256(_canonical(_content(model)).encode()).hexdigest()[:20]


def to_dict(model: FraudModel) -> dict[str, Any]:
    return {"version": compute_version(model), **_content(model), "provenance": model.provenance}


def to_json(model: FraudModel) -> str:
    # one tree per line keeps the file diffable without making it huge
    doc = to_dict(model)
    trees = doc.pop("trees")
    head = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    body = ",\n".join("  " + json.dumps(t, sort_keys=True, separators=(",", ":"), allow_nan=False) for t in trees)
    return head[:-2] + ',\n "trees": [\n' + body + "\n ]\n}\n"


def from_dict(doc: Mapping[str, Any]) -> FraudModel:
    """Read a model document; refuses one whose content does not hash to its ``version``."""
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise ModelError(f"not a fraud-model document (format {doc.get('format') if isinstance(doc, Mapping) else None!r})")
    try:
        names = tuple(f["name"] for f in doc["features"])
        if set(names) - set(FEATURES) or any(FEATURES[f["name"]] != f["reason"] for f in doc["features"]):
            raise ModelError("the document's features are not the ones this code computes")
        if doc["occupation_income_norm"] != OCCUPATION_INCOME_NORM:
            raise ModelError("the document's occupation income norms differ from this code's")
        trees = tuple(
            Tree(tuple(int(v) for v in t["left"]), tuple(int(v) for v in t["right"]),
                 tuple(int(v) for v in t["feature"]), tuple(float(v) for v in t["threshold"]),
                 tuple(float(v) for v in t["value"]), tuple(float(v) for v in t["cover"]))
            for t in doc["trees"]
        )
        for t in trees:
            if any(f < 0 or f >= len(names) for f, l in zip(t.feature, t.left) if l != -1):
                raise ModelError("a split names a feature the model does not have")
        th = doc["thresholds"]
        model = FraudModel(name=doc["name"], feature_names=names, base_score=float(doc["base_score"]),
                           learning_rate=float(doc["learning_rate"]), trees=trees,
                           thresholds=Thresholds(float(th["refer"]), float(th["decline"])),
                           metrics=doc["metrics"], training=doc["training"],
                           provenance=dict(doc.get("provenance") or {}))
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"malformed fraud-model document: {exc!r}") from exc
    version = compute_version(model)
    if doc.get("version") is not None and doc["version"] != version:
        raise ModelError(f"version {doc['version']!r} does not match the content ({version!r})")
    return replace(model, version=version)


def from_json(text: str | bytes) -> FraudModel:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"not JSON: {exc}") from exc
    return from_dict(doc)


# --------------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Reason:
    code: str  # V01.. (velocity rule) or F01.. (model)
    text: str
    source: str  # "rule" | "model"
    action: str | None = None  # a rule's action
    contribution: float | None = None  # a model reason's share of the log-odds

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "text": self.text, "source": self.source}
        if self.action is not None:
            d["action"] = self.action
        if self.contribution is not None:
            d["contribution"] = round(self.contribution, 4)
        return d


@dataclass(frozen=True)
class FraudResult:
    score: float  # model probability of fraud, 0..1 (calibrated to the synthetic training population)
    decision: str  # pass | refer | decline: the more severe of the model's and the rules'
    reasons: tuple[Reason, ...]
    model_version: str
    model_decision: str
    policy_score: Decimal  # 0..100 on the policy table's scale (60 = refer, 80 = decline)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "decision": self.decision, "model_decision": self.model_decision,
                "policy_score": str(self.policy_score), "model_version": self.model_version,
                "reasons": [r.to_dict() for r in self.reasons]}


def _vector(model: FraudModel, feats: Mapping[str, float]) -> list[float]:
    return [_as_float32(feats[n]) for n in model.feature_names]


def raw_score(model: FraudModel, x: Sequence[float]) -> float:
    """Log-odds of fraud for a feature vector in the model's order (already float32-rounded)."""
    total = 0.0
    for t in model.trees:
        i = 0
        left, right, feat, thr = t.left, t.right, t.feature, t.threshold
        while left[i] != -1:
            i = left[i] if x[feat[i]] <= thr[i] else right[i]
        total += t.value[i]
    return model.base_score + model.learning_rate * total


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def contributions(model: FraudModel, x: Sequence[float]) -> dict[str, float]:
    """Each feature's share of the raw score above the model's expected raw score (sums exactly)."""
    out = dict.fromkeys(model.feature_names, 0.0)
    for t in model.trees:
        nodes = t.path(x)
        for parent, child in zip(nodes, nodes[1:]):
            out[model.feature_names[t.feature[parent]]] += model.learning_rate * (t.expected[child] - t.expected[parent])
    return out


def policy_score(model: FraudModel, score: float) -> Decimal:
    """The score on the policy table's 0..100 scale: piecewise linear, the model's refer threshold
    at 60 and its decline threshold at 80 (``P051_FRAUD_REVIEW`` and ``P050_FRAUD_DECLINE``)."""
    r, d = model.thresholds.refer, model.thresholds.decline
    if score < r:
        v = 60 * score / r
    elif score < d:
        v = 60 + 20 * (score - r) / (d - r)
    else:
        v = 80 + 20 * (score - d) / (1 - d) if d < 1 else 100
    v = min(max(v, 0.0), 100.0)
    q = Decimal(str(v)).quantize(Decimal("0.01"))
    # rounding must not cross a band edge the score has not reached
    if score < r and q >= 60:
        q = Decimal("59.99")
    elif score < d and q >= 80:
        q = Decimal("79.99")
    return q


def fraud_score(model: FraudModel, application: Mapping[str, Any], velocity: Mapping[str, Any], *,
                rules: Sequence[VelocityRule] = DEFAULT_RULES, max_reasons: int = 3) -> FraudResult:
    """Score one application with its velocity features (:func:`velocity.velocity_features`).

    The decision is the more severe of the model's (score against its thresholds) and the velocity
    rules'.  Reasons: every rule hit, then, when the model refers or declines, its top reason groups.
    """
    x = _vector(model, features(application, velocity))
    score = _sigmoid(raw_score(model, x))
    model_decision = model.thresholds.decision(score)
    hits = check_velocity(velocity, rules)
    reasons = [Reason(h.code, h.text, "rule", action=h.action) for h in hits]
    if model_decision != "pass":
        groups: dict[str, float] = {}
        for name, c in contributions(model, x).items():
            groups[FEATURES[name]] = groups.get(FEATURES[name], 0.0) + c
        ranked = sorted(((c, g) for g, c in groups.items() if c >= MIN_REASON_LOGIT), key=lambda t: (-t[0], t[1]))
        reasons += [Reason(g, REASON_TEXTS[g], "model", contribution=c) for c, g in ranked[:max_reasons]]
    return FraudResult(score=score, decision=most_severe([model_decision, *(h.action for h in hits)]),
                       reasons=tuple(reasons), model_version=model.version or compute_version(model),
                       model_decision=model_decision, policy_score=policy_score(model, score))


# --------------------------------------------------------------------------------------------------
# Metrics (plain Python, so that a stored model can be re-measured without scikit-learn)


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Probability that a random fraud scores above a random genuine application (ties count half)."""
    pairs = sorted(zip(scores, labels))
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        rank_sum += sum(y for _, y in pairs[i:j + 1]) * ((i + j) / 2 + 1)
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def confusion(flagged: Sequence[bool], labels: Sequence[int]) -> dict[str, Any]:
    tp = sum(1 for f, y in zip(flagged, labels) if f and y)
    fp = sum(1 for f, y in zip(flagged, labels) if f and not y)
    fn = sum(1 for f, y in zip(flagged, labels) if not f and y)
    tn = len(labels) - tp - fp - fn
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "flag_rate": round((tp + fp) / len(labels), 4),
            "genuine_flag_rate": round(fp / (fp + tn), 5) if fp + tn else None}


def evaluate(model: FraudModel, applications: Sequence[Mapping[str, Any]], velocity: Sequence[Mapping[str, Any]],
             labels: Sequence[int], patterns: Sequence[str]) -> dict[str, Any]:
    """AUC, confusion at refer-or-worse and at decline (model, and model + rules), recall per pattern."""
    results = [fraud_score(model, a, v) for a, v in zip(applications, velocity)]
    scores = [r.score for r in results]
    per_pattern: dict[str, dict[str, Any]] = {}
    for p in sorted(set(patterns)):
        idx = [i for i, q in enumerate(patterns) if q == p]
        per_pattern[p] = {
            "n": len(idx),
            "flagged": round(sum(results[i].decision != "pass" for i in idx) / len(idx), 4),
            "declined": round(sum(results[i].decision == "decline" for i in idx) / len(idx), 4),
        }
    return {
        "n": len(labels), "fraud_rate": round(sum(labels) / len(labels), 4), "auc": round(auc(scores, labels), 5),
        "model_refer_or_decline": confusion([r.model_decision != "pass" for r in results], labels),
        "model_decline": confusion([r.model_decision == "decline" for r in results], labels),
        "final_refer_or_decline": confusion([r.decision != "pass" for r in results], labels),
        "final_decline": confusion([r.decision == "decline" for r in results], labels),
        "rules_only": confusion([bool(check_velocity(v)) for v in velocity], labels),
        "by_pattern": per_pattern,
    }


# --------------------------------------------------------------------------------------------------
# Training


def time_split(applications: Sequence[Mapping[str, Any]], cuts: tuple[float, float]) -> tuple[list[int], list[int], list[int]]:
    """Indices (train, validation, hold-out) in ``applied_at`` order: the first ``cuts[0]`` of the
    applications, then up to ``cuts[1]``, then the rest.  Fraud is judged on applications that come later."""
    order = sorted(range(len(applications)), key=lambda i: (timestamp(applications[i]["applied_at"]), i))
    c1, c2 = round(len(order) * cuts[0]), round(len(order) * cuts[1])
    return sorted(order[:c1]), sorted(order[c1:c2]), sorted(order[c2:])


def _pick_thresholds(scores: Sequence[float], labels: Sequence[int], *, flag_rate: float,
                     decline_precision: float, min_declines: int) -> Thresholds:
    """Refer: flag the top ``flag_rate`` of applications.  Decline: the lowest score above which the
    precision is at least ``decline_precision`` (over at least ``min_declines`` applications)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    k = max(1, round(flag_rate * len(scores)))
    refer = scores[order[k - 1]]
    decline, tp = 1.0, 0
    for n, i in enumerate(order, start=1):
        tp += labels[i]
        nxt = scores[order[n]] if n < len(order) else None
        if nxt == scores[i]:
            continue  # a threshold cannot split tied scores
        if n >= min_declines and tp / n >= decline_precision:
            decline = scores[i]
    decline = max(decline, refer)
    return Thresholds(refer=refer, decline=decline)


def train(dataset=None, *, seed: int = 7, n_estimators: int = 150, max_depth: int = 3, learning_rate: float = 0.1,
          min_samples_leaf: int = 20, cuts: tuple[float, float] = (0.6, 0.8), flag_rate: float = 0.04,
          decline_precision: float = 0.95, min_declines: int = 50) -> FraudModel:
    """Gradient boosting on the generator's default data set (or ``dataset``), split by time.

    Trees are fitted on the first 60 % of the period, the thresholds are chosen on the next 20 %
    (validation) and the metrics reported on the last 20 % (hold-out), all with the exported trees.
    """
    import importlib.metadata

    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    from .generate import generate

    ds = dataset if dataset is not None else generate()
    tr, va, ho = time_split(ds.applications, cuts)
    rows = (features(a, v) for a, v in zip(ds.applications, ds.velocity))
    X = np.array([[f[n] for n in FEATURE_NAMES] for f in rows], dtype=np.float64)
    y = np.array(ds.labels)
    gbc = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                                     min_samples_leaf=min_samples_leaf, subsample=1.0, random_state=seed)
    gbc.fit(X[tr], y[tr])

    trees = []
    for est in gbc.estimators_[:, 0]:
        t = est.tree_
        leaf = t.children_left == -1
        trees.append(Tree(
            left=tuple(int(v) for v in t.children_left), right=tuple(int(v) for v in t.children_right),
            feature=tuple(int(f) if not lf else 0 for f, lf in zip(t.feature, leaf)),
            threshold=tuple(float(h) if not lf else 0.0 for h, lf in zip(t.threshold, leaf)),
            value=tuple(round(float(v), ROUND) if lf else 0.0 for v, lf in zip(t.value[:, 0, 0], leaf)),
            cover=tuple(float(c) for c in t.weighted_n_node_samples),
        ))
    prior = float(y[tr].mean())
    base = round(math.log(prior / (1 - prior)), ROUND)
    training = {
        "data": {"generator": "openlend.antifraud.generate.generate", "seed": ds.seed, "n": len(ds),
                 "fraud_rate": round(ds.fraud_rate, 5)},
        "split": {"by": "applied_at", "cuts": list(cuts), "n_train": len(tr), "n_validation": len(va),
                  "n_holdout": len(ho)},
        "estimator": {"class": "sklearn.ensemble.GradientBoostingClassifier", "n_estimators": n_estimators,
                      "max_depth": max_depth, "learning_rate": learning_rate, "min_samples_leaf": min_samples_leaf,
                      "subsample": 1.0, "random_state": seed},
        "thresholds": {"refer": f"top {flag_rate:.0%} of validation applications flagged",
                       "decline": f"validation precision >= {decline_precision} over >= {min_declines} applications"},
    }
    model = FraudModel(name=MODEL_NAME, feature_names=FEATURE_NAMES, base_score=base, learning_rate=learning_rate,
                       trees=tuple(trees), thresholds=Thresholds(0.5, 0.5), metrics={}, training=training,
                       provenance={lib: importlib.metadata.version(lib) for lib in ("scikit-learn", "numpy")})

    # the exported trees must be scikit-learn's model (up to the rounding of leaf values)
    check = X[va][:2000]
    ours = np.array([raw_score(model, [_as_float32(v) for v in row]) for row in check])
    theirs = gbc.decision_function(check)
    if not np.allclose(ours, theirs, rtol=0, atol=1e-6):
        raise AssertionError(f"exported trees disagree with scikit-learn: max {np.abs(ours - theirs).max()}")

    va_scores = [_sigmoid(raw_score(model, [_as_float32(v) for v in X[i]])) for i in va]
    thresholds = _pick_thresholds(va_scores, [ds.labels[i] for i in va], flag_rate=flag_rate,
                                  decline_precision=decline_precision, min_declines=min_declines)
    model = replace(model, thresholds=thresholds)

    def part(idx):
        return ([ds.applications[i] for i in idx], [ds.velocity[i] for i in idx],
                [ds.labels[i] for i in idx], [ds.patterns[i] for i in idx])

    metrics = {"validation": evaluate(model, *part(va)), "holdout": evaluate(model, *part(ho)),
               "train_auc": round(auc([_sigmoid(raw_score(model, [_as_float32(v) for v in X[i]])) for i in tr],
                                      [ds.labels[i] for i in tr]), 5)}
    model = replace(model, metrics=metrics)
    return replace(model, version=compute_version(model))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m openlend.antifraud [--output FILE]``: train and print the hold-out metrics."""
    import argparse
    import sys

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--output", help="write the model JSON here")
    args = p.parse_args(argv)
    model = train()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(to_json(model))
    json.dump({"version": model.version, "thresholds": _content(model)["thresholds"], "metrics": model.metrics},
              sys.stdout, indent=1)
    sys.stdout.write("\n")

