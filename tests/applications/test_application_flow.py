"""An application from a mobile number to an opened credit line, through the API, with every check
really performed: the SMS code through the SMSC stand-in, OCR of a rendered ID card, the selfie
against the card's portrait, factor checks, bureau, court list and multi-lending from the provider
stand-in (concurrently), the anti-fraud model, the scorecard and the policy, and the funder
stand-in's own approval.  Plus a decline with reasons, a provider failure going to manual review,
the blacklist, the review queue, and replay of a decision."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sample_documents import b64, card_images, selfie  # noqa: E402
from sim.funder.testing import running_funder  # noqa: E402
from sim.providers.testing import running_providers  # noqa: E402
from sim.smsc.testing import running_smsc  # noqa: E402

render = pytest.importorskip("openlend.identity.render")
try:
    render.find_cjk_font()
except Exception:   # noqa: BLE001
    pytest.skip("no CJK font to draw ID cards with (apt-get install fonts-wqy-zenhei)", allow_module_level=True)


CLEAN = ("张三", "110105198503019010", "13800000001", "6222020000000010009")      # sim/providers identities
DELINQUENT = ("王五", "310104197911019032", "13800000003", "6222020000000030007")
TIMEOUT = ("孙八", "420106199001019065", "13800000006", "6222020000000060004")
DATA = {
    "occupation": "professional", "industry": "it", "housing": "rent", "education": "bachelor",
    "monthly_income": "24000",
    "session": {"form_fill_seconds": 240, "paste_count": 0, "device_emulator": False, "ip_region": "11", "mobile_region": "11"},
    "scorecard": {"checking_account": "none", "duration_months": 12, "credit_history": "current_credits_repaid_duly",
                  "purpose": "furniture", "credit_amount": 3000, "savings": "below_100", "employment_duration": "4_to_7y",
                  "installment_rate": 2, "property": "real_estate", "other_installment_plans": "none",
                  "housing": "own", "telephone": "yes"},
}


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    with running_smsc(tmp_path_factory.mktemp("smsc")) as smsc, \
            running_providers(tmp_path_factory.mktemp("prov"), "--as-of", dt.date.today().isoformat()) as prov, \
            running_funder(tmp_path_factory.mktemp("fund"), bank_code="BANKA",
                           rules={"min_score": 0, "max_limit": "100000"}) as bank:
        yield smsc, prov, bank


@pytest.fixture
def env(standins, monkeypatch, client):
    smsc, prov, bank = standins
    monkeypatch.setenv("OPENLEND_SMSC_HOST", smsc.host)
    monkeypatch.setenv("OPENLEND_SMSC_PORT", str(smsc.port))
    monkeypatch.setenv("OPENLEND_SMSC_SYSTEM_ID", smsc.system_id)
    monkeypatch.setenv("OPENLEND_SMSC_PASSWORD", smsc.password)
    monkeypatch.setenv("OPENLEND_RISK_BASE_URL", prov.base_url)
    monkeypatch.setenv("OPENLEND_RISK_TIMEOUT_S", "1.5")
    code = client.post("/v1/products", json={
        "code": "APP-CASH", "name": "Cash line", "currency": "CNY", "method": "equal_installment",
        "rate": {"min": "9", "max": "18", "default": "18"}, "term": {"allowed": [3, 6, 12]},
        "amount": {"min": "1000.00", "max": "100000.00"}}).json()
    monkeypatch.setenv("OPENLEND_FUNDERS", json.dumps({"products": {"APP-CASH": [
        {"bank_code": "BANKA", "base_url": bank.base_url, "secret": bank.secret, "partner_id": bank.partner_id,
         "max_attempts": 2, "timeout_s": 3}]}}))
    return {"smsc": smsc, "product": code["id"]}


def last_code(smsc, mobile: str, count: int) -> str:
    msgs = smsc.wait_for(mobile, count=count)
    return re.search(r"(\d{6})", msgs[-1]["text"]).group(1)


def walk(client, env, who, *, card=True, until="data", extra: dict | None = None) -> dict:
    name, number, mobile, bank_card = who
    e164 = "+86" + mobile
    before = len(env["smsc"].messages(e164)) if hasattr(env["smsc"], "messages") else 0
    r = client.post("/v1/applications", json={"mobile": mobile, "product_id": env["product"],
                                              "device_id": "dev-" + number[-6:], "ip_address": "203.0.113.7"})
    assert r.status_code == 201, r.text
    app = r.json()
    assert "code" not in json.dumps(app["verification_code"]).replace("verification_code", "")[:0]
    code = last_code(env["smsc"], e164, before + 1)
    r = client.post(f"/v1/applications/{app['id']}/verify", json={"code": code})
    assert r.status_code == 200 and r.json()["status"] == "code_verified", r.text
    front, back = card_images(name, number)
    r = client.post(f"/v1/applications/{app['id']}/id-card", json={"front": b64(front), "back": b64(back)})
    assert r.status_code == 200, r.text
    assert r.json()["applicant"]["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    r = client.post(f"/v1/applications/{app['id']}/selfie", json={"image": b64(selfie())})
    assert r.status_code == 200, r.text
    assert r.json()["face"]["match"] is True
    r = client.post(f"/v1/applications/{app['id']}/factors", json={"bank_card": bank_card})
    assert r.status_code == 200 and r.json()["status"] == "identity_verified", r.text
    texts = client.get("/v1/consent-texts").json()["data"]
    r = client.post(f"/v1/applications/{app['id']}/consents", json={"consent_texts": [t["id"] for t in texts]})
    assert r.status_code == 200 and r.json()["status"] == "consented", r.text
    r = client.post(f"/v1/applications/{app['id']}/data", json={**DATA, **(extra or {})})
    assert r.status_code == 200 and r.json()["status"] == "data_collected", r.text
    return r.json()


def test_a_good_applicant_gets_a_line_with_every_check_performed(client, env, database):
    app = walk(client, env, CLEAN)
    r = client.post(f"/v1/applications/{app['id']}/decision")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "line_opened", (done, client.get(f"/v1/applications/{app['id']}/events").json(),
                                             client.get(f"/v1/decisions/{done['decision_id']}").json()["record"].get("reasons"))
    assert done["funder"]["code"] == "BANKA" and done["credit_line_id"]
    line = client.get(f"/v1/credit-lines/{done['credit_line_id']}").json()
    assert line["limit"] == done["approved_limit"]
    d = client.get(f"/v1/decisions/{done['decision_id']}").json()
    assert d["outcome"] == "approve" and d["record"]["model_version"].startswith("sc_")
    assert set(d["provider_data"]) >= {"court", "multi_lending", "bureau", "fraud"}
    replay = client.post(f"/v1/decisions/{done['decision_id']}/replay").json()
    assert replay["identical"] is True
    events = [e["to_status"] for e in client.get(f"/v1/applications/{app['id']}/events").json()["data"]]
    for s in ("started", "code_verified", "identity_verified", "consented", "data_collected", "approved",
              "funder_approved", "line_opened"):
        assert s in events
    with database.transaction() as conn:   # the ID number only encrypted, never in clear
        raw = conn.execute("SELECT row_to_json(a)::text AS t FROM applications a WHERE id = %s",
                           [app["id"]]).fetchone()["t"]
    assert CLEAN[1] not in raw and CLEAN[3] not in raw


def test_a_delinquent_applicant_is_declined_with_reasons(client, env):
    app = walk(client, env, DELINQUENT)
    done = client.post(f"/v1/applications/{app['id']}/decision").json()
    assert done["status"] == "declined" and done["outcome"] == "decline"
    d = client.get(f"/v1/decisions/{done['decision_id']}").json()
    codes = [r["code"] for r in d["record"]["reasons"]]
    assert "COURT_LIST" in codes and "SERIOUS_DELINQUENCY" in codes


def test_a_provider_that_times_out_sends_the_application_to_review(client, env):
    # a clean applicant whose bureau call fails: point the bureau at a closed port
    import os
    os.environ["OPENLEND_RISK_BUREAU_BASE_URL"] = "http://127.0.0.1:9"
    try:
        app = walk(client, env, CLEAN)
        done = client.post(f"/v1/applications/{app['id']}/decision").json()
    finally:
        del os.environ["OPENLEND_RISK_BUREAU_BASE_URL"]
    assert done["status"] == "manual_review"
    queue = client.get("/v1/review-queue").json()["data"]
    assert app["id"] in [a["id"] for a in queue]
    d = client.get(f"/v1/decisions/{done['decision_id']}").json()
    assert d["record"]["kind"] == "provider_failure" and "PROVIDER_UNAVAILABLE" in d["record"]["reasons"]
    # the providers answer again: deciding again goes through
    again = client.post(f"/v1/applications/{app['id']}/decision").json()
    assert again["status"] == "line_opened"


def test_the_internal_blacklist_declines(client, env):
    r = client.post("/v1/blacklist", json={"kind": "mobile", "value": "13800000001", "reason": "confirmed fraud"})
    assert r.status_code == 201 and "0001" in r.json()["value_masked"] and "13800000001" not in r.text
    app = walk(client, env, CLEAN)
    done = client.post(f"/v1/applications/{app['id']}/decision").json()
    assert done["status"] == "declined"
    d = client.get(f"/v1/decisions/{done['decision_id']}").json()
    assert "BLACKLIST" in [x["code"] for x in d["record"]["reasons"]]
    client.delete(f"/v1/blacklist/{r.json()['id']}")
    assert client.get("/v1/blacklist").json()["data"] == []


def test_illegal_transitions_are_refused(client, env):
    r = client.post("/v1/applications", json={"mobile": "13800000002", "product_id": env["product"]})
    app = r.json()
    for step, body in (("decision", None), ("data", DATA), ("consents", {"consent_texts": ["x"]}),
                       ("factors", {})):
        r = client.post(f"/v1/applications/{app['id']}/{step}", json=body)
        assert r.status_code == 409 and r.json()["type"] == "/problems/application-state", (step, r.text)
    assert client.post(f"/v1/applications/{app['id']}/verify", json={"code": "000000"}).status_code == 422


def test_policy_as_data_review_queue_and_dual_control(client, env):
    from openlend.decisioning.policy import default_policy

    doc = json.loads(json.dumps(default_policy().document))
    doc["version"] = 2
    doc["rules"].append({"code": "P900_BIG_EARNER", "description": "Review high declared incomes by hand",
                         "outcome": "refer", "when": "monthly_income > 20000",
                         "reason": {"code": "HIGH_INCOME_REVIEW", "text": "High declared income: verify it"}})
    bad = dict(doc, rules=doc["rules"] + [{"code": "P901", "description": "x", "outcome": "refer",
                                           "when": "salary > 1", "reason": {"code": "X", "text": "x"}}])
    r = client.post("/v1/risk-policies", json=bad)
    assert r.status_code == 422 and "salary" in r.text
    r = client.post("/v1/risk-policies", json=doc)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    app = walk(client, env, CLEAN)
    done = client.post(f"/v1/applications/{app['id']}/decision").json()
    assert done["status"] == "manual_review" and done["outcome"] == "refer"
    assert app["id"] in [a["id"] for a in client.get("/v1/review-queue").json()["data"]]
    d = client.get(f"/v1/decisions/{done['decision_id']}").json()
    assert d["policy"]["version"] == 2 and client.post(f"/v1/decisions/{done['decision_id']}/replay").json()["identical"]
    # above the dual-control limit: one operator is not enough
    first = client.post(f"/v1/applications/{app['id']}/review",
                        json={"action": "approve", "note": "income verified by payslip", "limit": "60000.00",
                              "operator": "alice"}).json()
    assert first["status"] == "manual_review" and first["review"]["status"] == "awaiting_second_approval"
    same = client.post(f"/v1/applications/{app['id']}/review",
                       json={"action": "approve", "note": "again", "limit": "60000.00", "operator": "alice"}).json()
    assert same["status"] == "manual_review"
    second = client.post(f"/v1/applications/{app['id']}/review",
                         json={"action": "approve", "note": "checked", "limit": "60000.00", "operator": "bob"}).json()
    assert second["status"] == "line_opened", second
    assert client.get(f"/v1/credit-lines/{second['credit_line_id']}").json()["limit"] == "60000.00"   # within the funder's cap (100,000 here)
    r = client.post(f"/v1/applications/{app['id']}/review", json={"action": "decline", "note": "late"})
    assert r.status_code == 409


def test_models_registry_and_challenger(client, env):
    models = client.get("/v1/risk-models").json()["data"]
    champ = [m for m in models if m["role"] == "champion"]
    assert len(champ) == 1 and champ[0]["version"].startswith("sc_") and champ[0]["metrics"]
    r = client.post(f"/v1/risk-models/{champ[0]['version']}/role", json={"role": "retired"})
    assert r.status_code == 422
    r = client.post("/v1/risk-models/sc_nope/role", json={"role": "champion"})
    assert r.status_code == 404


def test_velocity_sees_a_contact_shared_by_two_people(client, env):
    """Two identities naming the same emergency contact: the second decision's velocity counts the
    first (by keyed hash; the number is stored masked)."""
    first = walk(client, env, CLEAN, extra={"contact_mobile": "13912345678"})
    assert first["declared"]["contact_mobile_masked"] == "+86139****5678" and "13912345678" not in json.dumps(first)
    client.post(f"/v1/applications/{first['id']}/decision")
    THIN = ("李四", "310115200107019027", "13800000002", "6222020000000020008")
    second = walk(client, env, THIN, extra={"contact_mobile": "13912345678"})
    done = client.post(f"/v1/applications/{second['id']}/decision").json()
    d = client.get(f"/v1/decisions/{done['decision_id']}").json()
    v = d["provider_data"]["fraud"]["velocity"]
    assert v["contact_identities_30d"] == 1 and v["address_identities_30d"] == 1   # same rendered address too


def test_providers_that_hang_give_defined_outcomes_never_a_500(client, env):
    """The stand-in's timeout identity: the factor checks are recorded not_checked and the decision,
    whose bureau, court and multi-lending calls time out, goes to manual review."""
    app = walk(client, env, TIMEOUT)
    assert app["factors"]["summary"] == {"id_2factor": "not_checked", "id_3factor": "not_checked",
                                         "id_4factor": "not_checked"}
    r = client.post(f"/v1/applications/{app['id']}/decision")
    assert r.status_code == 200 and r.json()["status"] == "manual_review", r.text
    d = client.get(f"/v1/decisions/{r.json()['decision_id']}").json()
    assert d["record"]["kind"] == "provider_failure"
    assert {d["provider_data"][k]["error"] for k in ("court", "multi_lending", "bureau")} == {"timeout"}
