"""The decision engine: inputs -> score -> policy rules -> limit and price -> a decision record.

:func:`decide` is a pure function of the application's inputs, a :class:`~.policy.Policy`, a
:class:`~.scorecard.Scorecard` (the champion), a product config (native form, Decimals, as
:func:`openlend.products.rules.normalize` or ``config_from_json`` give it) and, optionally, a
champion/challenger split.  It reads no clock, no database and no randomness, so the same
arguments always give the same :class:`Decision`, down to its ``decision_id`` (a hash of the record).

The record (:meth:`Decision.to_dict`) keeps every input, every derived value, every rule's result,
the score with its model version, the limit and price workings, the policy's id, version and
SHA-256 and the product's terms.  :func:`replay` rebuilds the arguments from a stored record (the
policy and models looked up by version, checked by hash) and decides again; for an untouched
record the result is identical, which is what makes a decision auditable after the fact.

Outcome, in order
    1. any ``decline`` rule hits -> decline (reasons: those rules', in policy order);
    2. the limit (see :mod:`.pricing`) is below the product's minimum -> decline;
    3. no rate keeps the APR within the cap -> decline;
    4. any ``refer`` rule hits -> refer, with the limit and rate a reviewer would approve;
    5. otherwise approve with the limit and rate.
    The scorecard's reason codes (largest shortfall first) follow the policy's in every outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openlend.money import to_str
from openlend.products import rules as product_rules

from . import pricing
from .policy import INPUTS, Policy, canonical, default_policy, evaluate, to_decimal
from .scorecard import ApplicantError, Scorecard, ScoreResult, score

FORMAT = "openlend.decision/1"
DEFAULT_PLATFORM_APR_CAP = Decimal(24)  # China's judicial protection ceiling; settings.apr_cap_percent
BUCKETS = 10_000                        # champion/challenger resolution: shares in basis points
MAX_SCORE_REASONS = 4
SUPPLIED = {name: spec for name, spec in INPUTS.items() if not spec.derived}


class InputError(ValueError):
    """Inputs the engine cannot decide on; ``errors`` maps each input (dotted) to why."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class ReplayError(ValueError):
    """A stored record that cannot be replayed: unknown or altered policy or model, bad format."""


# --------------------------------------------------------------------------------------------------
# Champion / challenger


@dataclass(frozen=True)
class ChampionChallenger:
    """Send ``share`` (0..1, at most 4 decimals) of applications to ``challenger``, chosen by a hash of
    the experiment name and the application id: the same application always lands in the same arm,
    and a new experiment name reshuffles who is in it."""

    challenger: Scorecard
    share: Decimal
    experiment: str

    def __post_init__(self) -> None:
        share = to_decimal(self.share)
        if not Decimal(0) <= share <= Decimal(1) or share != share.quantize(Decimal("0.0001")):
            raise ValueError("share must be between 0 and 1 with at most 4 decimals")
        if not isinstance(self.experiment, str) or not self.experiment:
            raise ValueError("experiment must be a non-empty name")
        object.__setattr__(self, "share", share)


