"""Policy rules as data: the condition language (parsing, precedence, types, nulls, safety), policy
validation, and every rule of the shipped default policy firing and missing."""

from __future__ import annotations

import ast
import copy
import inspect
import json
from decimal import Decimal as D

import pytest

from openlend.decisioning import policy as pol
from openlend.decisioning.policy import (
    Between,
    BoolOp,
    Compare,
    ExpressionError,
    In,
    InvalidPolicy,
    IsNull,
    Name,
    Not,
    check,
    default_policy,
    evaluate,
    parse,
)


def typed(source: str):
    node = parse(source)
    return node, check(node, source)


# --- parsing and precedence -----------------------------------------------------------------------

def test_and_binds_tighter_than_or():
    node = parse("blacklist_hit or court_list_hit and bureau_thin_file")
    assert isinstance(node, BoolOp) and node.op == "or"
    assert isinstance(node.operands[0], Name)
    assert isinstance(node.operands[1], BoolOp) and node.operands[1].op == "and"


def test_not_binds_tighter_than_and_and_parentheses_override():
    node = parse("not blacklist_hit and court_list_hit")
    assert node.op == "and" and isinstance(node.operands[0], Not)
    node = parse("not (blacklist_hit and court_list_hit)")
    assert isinstance(node, Not) and isinstance(node.operand, BoolOp)
    node = parse("(blacklist_hit or court_list_hit) and bureau_thin_file")
    assert node.op == "and" and node.operands[0].op == "or"


def test_between_takes_its_own_and():
    node = parse("age between 18 and 60 and blacklist_hit")
    assert node.op == "and" and isinstance(node.operands[0], Between)
    assert node.operands[0].low.value == 18 and node.operands[0].high.value == 60
    node = parse("age not between 18 and 60")
    assert isinstance(node, Between) and node.negated


def test_in_not_in_is_null_and_comparisons_parse():
    n = parse("occupation not in ['student', \"military\"]")
    assert isinstance(n, In) and n.negated and [o.value for o in n.options] == ["student", "military"]
    assert isinstance(parse("bureau_utilisation is not null"), IsNull)
    for op in ("==", "!=", "<", "<=", ">", ">="):
        n = parse(f"fraud_score {op} 60.5")
        assert isinstance(n, Compare) and n.op == op and n.right.value == D("60.5")
    assert parse("score >= -5").right.value == D(-5)


def test_a_chain_of_ors_is_flat_and_true_false_are_literals():
    n = parse("blacklist_hit or court_list_hit or bureau_thin_file")
    assert n.op == "or" and len(n.operands) == 3
    assert parse("blacklist_hit == true").right.value is True


@pytest.mark.parametrize("source, message", [
    ("", "empty condition"),
    ("age = 18", "use =="),
    ("age >", "ends too early"),
    ("age > 18 60", "unexpected '60'"),
    ("18 < age < 60", "do not chain"),
    ("(age > 18", "expected )"),
    ("occupation in []", "empty list"),
    ("occupation in ['a' 'b']", "expected ]"),
    ("occupation == 'student", "unexpected character"),
    ("age == null", "is null"),
    ("age not > 3", "'in' or 'between'"),
    ("age between 18 60", "expected and"),
    ("occupation in [occupation]", "expected a number"),
    ("age > 1e3", "unexpected"),
])
def test_syntax_errors_say_what_and_where(source, message):
    with pytest.raises(ExpressionError) as exc:
        parse(source)
    assert message in str(exc.value)


def test_an_error_points_at_the_offending_character():
    with pytest.raises(ExpressionError) as exc:
        parse("age >= 18 and = 3")
    assert exc.value.position == 14


def test_deep_nesting_and_long_sources_are_refused():
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("not " * 60 + "blacklist_hit")
    with pytest.raises(ExpressionError, match="at most"):
        parse("age > 1 or " * 300 + "age > 1")


# --- types ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    ("agee > 18", "unknown input 'agee'"),
    ("age == 'old'", "cannot compare number with string"),
    ("occupation > 'a'", "compares numbers"),
    ("occupation == 'gamblng'", "occupation is never 'gamblng'"),
    ("industry in ['gambling', 'casino']", "industry is never 'casino'"),
    ("age in ['18']", "a list for a number holds string"),
    ("occupation between 1 and 2", "'between' takes numbers"),
    ("age between 60 and 18", "low end is above the high end"),
    ("not age", "'not' takes a condition"),
    ("age and blacklist_hit", "'and' joins conditions"),
    ("blacklist_hit == 1", "cannot compare bool with number"),
])
def test_type_errors_are_caught_before_anything_runs(source, message):
    with pytest.raises(ExpressionError) as exc:
        typed(source)
    assert message in str(exc.value)


def test_a_bare_value_is_not_a_condition_but_a_bool_input_is():
    assert typed("age")[1] == "number"
    assert typed("blacklist_hit")[1] == "bool"


