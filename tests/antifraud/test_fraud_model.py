"""The packaged fraud model: JSON round trip, purity, per-pattern detection on fresh data, thresholds."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal

import pytest

from openlend.antifraud import (
    ApplicationError,
    ModelError,
    fraud_score,
    from_dict,
    from_json,
    packaged_model,
    to_dict,
    to_json,
)
from openlend.antifraud.generate import PATTERNS, generate
from openlend.antifraud.model import (
    Thresholds,
    _as_float32,
    _vector,
    contributions,
    features,
    policy_score,
    raw_score,
    train,
)
from openlend.antifraud.velocity import VelocityRule

FRESH_SEED = 424242  # never used for training


@pytest.fixture(scope="module")
def model():
    return packaged_model()


@pytest.fixture(scope="module")
def fresh(model):
    ds = generate(FRESH_SEED, households=4000, patterns={
        "device_farm": 8, "identity_ring": 14, "synthetic_identity": 60, "bust_out": 60,
        "form_anomaly": 60, "geo_mismatch": 60})
    results = [fraud_score(model, a, v) for a, v in zip(ds.applications, ds.velocity)]
    return ds, results


def rate(results, patterns, pattern, decisions):
    chosen = [r for r, p in zip(results, patterns) if p == pattern]
    return sum(r.decision in decisions for r in chosen) / len(chosen)


def test_the_packaged_model_loads_and_scores_without_numpy_or_scikit_learn(fresh):
    ds, _ = fresh
    probe = (
        "import sys, json\n"
        "from openlend.antifraud import packaged_model, fraud_score\n"
        f"a, v = json.loads({json.dumps(json.dumps([ds.applications[0], ds.velocity[0]]))})\n"
        "r = fraud_score(packaged_model(), a, v)\n"
        "print(json.dumps([r.score, 'sklearn' in sys.modules, 'numpy' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    score, sklearn_loaded, numpy_loaded = json.loads(out)
    assert 0.0 <= score <= 1.0 and not sklearn_loaded and not numpy_loaded


def test_a_json_round_trip_gives_the_same_version_and_identical_scores(model, fresh):
    ds, results = fresh
    again = from_json(to_json(model))
    assert again.version == model.version and to_json(again) == to_json(model)
    for i in range(0, len(ds), 97):
        assert fraud_score(again, ds.applications[i], ds.velocity[i]) == results[i]


def test_a_tampered_document_is_refused(model):
    doc = to_dict(model)
    doc["thresholds"]["decline"] = 0.99
    with pytest.raises(ModelError, match="does not match"):
        from_dict(doc)
    doc = to_dict(model)
    doc["trees"][0]["value"][-1] += 1e-9
    with pytest.raises(ModelError, match="does not match"):
        from_dict(doc)
    with pytest.raises(ModelError):
        from_json('{"format": "openlend.scorecard/1"}')
    with pytest.raises(ModelError):
        from_json("not json")


@pytest.mark.parametrize("pattern, floor", [
    ("device_farm", 0.75), ("identity_ring", 0.5), ("synthetic_identity", 0.65),
    ("bust_out", 0.85), ("form_anomaly", 0.85), ("geo_mismatch", 0.8),
])
def test_each_fraud_pattern_is_caught_on_freshly_generated_applications(fresh, pattern, floor):
    ds, results = fresh
    assert rate(results, ds.patterns, pattern, {"refer", "decline"}) >= floor


def test_genuine_applicants_are_rarely_flagged_and_almost_never_declined(fresh):
    ds, results = fresh
    assert ds.patterns.count("genuine") > 4000
    assert rate(results, ds.patterns, "genuine", {"refer", "decline"}) <= 0.03
    assert rate(results, ds.patterns, "genuine", {"decline"}) <= 0.005


@pytest.mark.parametrize("pattern, codes", [
    ("device_farm", {"F01", "F02", "V01", "V02", "V03"}),
    ("identity_ring", {"F03", "V05", "V06", "V07", "V08"}),
    ("synthetic_identity", {"F04"}),
    ("bust_out", {"F05"}),
    ("form_anomaly", {"F06"}),
    ("geo_mismatch", {"F07"}),
])
def test_a_flagged_pattern_names_its_own_reason_most_of_the_time(fresh, pattern, codes):
    ds, results = fresh
    flagged = [r for r, p in zip(results, ds.patterns) if p == pattern and r.decision != "pass"]
    named = sum(bool(codes & {x.code for x in r.reasons}) for r in flagged)
    assert flagged and named / len(flagged) >= 0.8


def test_contributions_add_up_to_the_raw_score(model, fresh):
    ds, _ = fresh
    expected = model.base_score + model.learning_rate * sum(t.expected[0] for t in model.trees)
    for i in range(0, len(ds), 501):
        x = _vector(model, features(ds.applications[i], ds.velocity[i]))
        assert expected + sum(contributions(model, x).values()) == pytest.approx(raw_score(model, x), abs=1e-9)


def test_decisions_follow_the_thresholds_and_the_policy_scale(model):
    th = model.thresholds
    assert 0 < th.refer < th.decline < 1
    assert th.decision(th.refer) == "refer" and th.decision(math.nextafter(th.refer, 0)) == "pass"
    assert th.decision(th.decline) == "decline" and th.decision(math.nextafter(th.decline, 0)) == "refer"
    assert policy_score(model, 0.0) == 0 and policy_score(model, 1.0) == 100
    assert policy_score(model, th.refer) == 60 and policy_score(model, th.decline) == 80
    assert policy_score(model, math.nextafter(th.refer, 0)) < 60
    assert policy_score(model, math.nextafter(th.decline, 0)) < 80
    with pytest.raises(ModelError):
        Thresholds(refer=0.5, decline=0.4)


def test_rules_can_only_make_a_decision_more_severe(model, fresh):
    ds, results = fresh
    i = next(i for i, r in enumerate(results) if r.decision == "pass")
    rules = (VelocityRule("X1", "ip_apps_24h", 0, "refer", "always"),
             VelocityRule("X2", "device_apps_1h", 0, "decline", "always"))
    r = fraud_score(model, ds.applications[i], ds.velocity[i], rules=rules)
    assert r.decision == "decline" and r.model_decision == "pass" and r.score == results[i].score
    assert [x.code for x in r.reasons] == ["X1", "X2"] and r.policy_score == results[i].policy_score
    assert isinstance(r.policy_score, Decimal) and r.to_dict()["reasons"][1]["action"] == "decline"
    j = next(j for j, r in enumerate(results) if r.model_decision == "decline")
    assert fraud_score(model, ds.applications[j], ds.velocity[j], rules=()).decision == "decline"


def test_an_incomplete_application_is_refused(model, fresh):
    ds, _ = fresh
    a, v = dict(ds.applications[0]), dict(ds.velocity[0])
    with pytest.raises(ApplicationError, match="velocity feature"):
        fraud_score(model, a, {k: x for k, x in v.items() if k != "ip_apps_1h"})
    with pytest.raises(ApplicationError, match="age"):
        fraud_score(model, {**a, "age": None}, v)
    with pytest.raises(ValueError):
        fraud_score(model, {**a, "applied_at": "2025-03-01T10:00:00"}, v)  # no UTC offset


def test_training_is_reproducible_and_the_exported_trees_are_scikit_learns():
    # a small version of the packaged model's training (that one takes about 2 minutes);
    # train() itself checks the exported trees against scikit-learn's decision_function
    ds = generate(3, households=2500, patterns={p: 12 if p not in ("device_farm", "identity_ring") else 3
                                                  for p in PATTERNS})
    a = train(ds, n_estimators=12, min_declines=5)
    b = train(ds, n_estimators=12, min_declines=5)
    assert to_json(a) == to_json(b) and a.version == b.version and a.version.startswith("fm_")
    assert a.metrics["holdout"]["auc"] > 0.8
    assert from_json(to_json(a)).version == a.version


def test_float32_rounding_matches_what_scikit_learn_compares():
    assert _as_float32(0.1) != 0.1 and _as_float32(0.5) == 0.5 and _as_float32(16777217.0) == 16777216.0