def bucket_of(experiment: str, application_id: str) -> int:
    """0..9999, uniform over application ids: the first 8 bytes of SHA-256 modulo 10 000."""
    digest = hashlib.sha256(f"{experiment}\x00{application_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_of(cc: ChampionChallenger, application_id: str) -> tuple[int, str]:
    b = bucket_of(cc.experiment, application_id)
    return b, "challenger" if b < int(cc.share * BUCKETS) else "champion"


# --------------------------------------------------------------------------------------------------
# Inputs


def normalize_inputs(raw: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(application_id, values, scorecard features)`` with numbers as Decimal; raises InputError."""
    errors: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        raise InputError({"": "inputs are an object"})
    app_id = raw.get("application_id")
    if not isinstance(app_id, str) or not app_id:
        errors["application_id"] = "is required (a non-empty string)"
    features = raw.get("scorecard")
    if not isinstance(features, Mapping):
        errors["scorecard"] = "is required: the scorecard's applicant fields"
        features = {}
    for k in sorted(set(raw) - set(SUPPLIED) - {"application_id", "scorecard"}):
        errors[k] = "is computed by the engine" if k in INPUTS else "unknown input"
    values: dict[str, Any] = {}
    for name, spec in SUPPLIED.items():
        v = raw.get(name)
        if v is None:
            if not spec.nullable:
                errors[name] = "is required"
            values[name] = None
            continue
        if spec.kind == "bool":
            if not isinstance(v, bool):
                errors[name] = "must be true or false"
        elif spec.kind == "string":
            if not isinstance(v, str) or v not in (spec.values or ()):
                errors[name] = f"must be one of {', '.join(spec.values or ())}"
        elif spec.kind == "integer":
            if isinstance(v, bool) or not isinstance(v, int):
                errors[name] = "must be a whole number"
        else:
            try:
                v = to_decimal(v)
            except ValueError:
                errors[name] = "must be a number (a decimal string such as \"8000.00\")"
        if name not in errors and spec.kind in ("integer", "number"):
            if spec.low is not None and v < spec.low:
                errors[name] = f"must be at least {spec.low}"
            elif spec.high is not None and v > spec.high:
                errors[name] = f"must be at most {spec.high}"
        values[name] = v
    if errors:
        raise InputError(errors)
    return app_id, values, json.loads(canonical(dict(features)))


def _json_value(v: Any) -> Any:
    return to_str(v) if isinstance(v, Decimal) else v


# --------------------------------------------------------------------------------------------------
# The decision


@dataclass(frozen=True)
class RuleResult:
    code: str
    outcome: str            # what a hit does: decline | refer | pass
    result: str             # hit | miss | unknown (a null input decided it; not a hit)
    reason_code: str
    inputs: tuple[str, ...]

    @property
    def hit(self) -> bool:
        return self.result == "hit"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "outcome": self.outcome, "result": self.result,
                "reason_code": self.reason_code, "inputs": list(self.inputs)}


@dataclass(frozen=True)
class ReasonCode:
    code: str
    text: str
    source: str             # policy | limit | price | scorecard
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "source": self.source, "rule": self.rule}


@dataclass(frozen=True)
class Decision:
    application_id: str
    outcome: str                    # approve | decline | refer
    limit: Decimal | None           # approve: the limit; refer: the limit a reviewer would approve
    rate: Decimal | None            # percent a year, likewise
    currency: str
    reasons: tuple[ReasonCode, ...]
    rules: tuple[RuleResult, ...]
    score: ScoreResult
    model_version: str
    policy_id: str
    policy_version: int
    policy_sha256: str
    inputs: dict[str, Any]          # JSON form, as supplied (normalised)
    derived: dict[str, Any]         # JSON form
    limit_detail: dict[str, Any] | None
    price_detail: dict[str, Any] | None
    champion_challenger: dict[str, Any] | None
    product: dict[str, Any]         # the product's terms, JSON form
    platform_apr_cap: Decimal
    decision_id: str = field(default="")

    def _content(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "application_id": self.application_id,
            "outcome": self.outcome,
            "limit": None if self.limit is None else to_str(self.limit),
            "rate": None if self.rate is None else to_str(self.rate),
            "currency": self.currency,
            "reasons": [r.to_dict() for r in self.reasons],
            "policy": {"id": self.policy_id, "version": self.policy_version, "sha256": self.policy_sha256},
            "model_version": self.model_version,
            "score": self.score.to_dict(),
            "rules": [r.to_dict() for r in self.rules],
            "inputs": self.inputs,
            "derived": self.derived,
            "limit_detail": self.limit_detail,
            "price_detail": self.price_detail,
            "champion_challenger": self.champion_challenger,
            "product": self.product,
            "platform_apr_cap": to_str(self.platform_apr_cap),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, **self._content()}

    def to_json(self) -> str:
        return canonical(self.to_dict())

    @property
    def rule_hits(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.hit)


def _decision_id(content: Mapping[str, Any]) -> str:
    return "dec_" + hashlib.sha256(canonical(content).encode()).hexdigest()[:24]


def _score(model: Scorecard, features: Mapping[str, Any]) -> ScoreResult:
    try:
        return score(model, features, max_reasons=MAX_SCORE_REASONS)
    except ApplicantError as exc:
        raise InputError({f"scorecard.{k}": v for k, v in exc.errors.items()}) from None


def decide(inputs: Mapping[str, Any], policy: Policy, model: Scorecard, product: Mapping[str, Any], *,
           champion_challenger: ChampionChallenger | None = None,
           platform_apr_cap: Decimal = DEFAULT_PLATFORM_APR_CAP) -> Decision:
    """Decide one application (see the module docstring for the order of outcomes)."""
    app_id, values, features = normalize_inputs(inputs)
    product = product_rules.normalize(product)
    if product["currency"] != policy.currency:
        raise InputError({"product.currency": f"is {product['currency']}; the policy lends in {policy.currency}"})

    # Score: the champion, or the challenger for the share of applications its hash picks.
    champion_result = _score(model, features)
    result, used, cc_record = champion_result, model, None
    if champion_challenger is not None:
        bucket, arm = arm_of(champion_challenger, app_id)
        challenger_result = _score(champion_challenger.challenger, features)
        if arm == "challenger":
            result, used = challenger_result, champion_challenger.challenger
        shadow = champion_result if arm == "challenger" else challenger_result
        cc_record = {"experiment": champion_challenger.experiment, "share": to_str(champion_challenger.share),
                     "bucket": bucket, "arm": arm, "champion_model": model.version_id,
                     "challenger_model": champion_challenger.challenger.version_id,
                     "shadow": {"model_version": shadow.model_version, "score": shadow.score,
                                "probability_of_default": shadow.probability_of_default}}

    # Derived inputs.
    band = policy.band_of(result.score)
    debt_service = pricing.monthly_debt_service(
        outstanding_balance=values["bureau_outstanding_balance"],
        stated_monthly_repayment=values["bureau_monthly_repayment"],
        debt_service_rate=policy.limit["debt_service_rate"])
    derived = {"score": result.score, "score_band": band,
               "probability_of_default": to_decimal(result.probability_of_default),
               "monthly_debt_service": debt_service,
               "debt_to_income": pricing.debt_to_income(debt_service, values["monthly_income"])}
    env = {**values, **derived}

    # Every rule, always: the record shows what each one said, not only the first hit.
    rule_results = []
    for rule in policy.rules:
        r = evaluate(rule.condition, env)
        rule_results.append(RuleResult(rule.code, rule.outcome, "hit" if r else "miss" if r is False else "unknown",
                                       rule.reason_code, rule.inputs))

    def policy_reasons(outcome: str) -> list[ReasonCode]:
        out: dict[str, ReasonCode] = {}
        for rule, rr in zip(policy.rules, rule_results):
            if rr.hit and rule.outcome == outcome and rule.reason_code not in out:
                out[rule.reason_code] = ReasonCode(rule.reason_code, rule.reason_text, "policy", rule.code)
        return list(out.values())

    score_reasons = [ReasonCode(r.code, r.text, "scorecard") for r in result.reasons]
    declines, refers = policy_reasons("decline"), policy_reasons("refer")
    limit_res = price_res = None
    limit = rate = None
    if declines:
        outcome, reasons = "decline", declines
    else:
        limit_res = pricing.compute_limit(policy.limit, band=band, monthly_income=values["monthly_income"],
                                          debt_service=debt_service, housing=values["housing"],
                                          education=values["education"], product=product)
        if not limit_res.approved:
            outcome, reasons = "decline", [ReasonCode(*pricing.LIMIT_BELOW_PRODUCT_MIN, "limit")]
        else:
            price_res = pricing.compute_price(policy.pricing, band=band, product=product, limit=limit_res.limit,
                                              platform_apr_cap=platform_apr_cap)
            if not price_res.within_cap:
                outcome, reasons = "decline", [ReasonCode(*pricing.APR_CAP_EXCEEDED, "price")]
            else:
                outcome, reasons = ("refer", refers) if refers else ("approve", [])
                limit, rate = limit_res.limit, price_res.rate

    content_args = {
        "application_id": app_id, "outcome": outcome, "limit": limit, "rate": rate, "currency": policy.currency,
        "reasons": tuple(reasons + score_reasons), "rules": tuple(rule_results), "score": result,
        "model_version": used.version_id or result.model_version, "policy_id": policy.id,
        "policy_version": policy.version, "policy_sha256": policy.sha256,
        "inputs": {**{k: _json_value(v) for k, v in values.items()}, "scorecard": features},
        "derived": {k: _json_value(v) for k, v in derived.items()},
        "limit_detail": None if limit_res is None else limit_res.to_dict(),
        "price_detail": None if price_res is None else price_res.to_dict(),
        "champion_challenger": cc_record, "product": product_rules.config_to_json(product),
        "platform_apr_cap": platform_apr_cap,
    }
    d = Decision(**content_args)
    # the round trip through JSON makes the in-memory record the same as a stored-and-read one
    d = Decision(**{**content_args, "decision_id": _decision_id(json.loads(canonical(d._content())))})
    return d


# --------------------------------------------------------------------------------------------------
# Replay


def replay(record: str | bytes | Mapping[str, Any], *, policies: Iterable[Policy] = (),
           models: Iterable[Scorecard] = ()) -> Decision:
    """Decide again from a stored record: its inputs, the policy of its id and version (checked
    against its SHA-256), its model versions and the product terms it was priced on.

    ``policies`` and ``models`` add to the ones shipped with the package (the default policy, the
    packaged scorecard); the caller that stores policy and model versions passes those it holds.
    """
    from . import packaged_model

    doc = json.loads(record) if isinstance(record, (str, bytes)) else dict(record)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReplayError(f"not a decision record (format {FORMAT!r})")
    try:
        by_key = {p.key: p for p in (default_policy(), *policies)}
        by_version = {m.version_id: m for m in (packaged_model(), *models)}
        pol = doc["policy"]
        policy = by_key.get((pol["id"], pol["version"]))
        if policy is None:
            raise ReplayError(f"policy {pol['id']!r} version {pol['version']} is not available")
        if policy.sha256 != pol["sha256"]:
            raise ReplayError(f"policy {pol['id']!r} version {pol['version']} has changed since the decision "
                              f"(sha256 {policy.sha256[:12]}..., recorded {pol['sha256'][:12]}...)")
        cc_doc = doc["champion_challenger"]
        champion_version = cc_doc["champion_model"] if cc_doc else doc["model_version"]

        def model(version: str) -> Scorecard:
            if version not in by_version:
                raise ReplayError(f"model {version!r} is not available")
            return by_version[version]

        cc = None
        if cc_doc:
            cc = ChampionChallenger(challenger=model(cc_doc["challenger_model"]), share=Decimal(cc_doc["share"]),
                                    experiment=cc_doc["experiment"])
        inputs = {"application_id": doc["application_id"], **doc["inputs"]}
        product = product_rules.config_from_json(doc["product"])
        return decide(inputs, policy, model(champion_version), product, champion_challenger=cc,
                      platform_apr_cap=Decimal(doc["platform_apr_cap"]))
    except (KeyError, TypeError) as exc:
        raise ReplayError(f"malformed decision record: {exc!r}") from None
