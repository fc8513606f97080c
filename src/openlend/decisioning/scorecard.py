"""A WoE logistic scorecard: training (optbinning + logistic regression), scoring, reason codes.

Scoring is pure: :func:`score` reads only a :class:`Scorecard`, which is plain data that goes to and
from JSON (never pickle), so a decision that names ``model.version_id`` can be replayed exactly from
the stored JSON without optbinning, scikit-learn or the training data.  Training imports the heavy
libraries only inside :func:`train`.

The scale: ``points = offset + factor * ln(odds of good)`` with ``factor = pdo / ln 2`` and
``offset = base_points - factor * ln(base_odds)``, so ``base_points`` means odds of ``base_odds``:1
(good:bad) and every ``pdo`` points double the odds.  The intercept is spread evenly over the
variables, each bin's points are rounded to an integer, and the total is the sum of the variables'
points.  The probability of default is read back from the total on the same scale, so a score and
its probability never disagree, and the metrics are measured on the integer points that ship.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from numbers import Real
from typing import Any

from .data import FIELDS, FIELDS_BY_NAME, PROTECTED, CreditData

FORMAT = "openlend.scorecard/1"
MODEL_NAME = "german-credit-woe-logistic"
ROUND_PARAMETERS = 8  # decimals kept of WoE and coefficients, so a model is the same on any machine
REASON_CODES = {f.name: f"R{i:02d}" for i, f in enumerate(FIELDS, start=1)}


class ModelError(ValueError):
    """A scorecard document that cannot be read, or whose content does not match its version id."""


class ApplicantError(ValueError):
    """An applicant the scorecard cannot score: ``errors`` maps each bad field to why."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


# --------------------------------------------------------------------------------------------------
# The model as plain data


@dataclass(frozen=True)
class Scaling:
    base_points: float = 600.0
    base_odds: float = 50.0  # good:bad odds at base_points
    pdo: float = 20.0  # points to double the odds

    def __post_init__(self) -> None:
        if not (self.base_odds > 0 and self.pdo > 0):
            raise ValueError("base_odds and pdo must be positive")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def probability_of_default(self, points: float) -> float:
        odds_good = self.base_odds * 2.0 ** ((points - self.base_points) / self.pdo)
        return 1.0 / (1.0 + odds_good)


@dataclass(frozen=True)
class Bin:
    """A numerical bin ``[lower, upper)`` (None: unbounded) or a set of category codes."""

    woe: float
    points: int
    count: int
    bad_rate: float
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        if self.categories is not None:
            return ", ".join(self.categories)
        lo = "-inf" if self.lower is None else f"{self.lower:g}"
        hi = "inf" if self.upper is None else f"{self.upper:g}"
        return f"[{lo}, {hi})"


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str  # "numerical" | "categorical"
    coefficient: float
    iv: float
    bins: tuple[Bin, ...]

    @property
    def reason_code(self) -> str:
        return REASON_CODES[self.name]

    @property
    def reason(self) -> str:
        return FIELDS_BY_NAME[self.name].reason

    @cached_property
    def max_points(self) -> int:
        return max(b.points for b in self.bins)

    @cached_property
    def min_points(self) -> int:
        return min(b.points for b in self.bins)

    @cached_property
    def _uppers(self) -> list[float]:
        return [b.upper for b in self.bins[:-1]]

    def find_bin(self, value: Any) -> Bin:
        if self.kind == "numerical":
            return self.bins[bisect.bisect_right(self._uppers, float(value))]
        for b in self.bins:
            if value in b.categories:
                return b
        raise KeyError(value)


