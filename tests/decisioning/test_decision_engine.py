"""The decision engine: outcomes with their reasons, the record, replay identity, champion/challenger."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from openlend.decisioning import from_dict, packaged_model, to_dict
from openlend.decisioning import policy as pol
from openlend.decisioning.engine import (
    ChampionChallenger,
    InputError,
    ReplayError,
    arm_of,
    bucket_of,
    decide,
    replay,
)
from openlend.decisioning.policy import default_policy
from openlend.products import rules
from openlend.products.schemas import ProductConfig, to_native

MODEL = packaged_model()
POLICY = default_policy()

# A strong applicant on the packaged scorecard (584 points, band A) and a weak one (436, band E).
GOOD = {"checking_account": "negative", "duration_months": 6, "credit_history": "critical_or_credits_elsewhere",
        "purpose": "electronics", "credit_amount": 1169, "savings": "none_or_unknown",
        "employment_duration": "7y_or_more", "installment_rate": 4, "property": "real_estate", "age": 67,
        "other_installment_plans": "none", "housing": "own", "telephone": "yes"}
BAND_C = {**GOOD, "duration_months": 36}
WEAK = {**GOOD, "duration_months": 48, "credit_history": "no_credits_or_all_repaid", "savings": "below_100",
        "employment_duration": "below_1y", "property": "none_or_unknown", "housing": "rent", "age": 22}


def product(**changes) -> dict:
    body = {"name": "Cash loan", "currency": "CNY", "method": "equal_installment",
            "rate": {"min": "12", "max": "18", "default": "15"}, "term": {"min": 3, "max": 12},
            "amount": {"min": "1000.00", "max": "50000.00"}}
    body.update(changes)
    return rules.normalize(to_native(ProductConfig.model_validate(body)))


def applicant(app_id="app_1", scorecard=GOOD, **changes) -> dict:
    base = {
        "application_id": app_id, "scorecard": scorecard, "age": 35, "occupation": "private_employee",
        "industry": "it", "housing": "own_mortgage", "education": "bachelor", "monthly_income": "8000.00",
        "blacklist_hit": False, "court_list_hit": False, "bureau_thin_file": False, "bureau_worst_status_24m": 0,
        "bureau_queries_3m": 1, "bureau_queries_6m": 2, "bureau_utilisation": "0.30", "bureau_overdue_records": 0,
        "bureau_outstanding_balance": "20000.00", "bureau_monthly_repayment": None, "multi_lending_7d": 0,
        "multi_lending_30d": 1, "multi_lending_90d": 2, "fraud_score": "10", "face_score": "0.93",
        "id_2factor": "pass", "id_3factor": "pass", "id_4factor": "pass",
    }
    base.update(changes)
    return base


def run(**changes):
    prod = changes.pop("product", None) or product()
    return decide(applicant(**changes), POLICY, MODEL, prod)


# --- outcomes -------------------------------------------------------------------------------------

def test_a_good_applicant_is_approved_with_the_hand_worked_limit_and_rate():
    d = run()
    assert (d.score.score, d.derived["score_band"]) == (584, "A")
    # A: 50000 x 1.1 x 1.1 = 60500; income 6 x (8000 - 3 % x 20000) = 44400; product max 50000
    assert (d.outcome, d.limit, d.rate) == ("approve", D("44400.00"), D("12.00"))
    assert d.limit_detail["binding"] == "income_limit"
    assert d.derived["monthly_debt_service"] == "600.00" and d.derived["debt_to_income"] == "0.0750"
    assert all(r.result == "miss" for r in d.rules) and len(d.rules) == len(POLICY.rules)
    assert [r.source for r in d.reasons] == ["scorecard"] * len(d.reasons)   # why not a higher score
    assert d.model_version == MODEL.version_id == d.score.model_version
    assert (d.policy_id, d.policy_version, d.policy_sha256) == (POLICY.id, 1, POLICY.sha256)


def test_a_band_c_applicant_gets_the_band_c_limit_and_rate():
    d = run(scorecard=BAND_C)
    assert d.derived["score_band"] == "C"
    # C: 20000 x 1.21 = 24200 against 4 x 7400 = 29600; rate 12 + 0.5 x 6 = 15
    assert (d.outcome, d.limit, d.rate) == ("approve", D("24200.00"), D("15.00"))


def test_declines_list_the_policy_hits_in_policy_order_then_the_scorecard():
    d = run(age=61, blacklist_hit=True, multi_lending_30d=9, fraud_score="65")
    assert d.outcome == "decline" and d.limit is None and d.rate is None
    codes = [r.code for r in d.reasons]
    assert codes[:3] == ["AGE_OUT_OF_RANGE", "BLACKLIST", "MULTI_LENDING"]   # refer hits do not explain a decline
    assert [r.source for r in d.reasons[3:]] == ["scorecard"] * (len(codes) - 3)
    assert {r.code for r in d.rule_hits} == {"P001_AGE", "P010_BLACKLIST", "P040_MULTI_LENDING_30D",
                                             "P051_FRAUD_REVIEW"}
    assert d.limit_detail is None and d.price_detail is None


def test_a_low_score_is_declined_on_the_score_rule():
    d = run(scorecard=WEAK)
    assert d.score.score < 500 and d.derived["score_band"] == "E"
    assert d.outcome == "decline" and d.reasons[0].code == "SCORE_TOO_LOW" and d.reasons[0].rule == "P020_SCORE"


def test_a_refer_carries_the_limit_and_rate_a_reviewer_would_approve():
    d = run(bureau_queries_3m=8)
    assert (d.outcome, d.limit, d.rate) == ("refer", D("44400.00"), D("12.00"))
    assert d.reasons[0].code == "TOO_MANY_INQUIRIES"


def test_a_decline_rule_beats_a_refer_rule():
    d = run(bureau_queries_3m=8, court_list_hit=True)
    assert d.outcome == "decline" and [r.code for r in d.reasons if r.source == "policy"] == ["COURT_LIST"]


def test_an_unaffordable_limit_is_declined_with_its_reason():
    # stated repayment 2450 of 2600 income: DTI 0.9423; band A: 6 x (2600 - 2450) = 900 < 1000 (product min)
    d = run(monthly_income="2600", bureau_outstanding_balance="0", bureau_monthly_repayment="2450")
    assert d.derived["debt_to_income"] == "0.9423"
    assert d.outcome == "decline" and d.reasons[0].code == "DEBT_BURDEN"  # the policy's DTI rule first
    strict = pol.from_dict({**POLICY.document, "rules": [r for r in POLICY.document["rules"]
                                                          if r["code"] != "P036_DEBT_TO_INCOME"]})
    d = decide(applicant(monthly_income="2600", bureau_outstanding_balance="0", bureau_monthly_repayment="2450"),
               strict, MODEL, product())
    assert d.outcome == "decline" and d.reasons[0].code == "LIMIT_BELOW_PRODUCT_MIN"
    assert d.limit_detail["limit"] == "900.00" and d.price_detail is None


def test_an_apr_cap_that_no_rate_meets_is_a_decline():
    fee = [{"name": "service", "kind": "upfront", "calculation": "percent", "value": "3"}]
    d = run(product=product(rate={"min": "20", "max": "23", "default": "22"}, fees=fee))
    assert d.outcome == "decline" and d.reasons[0].code == "APR_CAP_EXCEEDED"
    assert D(d.price_detail["apr_nominal"]) > D(d.price_detail["apr_cap"])


def test_a_thin_file_has_null_bureau_features_that_do_not_fire_rules():
    d = run(scorecard=BAND_C, bureau_thin_file=True, bureau_worst_status_24m=None, bureau_utilisation=None,
            bureau_outstanding_balance="0")
    results = {r.code: r.result for r in d.rules}
    assert results["P030_BUREAU_WORST_STATUS"] == "unknown" and results["P034_UTILISATION"] == "unknown"
    assert d.outcome == "refer" and d.reasons[0].code == "THIN_FILE"


# --- inputs ---------------------------------------------------------------------------------------

def test_bad_inputs_are_all_reported():
    raw = applicant(age="35", occupation="astronaut", monthly_income="lots", score=700, colour="blue",
                    face_score="1.5")
    del raw["fraud_score"]
    with pytest.raises(InputError) as exc:
        decide(raw, POLICY, MODEL, product())
    assert set(exc.value.errors) == {"age", "occupation", "monthly_income", "score", "colour", "face_score",
                                     "fraud_score"}
    assert exc.value.errors["score"] == "is computed by the engine"


def test_scorecard_fields_are_checked_by_the_scorecard():
    with pytest.raises(InputError) as exc:
        run(scorecard={**GOOD, "savings": "loads"})
    assert "scorecard.savings" in exc.value.errors


def test_a_product_in_another_currency_is_refused():
    with pytest.raises(InputError, match="CNY"):
        run(product=product(currency="USD"))


# --- record and replay ----------------------------------------------------------------------------

def test_the_same_inputs_give_the_same_record_and_id():
    a, b = run(), run()
    assert a.to_json() == b.to_json() and a.decision_id.startswith("dec_")
    assert run(app_id="app_2").decision_id != a.decision_id


def test_the_record_holds_every_input_and_rule_result():
    d = run(bureau_queries_3m=8)
    rec = json.loads(d.to_json())
    assert rec["inputs"]["monthly_income"] == "8000.00" and rec["inputs"]["scorecard"] == GOOD
    assert rec["inputs"]["bureau_monthly_repayment"] is None
    assert {r["code"] for r in rec["rules"]} == {r.code for r in POLICY.rules}
    assert rec["score"]["model_version"] == MODEL.version_id
    assert rec["policy"] == {"id": POLICY.id, "version": 1, "sha256": POLICY.sha256}
    assert rec["product"]["rate"] == {"min": "12", "max": "18", "default": "15"}


@pytest.mark.parametrize("changes", [
    {},
    {"scorecard": BAND_C, "monthly_income": "5123.45", "bureau_monthly_repayment": "777.77"},
    {"age": 17, "fraud_score": "99.5"},
    {"bureau_queries_3m": 9, "face_score": 0.73},   # a float is read by its repr and stored as a string
    {"scorecard": BAND_C, "bureau_thin_file": True, "bureau_worst_status_24m": None, "bureau_utilisation": None},
    {"scorecard": WEAK},
])
def test_replay_gives_the_identical_record(changes):
    d = run(**changes)
    stored = d.to_json()
    again = replay(stored)
    assert again.to_json() == stored and again == d


def test_replay_of_a_champion_challenger_decision(challenger):
    cc = ChampionChallenger(challenger=challenger, share=D("0.5"), experiment="exp-1")
    for i in range(20):
        d = decide(applicant(f"app_{i}"), POLICY, MODEL, product(), champion_challenger=cc)
        assert replay(d.to_json(), models=[challenger]).to_json() == d.to_json()


def test_replay_refuses_a_changed_policy_or_a_missing_model(challenger):
    d = run()
    rec = json.loads(d.to_json())
    rec["policy"]["sha256"] = "0" * 64
    with pytest.raises(ReplayError, match="has changed"):
        replay(rec)
    rec = json.loads(d.to_json())
    rec["policy"]["version"] = 2
    with pytest.raises(ReplayError, match="not available"):
        replay(rec)
    cc = ChampionChallenger(challenger=challenger, share=D(1), experiment="exp-1")
    d = decide(applicant(), POLICY, MODEL, product(), champion_challenger=cc)
    with pytest.raises(ReplayError, match="model"):
        replay(d.to_json())


def test_replay_under_a_new_policy_version_uses_the_recorded_one():
    d = run()
    newer = pol.from_dict({**POLICY.document, "version": 2,
                           "rules": [{**POLICY.document["rules"][0], "when": "age not between 18 and 30"}]})
    assert decide(applicant(), newer, MODEL, product()).outcome == "decline"
    assert replay(d.to_json(), policies=[newer]).to_json() == d.to_json()


# --- champion / challenger ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def challenger():
    """The packaged model with one bin's points changed: another model, another version."""
    doc = to_dict(MODEL)
    doc["variables"][0]["bins"][0]["points"] += 7
    doc.pop("version_id")
    model = from_dict(doc)
    assert model.version_id != MODEL.version_id
    return model