# --- evaluation: three-valued logic ---------------------------------------------------------------

def test_comparisons_evaluate_on_decimals_and_strings():
    env = {"age": 30, "occupation": "student", "fraud_score": D("60.0")}
    assert evaluate(parse("age between 18 and 30"), env) is True
    assert evaluate(parse("age not between 18 and 29"), env) is True
    assert evaluate(parse("occupation in ['student']"), env) is True
    assert evaluate(parse("occupation not in ['student']"), env) is False
    assert evaluate(parse("fraud_score >= 60 and fraud_score < 80"), env) is True
    assert evaluate(parse("fraud_score == 60"), env) is True  # 60.0 == 60 as decimals


def test_a_null_input_makes_a_comparison_unknown_with_kleene_logic():
    env = {"bureau_worst_status_24m": None, "blacklist_hit": True, "court_list_hit": False}
    assert evaluate(parse("bureau_worst_status_24m >= 3"), env) is None
    assert evaluate(parse("not bureau_worst_status_24m >= 3"), env) is None
    assert evaluate(parse("bureau_worst_status_24m >= 3 and court_list_hit"), env) is False
    assert evaluate(parse("bureau_worst_status_24m >= 3 or blacklist_hit"), env) is True
    assert evaluate(parse("bureau_worst_status_24m >= 3 or court_list_hit"), env) is None
    assert evaluate(parse("bureau_worst_status_24m is null"), env) is True
    assert evaluate(parse("bureau_worst_status_24m between 1 and 2"), env) is None


# --- no code execution ----------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "__import__('os').system('touch /tmp/pwned')",
    "age.__class__",
    "age + 1 > 2",
    "open('/etc/passwd')",
    "[x for x in ()]",
    "lambda: 1",
    "age > 18; import os",
    "exec('1')",
])
def test_python_is_not_a_condition(source, tmp_path):
    with pytest.raises(ExpressionError):
        typed(source)


def test_the_policy_module_never_calls_eval_exec_or_compile():
    tree = ast.parse(inspect.getsource(pol))
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr"}


# --- the default policy: every rule fires and misses ----------------------------------------------

BASE = {
    "age": 35, "occupation": "private_employee", "industry": "it", "housing": "rent", "education": "bachelor",
    "monthly_income": D(8000), "score": 560, "score_band": "B", "probability_of_default": D("0.05"),
    "blacklist_hit": False, "court_list_hit": False, "bureau_thin_file": False, "bureau_worst_status_24m": 0,
    "bureau_queries_3m": 1, "bureau_queries_6m": 2, "bureau_utilisation": D("0.3"), "bureau_overdue_records": 0,
    "bureau_outstanding_balance": D(20000), "bureau_monthly_repayment": None, "multi_lending_7d": 0,
    "multi_lending_30d": 1, "multi_lending_90d": 2, "fraud_score": D(10), "face_score": D("0.9"),
    "id_2factor": "pass", "id_3factor": "pass", "id_4factor": "pass", "monthly_debt_service": D(600),
    "debt_to_income": D("0.075"),
}

# rule -> (values that make it hit, values just on the other side of its edge)
CASES = {
    "P001_AGE": ({"age": 17}, {"age": 18}),
    "P002_OCCUPATION": ({"occupation": "student"}, {"occupation": "professional"}),
    "P003_UNEMPLOYED": ({"occupation": "unemployed"}, {"occupation": "retired"}),
    "P004_INDUSTRY": ({"industry": "gambling"}, {"industry": "finance"}),
    "P005_INDUSTRY_REVIEW": ({"industry": "nightlife_entertainment"}, {"industry": "hospitality"}),
    "P006_INCOME": ({"monthly_income": D("2499.99")}, {"monthly_income": D(2500)}),
    "P010_BLACKLIST": ({"blacklist_hit": True}, {"blacklist_hit": False}),
    "P011_COURT_LIST": ({"court_list_hit": True}, {"court_list_hit": False}),
    "P020_SCORE": ({"score": 499}, {"score": 500}),
    "P030_BUREAU_WORST_STATUS": ({"bureau_worst_status_24m": 3}, {"bureau_worst_status_24m": 2}),
    "P031_BUREAU_OVERDUE_NOW": ({"bureau_overdue_records": 1}, {"bureau_overdue_records": 0}),
    "P032_BUREAU_QUERIES_3M": ({"bureau_queries_3m": 7}, {"bureau_queries_3m": 6}),
    "P033_BUREAU_QUERIES_6M": ({"bureau_queries_6m": 13}, {"bureau_queries_6m": 12}),
    "P034_UTILISATION": ({"bureau_utilisation": D("0.91")}, {"bureau_utilisation": D("0.9")}),
    "P035_THIN_FILE": ({"bureau_thin_file": True, "score_band": "C"}, {"bureau_thin_file": True, "score_band": "B"}),
    "P036_DEBT_TO_INCOME": ({"debt_to_income": D("0.7001")}, {"debt_to_income": D("0.7")}),
    "P040_MULTI_LENDING_30D": ({"multi_lending_30d": 6}, {"multi_lending_30d": 5}),
    "P041_MULTI_LENDING_7D": ({"multi_lending_7d": 4}, {"multi_lending_7d": 3}),
    "P042_MULTI_LENDING_90D": ({"multi_lending_90d": 11}, {"multi_lending_90d": 10}),
    "P050_FRAUD_DECLINE": ({"fraud_score": D(80)}, {"fraud_score": D("79.99")}),
    "P051_FRAUD_REVIEW": ({"fraud_score": D(60)}, {"fraud_score": D(80)}),
    "P060_FACE": ({"face_score": D("0.4999")}, {"face_score": D("0.5")}),
    "P061_ID_FACTORS": ({"id_4factor": "fail"}, {"id_4factor": "not_checked"}),
    "P062_ID_NOT_CHECKED": ({"id_3factor": "not_checked"}, {"id_3factor": "pass"}),
}