@dataclass(frozen=True)
class Scorecard:
    name: str
    scaling: Scaling
    intercept: float
    variables: tuple[Variable, ...]
    metrics: dict[str, dict[str, float]]
    training: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)  # library versions; not in the version id
    version_id: str = ""

    @property
    def min_score(self) -> int:
        return sum(v.min_points for v in self.variables)

    @property
    def max_score(self) -> int:
        return sum(v.max_points for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


def _bin_to_dict(b: Bin) -> dict[str, Any]:
    d: dict[str, Any] = {"woe": b.woe, "points": b.points, "count": b.count, "bad_rate": b.bad_rate}
    if b.categories is not None:
        d["categories"] = list(b.categories)
    else:
        d["lower"], d["upper"] = b.lower, b.upper
    return d


def _content(model: Scorecard) -> dict[str, Any]:
    """Everything that defines the scorecard and its measured quality: what the version id hashes."""
    return {
        "format": FORMAT,
        "name": model.name,
        "scaling": {"base_points": model.scaling.base_points, "base_odds": model.scaling.base_odds,
                    "pdo": model.scaling.pdo},
        "intercept": model.intercept,
        "variables": [
            {"name": v.name, "kind": v.kind, "coefficient": v.coefficient, "iv": v.iv,
             "reason_code": v.reason_code, "bins": [_bin_to_dict(b) for b in v.bins]}
            for v in model.variables
        ],
        "metrics": model.metrics,
        "training": model.training,
    }


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compute_version_id(model: Scorecard) -> str:
    return "sc_" + hashlib.sha256(_canonical(_content(model)).encode()).hexdigest()[:20]


def to_dict(model: Scorecard) -> dict[str, Any]:
    return {"version_id": compute_version_id(model), **_content(model), "provenance": model.provenance}


def to_json(model: Scorecard, *, indent: int | None = 1) -> str:
    return json.dumps(to_dict(model), sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def from_dict(doc: Mapping[str, Any]) -> Scorecard:
    """Read a scorecard document; refuses one whose content does not hash to its ``version_id``."""
    try:
        if doc.get("format") != FORMAT:
            raise ModelError(f"not a scorecard document (format {doc.get('format')!r}, expected {FORMAT!r})")
        variables = []
        for v in doc["variables"]:
            if v["name"] not in FIELDS_BY_NAME or v["kind"] not in ("numerical", "categorical"):
                raise ModelError(f"unknown variable {v['name']!r} of kind {v['kind']!r}")
            bins = tuple(
                Bin(woe=float(b["woe"]), points=int(b["points"]), count=int(b["count"]),
                    bad_rate=float(b["bad_rate"]),
                    lower=None if b.get("lower") is None else float(b["lower"]),
                    upper=None if b.get("upper") is None else float(b["upper"]),
                    categories=None if v["kind"] == "numerical" else tuple(b["categories"]))
                for b in v["bins"]
            )
            if not bins:
                raise ModelError(f"variable {v['name']!r} has no bins")
            variables.append(Variable(name=v["name"], kind=v["kind"], coefficient=float(v["coefficient"]),
                                      iv=float(v["iv"]), bins=bins))
        s = doc["scaling"]
        model = Scorecard(
            name=doc["name"],
            scaling=Scaling(float(s["base_points"]), float(s["base_odds"]), float(s["pdo"])),
            intercept=float(doc["intercept"]),
            variables=tuple(variables),
            metrics=doc["metrics"],
            training=doc["training"],
            provenance=dict(doc.get("provenance") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"malformed scorecard document: {exc!r}") from exc
    version_id = compute_version_id(model)
    claimed = doc.get("version_id")
    if claimed is not None and claimed != version_id:
        raise ModelError(f"version id {claimed!r} does not match the content ({version_id!r})")
    return replace(model, version_id=version_id)


def from_json(text: str | bytes) -> Scorecard:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ModelError("a scorecard document is a JSON object")
    return from_dict(doc)


# --------------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Reason:
    code: str
    field: str
    text: str
    points: int
    max_points: int

    @property
    def shortfall(self) -> int:
        return self.max_points - self.points

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "text": self.text, "points": self.points,
                "max_points": self.max_points, "shortfall": self.shortfall}


@dataclass(frozen=True)
class ScoreResult:
    model_version: str
    score: int
    probability_of_default: float
    points: dict[str, int]  # per variable, in the model's order
    reasons: tuple[Reason, ...]  # top adverse reasons, largest shortfall first

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "score": self.score,
                "probability_of_default": self.probability_of_default, "points": dict(self.points),
                "reasons": [r.to_dict() for r in self.reasons]}


def _check_value(var: Variable, value: Any) -> str | None:
    if value is None:
        return "is required"
    if var.kind == "numerical":
        if isinstance(value, bool) or not isinstance(value, (Real, Decimal)):
            return f"must be a number, not {type(value).__name__}"
        if not math.isfinite(float(value)):
            return "must be a finite number"
        return None
    if not isinstance(value, str):
        return f"must be one of the codes, not {type(value).__name__}"
    try:
        var.find_bin(value)
    except KeyError:
        known = sorted(c for b in var.bins for c in (b.categories or ()))
        return f"unknown code {value!r}; expected one of {known}"
    return None


def score(model: Scorecard, applicant: Mapping[str, Any], *, max_reasons: int = 4) -> ScoreResult:
    """Score one applicant (a dict of form fields; fields the model does not use are ignored).

    Reason codes are the variables whose points fall furthest below their maximum, largest shortfall
    first (ties in the model's variable order), at most ``max_reasons`` and only those that cost points.
    """
    errors = {v.name: msg for v in model.variables if (msg := _check_value(v, applicant.get(v.name)))}
    if errors:
        raise ApplicantError(errors)
    points = {v.name: v.find_bin(applicant[v.name]).points for v in model.variables}
    total = sum(points.values())
    shortfalls = [(v.max_points - points[v.name], i, v) for i, v in enumerate(model.variables)]
    shortfalls.sort(key=lambda t: (-t[0], t[1]))
    reasons = tuple(
        Reason(code=v.reason_code, field=v.name, text=v.reason, points=points[v.name], max_points=v.max_points)
        for gap, _, v in shortfalls[:max_reasons] if gap > 0
    )
    return ScoreResult(model_version=model.version_id or compute_version_id(model), score=total,
                       probability_of_default=model.scaling.probability_of_default(total),
                       points=points, reasons=reasons)


# --------------------------------------------------------------------------------------------------
# Metrics (plain Python, so that a stored model can be re-measured without scikit-learn)


def _average_ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def discrimination(scores: Sequence[float], bad: Sequence[int]) -> dict[str, float]:
    """AUC, KS and Gini of a score where higher means safer, against outcomes (1 = bad)."""
    n_bad = sum(bad)
    n_good = len(bad) - n_bad
    if n_bad == 0 or n_good == 0:
        raise ValueError("need both good and bad outcomes")
    ranks = _average_ranks([-s for s in scores])  # rank by risk
    auc = (sum(r for r, y in zip(ranks, bad) if y) - n_bad * (n_bad + 1) / 2) / (n_bad * n_good)
    ks = cum_bad = cum_good = 0.0
    pairs = sorted(zip(scores, bad))
    for i, (s, y) in enumerate(pairs):  # walk up from the riskiest score
        cum_bad += y
        cum_good += 1 - y
        if i + 1 == len(pairs) or pairs[i + 1][0] != s:
            ks = max(ks, abs(cum_bad / n_bad - cum_good / n_good))
    return {"auc": round(auc, 6), "ks": round(ks, 6), "gini": round(2 * auc - 1, 6),
            "n": len(bad), "bad_rate": round(n_bad / len(bad), 6)}


def evaluate(model: Scorecard, rows: Iterable[Mapping[str, Any]], bad: Sequence[int]) -> dict[str, float]:
    """AUC, KS and Gini of the model's total points on these rows (rows must be complete)."""
    return discrimination([sum(v.find_bin(r[v.name]).points for v in model.variables) for r in rows], bad)


# --------------------------------------------------------------------------------------------------
# Training


def stratified_split(bad: Sequence[int], *, test_size: float, seed: int) -> tuple[list[int], list[int]]:
    """Row indices (train, test): each class shuffled with numpy's PCG64 and ``test_size`` of it held out."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    train: list[int] = []
    test: list[int] = []
    for cls in (0, 1):
        idx = np.array([i for i, y in enumerate(bad) if y == cls])
        idx = idx[rng.permutation(len(idx))]
        n_test = round(len(idx) * test_size)
        test.extend(int(i) for i in idx[:n_test])
        train.extend(int(i) for i in idx[n_test:])
    return sorted(train), sorted(test)


def _bin_variable(name: str, values: list[Any], bad: list[int], *, min_bin_size: float) -> tuple[tuple[Bin, ...], float]:
    """Optimal bins for one variable on the training rows; WoE = ln(share of goods / share of bads)."""
    import numpy as np
    from optbinning import OptimalBinning

    f = FIELDS_BY_NAME[name]
    numerical = f.kind == "numerical"
    x = np.array(values, dtype=float if numerical else object)
    y = np.array(bad)
    ob = OptimalBinning(
        name=name, dtype=f.kind, solver="cp", min_bin_size=min_bin_size,
        # numerical: a single increasing or decreasing trend, whichever fits; categorical bins are
        # ordered by bad rate, so their WoE is monotonic in bin order by construction
        monotonic_trend="auto_asc_desc" if numerical else "auto",
    )
    ob.fit(x, y)
    splits = list(ob.splits)
    groups: list[tuple[float | None, float | None, tuple[str, ...] | None]]
    if numerical:
        edges = [None, *[float(s) for s in splits], None]
        groups = [(edges[i], edges[i + 1], None) for i in range(len(edges) - 1)]
    else:
        groups = [(None, None, tuple(sorted(str(c) for c in g))) for g in splits]
    bins: list[Bin] = []
    n_good_total = len(y) - int(y.sum())
    n_bad_total = int(y.sum())
    for lower, upper, cats in groups:
        if numerical:
            mask = np.ones(len(x), dtype=bool)
            if lower is not None:
                mask &= x >= lower
            if upper is not None:
                mask &= x < upper
        else:
            mask = np.isin(x, list(cats))
        n = int(mask.sum())
        n_bad = int(y[mask].sum())
        n_good = n - n_bad
        # optbinning never leaves a bin without goods or bads; guard anyway rather than divide by 0
        woe = math.log(max(n_good, 0.5) / n_good_total) - math.log(max(n_bad, 0.5) / n_bad_total)
        bins.append(Bin(woe=round(woe, ROUND_PARAMETERS), points=0, count=n,
                        bad_rate=round(n_bad / n, 6), lower=lower, upper=upper, categories=cats))
    if not numerical:
        # codes of the form that the training rows never showed go with the riskiest bin (conservative)
        seen = {c for b in bins for c in b.categories}
        unseen = tuple(sorted(set(f.codes.values()) - seen))
        if unseen and bins:
            worst = min(range(len(bins)), key=lambda i: bins[i].woe)
            bins[worst] = replace(bins[worst], categories=tuple(sorted(bins[worst].categories + unseen)))
    iv = sum(
        (b.count * (1 - b.bad_rate) / n_good_total - b.count * b.bad_rate / n_bad_total) * b.woe for b in bins
    )
    return tuple(bins), round(iv, 6)


def _fit_logistic(woe_columns: list[list[float]], bad: list[int], *, C: float) -> tuple[float, list[float]]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.array(woe_columns, dtype=float).T
    lr = LogisticRegression(C=C, tol=1e-10, max_iter=10_000, solver="lbfgs")
    lr.fit(X, np.array(bad))
    return float(lr.intercept_[0]), [float(c) for c in lr.coef_[0]]


def train(
    data: CreditData | None = None,
    *,
    seed: int = 42,
    test_size: float = 0.3,
    scaling: Scaling = Scaling(),
    exclude: Iterable[str] = PROTECTED,
    include: Iterable[str] = (),
    iv_min: float = 0.02,
    min_bin_size: float = 0.05,
    C: float = 1.0,
) -> Scorecard:
    """Train the scorecard on a fixed stratified split of the German credit data.

    ``exclude``: fields never used (by default the protected ones).  ``include``: fields kept whatever
    their information value.  Others are kept when their IV on the training rows is at least
    ``iv_min``.  A variable whose coefficient comes out with the wrong sign (more WoE, more risk) is
    dropped and the regression refitted, so that every bin's points rise with its good:bad odds.
    """
    import importlib.metadata

    from .data import load_german_credit

    data = data or load_german_credit()
    exclude, include = set(exclude), set(include)
    unknown = (exclude | include) - set(FIELDS_BY_NAME)
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    if exclude & include:
        raise ValueError(f"fields both included and excluded: {sorted(exclude & include)}")
    train_idx, test_idx = stratified_split(data.bad, test_size=test_size, seed=seed)
    train_rows = [data.rows[i] for i in train_idx]
    train_bad = [data.bad[i] for i in train_idx]

    binned: dict[str, tuple[tuple[Bin, ...], float]] = {}
    dropped: dict[str, str] = {}
    for f in FIELDS:
        if f.name in exclude:
            continue
        bins, iv = _bin_variable(f.name, [r[f.name] for r in train_rows], train_bad, min_bin_size=min_bin_size)
        if len(bins) < 2:
            dropped[f.name] = "a single bin after binning (no information)"
        elif iv < iv_min and f.name not in include:
            dropped[f.name] = f"information value {iv:.4f} below {iv_min}"
        else:
            binned[f.name] = (bins, iv)

    def woe_of(name: str, row: Mapping[str, Any]) -> float:
        var = Variable(name, FIELDS_BY_NAME[name].kind, 0.0, 0.0, binned[name][0])
        return var.find_bin(row[name]).woe

    selected = list(binned)
    while True:
        intercept, coefs = _fit_logistic([[woe_of(n, r) for r in train_rows] for n in selected], train_bad, C=C)
        wrong = [(c, n) for c, n in zip(coefs, selected) if c >= 0]  # P(bad) must fall as WoE rises
        if not wrong:
            break
        c, n = max(wrong)
        dropped[n] = f"coefficient {c:+.4f} has the wrong sign"
        selected.remove(n)

    intercept = round(intercept, ROUND_PARAMETERS)
    coefs = [round(c, ROUND_PARAMETERS) for c in coefs]
    k = len(selected)
    variables = []
    for name, coef in zip(selected, coefs):
        bins, iv = binned[name]
        # this variable's share of ln(odds good) = -(coef * woe + intercept / k), on the points scale
        pts = tuple(
            replace(b, points=round(scaling.offset / k - scaling.factor * (coef * b.woe + intercept / k)))
            for b in bins
        )
        variables.append(Variable(name=name, kind=FIELDS_BY_NAME[name].kind, coefficient=coef, iv=iv, bins=pts))

    training = {
        "data": data.source,
        "seed": seed,
        "test_size": test_size,
        "split": "stratified on the outcome, numpy PCG64",
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "excluded": sorted(exclude),
        "included": sorted(include),
        "dropped": dict(sorted(dropped.items())),
        "iv_min": iv_min,
        "min_bin_size": min_bin_size,
        "binning": "optbinning OptimalBinning, solver cp, monotonic_trend auto_asc_desc (numerical)",
        "regression": f"logistic regression on WoE, L2 C={C}, lbfgs",
    }
    provenance = {lib: importlib.metadata.version(lib) for lib in ("optbinning", "scikit-learn", "numpy", "ortools")}
    model = Scorecard(name=MODEL_NAME, scaling=scaling, intercept=intercept, variables=tuple(variables),
                      metrics={}, training=training, provenance=provenance)
    metrics = {
        "train": evaluate(model, train_rows, train_bad),
        "holdout": evaluate(model, [data.rows[i] for i in test_idx], [data.bad[i] for i in test_idx]),
    }
    model = replace(model, metrics=metrics)
    return replace(model, version_id=compute_version_id(model))