@pytest.mark.parametrize("share", [D("0.1"), D("0.25"), D("0.5")])
def test_the_split_over_10000_ids_is_within_tolerance(share, challenger):
    cc = ChampionChallenger(challenger=challenger, share=share, experiment="scorecard-2025-q3")
    n = 10_000
    hits = sum(arm_of(cc, f"app_{i:06d}")[1] == "challenger" for i in range(n))
    sigma = (float(share) * (1 - float(share)) / n) ** 0.5
    assert abs(hits / n - float(share)) < 4 * sigma


def test_the_arm_is_a_function_of_the_id_and_the_experiment(challenger):
    cc = ChampionChallenger(challenger=challenger, share=D("0.3"), experiment="e1")
    ids = [f"app_{i}" for i in range(500)]
    assert [arm_of(cc, i) for i in ids] == [arm_of(cc, i) for i in ids]
    other = [bucket_of("e2", i) for i in ids]
    assert other != [bucket_of("e1", i) for i in ids]
    assert all(0 <= b < 10_000 for b in other)
    assert all(arm_of(ChampionChallenger(challenger, D(0), "e1"), i)[1] == "champion" for i in ids)
    assert all(arm_of(ChampionChallenger(challenger, D(1), "e1"), i)[1] == "challenger" for i in ids)


def test_the_decision_records_the_arm_and_scores_with_its_model(challenger):
    cc = ChampionChallenger(challenger=challenger, share=D("0.5"), experiment="exp-1")
    arms = set()
    for i in range(40):
        d = decide(applicant(f"app_{i}"), POLICY, MODEL, product(), champion_challenger=cc)
        rec = d.champion_challenger
        arms.add(rec["arm"])
        used = challenger if rec["arm"] == "challenger" else MODEL
        shadow = MODEL if rec["arm"] == "challenger" else challenger
        assert d.model_version == used.version_id == d.score.model_version
        assert rec["shadow"]["model_version"] == shadow.version_id
        assert (rec["champion_model"], rec["challenger_model"]) == (MODEL.version_id, challenger.version_id)
        assert rec["bucket"] == bucket_of("exp-1", f"app_{i}")
    assert arms == {"champion", "challenger"}


def test_a_share_must_be_a_fraction_in_basis_points(challenger):
    for bad in (D("1.5"), D("-0.1"), D("0.12345")):
        with pytest.raises(ValueError):
            ChampionChallenger(challenger, bad, "e")