def test_every_default_rule_has_a_case():
    assert {r.code for r in default_policy().rules} == set(CASES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_default_rule_fires_and_misses(code):
    rule = next(r for r in default_policy().rules if r.code == code)
    hit, miss = CASES[code]
    assert evaluate(rule.condition, {**BASE, **hit}) is True
    assert evaluate(rule.condition, {**BASE, **miss}) is False
    assert evaluate(rule.condition, BASE) is False  # the baseline applicant passes every rule


def test_the_default_policy_reads_as_documented():
    p = default_policy()
    assert (p.id, p.version, p.currency) == ("cn-consumer-cash", 1, "CNY")
    assert [b.band for b in p.bands] == ["A", "B", "C", "D", "E"]
    assert [p.band_of(s) for s in (661, 580, 579, 555, 530, 500, 499, 343)] == list("AABBCDEE")
    outcomes = {r.code: r.outcome for r in p.rules}
    assert outcomes["P032_BUREAU_QUERIES_3M"] == "refer" and outcomes["P040_MULTI_LENDING_30D"] == "decline"
    assert len(p.sha256) == 64


# --- policy validation ----------------------------------------------------------------------------

def doc():
    return copy.deepcopy(default_policy().document)


def problems(d) -> dict[str, str]:
    with pytest.raises(InvalidPolicy) as exc:
        pol.from_dict(d)
    return {p.path: p.detail for p in exc.value.problems}


def test_a_duplicate_rule_code_is_refused():
    d = doc()
    d["rules"][1]["code"] = d["rules"][0]["code"]
    assert "duplicate rule code 'P001_AGE'" in problems(d)["rules[1].code"]


def test_unknown_inputs_and_type_errors_are_reported_with_the_rule_path():
    d = doc()
    d["rules"][0]["when"] = "agee not between 18 and 60"
    d["rules"][2]["when"] = "occupation > 3"
    d["rules"][3]["when"] = "industry in ['gambling',"
    found = problems(d)
    assert "unknown input 'agee'" in found["rules[0].when"]
    assert "cannot compare string with number" in found["rules[2].when"]
    assert "rules[3].when" in found


def test_every_problem_is_reported_at_once():
    d = doc()
    d["version"] = 0
    d["rules"][0]["outcome"] = "reject"
    d["rules"][1]["reason"] = {"code": "bad code", "text": ""}
    d["rules"][2]["extra"] = 1
    d["score_bands"][2]["min_score"] = 600
    del d["limit"]["bands"]["C"]
    d["pricing"]["bands"]["B"]["rate_position"] = "1.5"
    d["limit"]["housing_factors"]["castle"] = "2"
    found = problems(d)
    assert set(found) >= {"version", "rules[0].outcome", "rules[1].reason", "rules[2].extra",
                          "score_bands[2].min_score", "limit.bands.C", "pricing.bands.B.rate_position",
                          "limit.housing_factors.castle"}


def test_a_band_vocabulary_is_the_policys_own():
    d = doc()
    d["rules"][0]["when"] = "score_band == 'F'"
    assert "score_band is never 'F'" in problems(d)["rules[0].when"]


def test_the_last_band_takes_every_lower_score():
    d = doc()
    d["score_bands"][-1]["min_score"] = 300
    assert "score_bands[4].min_score" in problems(d)


def test_decimals_in_json_are_strings():
    text = json.dumps(doc()).replace('"policy_cap": "200000"', '"policy_cap": 200000.5')
    with pytest.raises(InvalidPolicy, match="write decimals as strings"):
        pol.from_json(text)


def test_the_hash_changes_with_any_edit_and_not_with_key_order():
    d = doc()
    same = pol.from_dict(dict(reversed(list(d.items()))))
    assert same.sha256 == default_policy().sha256
    d["rules"][0]["description"] += "."
    assert pol.from_dict(d).sha256 != default_policy().sha256
