"""The decision step of an application: gather the risk data at once, decide, record, and act.

1. Internal data, in the database: the internal blacklist (ID number, mobile, device, bank card by
   keyed hash) and the velocity of applications (same device, IP, ID number, card) for the
   anti-fraud rules.
2. External data, concurrently (``asyncio.gather``): the court dishonest-debtor list, the
   multi-lending counts, the credit-bureau report, so a decision takes about the slowest call, not
   the sum.  A call that fails or times out, or a bureau report that does not parse, is never
   guessed: the application goes to manual review with the failure recorded (reason
   ``PROVIDER_UNAVAILABLE`` / ``BUREAU_UNPARSEABLE``).
3. The anti-fraud model scores the application with its velocity context.
4. :func:`openlend.decisioning.engine.decide`: scorecard (champion / challenger), policy rules, limit
   and price; the record (every input, every rule result, versions, reasons) is stored in
   ``decisions`` and replays to itself (``GET /v1/decisions/{id}/replay``).
5. Approve: the application goes to the product's funder for its own approval; once the funder
   approves, a customer and a credit line are opened (``line_opened``).  Refer: the manual review
   queue.  Decline: reasons recorded.
"""

from __future__ import annotations

import asyncio
import functools
import datetime as dt
import time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .. import errors
from ..customers import crypto
from ..db import Database
from ..errors import Problem, field_error
from ..ids import new_id
from . import blacklist, registry
from . import service as apps

DECLARED = ("occupation", "industry", "housing", "education", "monthly_income")


# --- declared data --------------------------------------------------------------------------------

def check_declared(doc: Any) -> dict[str, Any]:
    """The declared data, checked against the policy's vocabularies and the scorecard's fields."""
    from ..decisioning import ApplicantError, packaged_model, score
    from ..decisioning.policy import INPUTS

    if not isinstance(doc, dict):
        raise field_error(errors.VALIDATION, "", "a JSON object")
    bad: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for name in DECLARED:
        spec, v = INPUTS[name], doc.get(name)
        if v is None:
            bad.append({"pointer": f"/{name}", "detail": "required"})
        elif spec.kind == "string":
            if v not in spec.values:
                bad.append({"pointer": f"/{name}", "detail": "one of " + ", ".join(spec.values)})
            out[name] = v
        else:
            try:
                d = Decimal(v) if isinstance(v, str) else None
                if d is None or not d.is_finite() or d < 0:
                    raise ValueError
                out[name] = format(d, "f")
            except (ValueError, ArithmeticError):
                bad.append({"pointer": f"/{name}", "detail": "a decimal string >= 0 (never a JSON number)"})
    sc = doc.get("scorecard")
    if not isinstance(sc, dict):
        bad.append({"pointer": "/scorecard", "detail": "the scorecard's applicant fields as an object"})
    else:
        trial = {**sc, "age": sc.get("age", 30)}   # age comes from the ID card
        try:
            score(packaged_model(), trial)
        except ApplicantError as exc:
            bad += [{"pointer": f"/scorecard/{k}", "detail": v} for k, v in exc.errors.items()]
        out["scorecard"] = {k: v for k, v in sc.items() if k != "age"}
    session = doc.get("session")
    if not isinstance(session, dict) or not isinstance(session.get("form_fill_seconds"), (int, float)) \
            or isinstance(session.get("form_fill_seconds"), bool) or session["form_fill_seconds"] < 0:
        bad.append({"pointer": "/session/form_fill_seconds",
                    "detail": "the channel's session telemetry: form_fill_seconds (a number >= 0) is required"})
    else:
        unknown = set(session) - {"form_fill_seconds", "paste_count", "device_emulator", "ip_region", "mobile_region"}
        bad += [{"pointer": f"/session/{k}", "detail": "unknown field"} for k in sorted(unknown)]
        if not isinstance(session.get("paste_count", 0), int) or session.get("paste_count", 0) < 0:
            bad.append({"pointer": "/session/paste_count", "detail": "an integer >= 0"})
        if not isinstance(session.get("device_emulator", False), bool):
            bad.append({"pointer": "/session/device_emulator", "detail": "true or false"})
        out["session"] = session
    contact = doc.get("contact_mobile")
    if contact is not None:
        from ..origination import codes
        try:
            c = codes.normalise_mobile(contact, "/contact_mobile")
            out["contact_mobile_masked"] = apps.mask_mobile(c)
            out["contact_hash"] = crypto.keyring().lookup_hash(c, "contact_mobile").hex()
        except Problem as exc:
            bad += exc.errors or [{"pointer": "/contact_mobile", "detail": exc.detail}]
    extra = set(doc) - set(DECLARED) - {"scorecard", "session", "contact_mobile"}
    bad += [{"pointer": f"/{k}", "detail": "unknown field"} for k in sorted(extra)]
    if bad:
        raise Problem(errors.VALIDATION, "The declared data has errors.", errors=bad)
    return out


# --- external data, concurrently ----------------------------------------------------------------

async def _gather(providers, name: str, id_number: str) -> dict[str, Any]:
    from ..risk import providers as risk

    async def one(key: str, coro):
        t0 = time.perf_counter()
        try:
            return key, {"ok": True, "value": await coro, "ms": round((time.perf_counter() - t0) * 1000, 1)}
        except risk.ProviderError as exc:
            return key, {"ok": False, "error": exc.kind, "ms": round((time.perf_counter() - t0) * 1000, 1)}

    results = await asyncio.gather(one("court", providers.court.search(name, id_number)),
                                   one("multi_lending", providers.multi_lending.counts(id_number)),
                                   one("bureau", providers.bureau.fetch_report(name, id_number)))
    return dict(results)


class _ProviderLoop:
    """One event loop in a daemon thread holding the async provider clients, built once per provider
    configuration and reused (connection pools, one SSL context each): a decision submits its fan-out
    here and waits for it."""

    def __init__(self) -> None:
        import threading
        self.loop = asyncio.new_event_loop()
        self.clients: dict[Any, Any] = {}
        threading.Thread(target=self.loop.run_forever, name="risk-providers", daemon=True).start()

    def run(self, coro_fn, settings_key):
        async def go():
            from ..risk import providers as risk
            p = self.clients.get(settings_key)
            if p is None:
                p = self.clients[settings_key] = risk.build_async_providers()
            return await coro_fn(p)
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result()


_provider_loop: _ProviderLoop | None = None


def _settings_key() -> tuple:
    import os
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("OPENLEND_RISK_")))


def gather_external(name: str, id_number: str, providers=None) -> dict[str, Any]:
    """The court list, multi-lending and bureau calls at once (``providers``: async clients to use instead
    of the configured ones)."""
    global _provider_loop
    if providers is not None:
        return asyncio.run(_gather(providers, name, id_number))
    if _provider_loop is None:
        _provider_loop = _ProviderLoop()
    return _provider_loop.run(lambda p: _gather(p, name, id_number), _settings_key())


def bureau_inputs(gathered: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, dict]:
    """The policy's bureau inputs from the report (None with a reason code when it cannot be had)."""
    from ..risk import bureau

    b = gathered["bureau"]
    if not b["ok"]:
        return None, "PROVIDER_UNAVAILABLE", {"bureau_report": "unavailable: " + b["error"]}
    raw = b["value"]
    if raw is None:   # no file at the bureau: a thin file, not an error
        return {"bureau_thin_file": True, "bureau_worst_status_24m": None, "bureau_queries_3m": 0,
                "bureau_queries_6m": 0, "bureau_utilisation": None, "bureau_overdue_records": 0,
                "bureau_outstanding_balance": "0", "bureau_monthly_repayment": None}, None, {"bureau_report": "not_found"}
    try:
        report = bureau.parse_report(raw)
    except bureau.BureauParseError as exc:
        return None, "BUREAU_UNPARSEABLE", {"bureau_report": f"unparseable at {exc.path}"}
    f = bureau.features(report)
    util = f["revolving_utilisation"]
    return {"bureau_thin_file": f["thin_file"], "bureau_worst_status_24m": f["worst_status_24m"],
            "bureau_queries_3m": f["hard_queries_3m"], "bureau_queries_6m": f["hard_queries_6m"],
            "bureau_utilisation": None if util is None else format(util, "f"),
            "bureau_overdue_records": f["overdue_records_count"],
            "bureau_outstanding_balance": format(f["total_balance"], "f"),
            "bureau_monthly_repayment": None}, None, {"bureau_report": {k: (format(v, "f") if isinstance(v, Decimal) else v)
                                                                 for k, v in f.items()}}


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# --- decision records ---------------------------------------------------------------------------

def _render_decision(r: dict[str, Any]) -> dict[str, Any]:
    return {"object": "decision", "id": r["id"], "application_id": r["application_id"], "outcome": r["outcome"],
            "model_version": r["model_version"], "policy": {"id": r["policy_id"], "version": r["policy_version"]},
            "record": r["record"], "provider_data": r["provider_data"],
            "seconds": None if r["seconds"] is None else float(r["seconds"]),
            "created_at": r["created_at"].isoformat()}


def get_decision(conn: psycopg.Connection, decision_id: str) -> dict[str, Any]:
    r = conn.execute("SELECT * FROM decisions WHERE id = %s", [decision_id]).fetchone()
    if r is None:
        raise errors.not_found("decision", decision_id)
    return _render_decision(r)


def replay_decision(conn: psycopg.Connection, decision_id: str) -> dict[str, Any]:
    """Decide again from the record's inputs with its policy and model versions (from the registry)."""
    from ..decisioning import from_dict as model_from_dict
    from ..decisioning.engine import replay
    from ..decisioning.policy import canonical, from_dict as policy_from_dict

    r = conn.execute("SELECT * FROM decisions WHERE id = %s", [decision_id]).fetchone()
    if r is None:
        raise errors.not_found("decision", decision_id)
    if r["record"].get("format") != "openlend.decision/1":
        raise Problem(errors.VALIDATION, f"Decision {decision_id} was not made by the engine "
                                         f"({r['record'].get('kind')}): there is nothing to replay.")
    models = [model_from_dict(m["body"]) for m in conn.execute("SELECT body FROM risk_models WHERE kind = 'scorecard'")]
    policies = [policy_from_dict(p["body"]) for p in conn.execute("SELECT body FROM risk_policies")]
    again = replay(r["record"], policies=policies, models=models)
    same = canonical(again.to_dict()) == canonical(r["record"])
    return {"object": "decision_replay", "decision_id": decision_id, "identical": same,
            "outcome": again.outcome, "replayed_record": again.to_dict()}


def review_queue(conn: psycopg.Connection, *, limit: int = 50) -> dict[str, Any]:
    rows = conn.execute("SELECT * FROM applications WHERE status = 'manual_review' AND livemode = %s "
                        "ORDER BY created_at LIMIT %s", [apps._livemode(), limit]).fetchall()
    return {"object": "list", "data": [apps.render(r) for r in rows], "has_more": len(rows) == limit,
            "next_cursor": None}


# --- anti-fraud -----------------------------------------------------------------------------------

def _velocity_record(r: dict[str, Any]) -> dict[str, Any]:
    return {"application_id": r["id"], "applied_at": r["created_at"], "id_number": r["id_hash"],
            "device_id": r["device_id"], "ip_address": r["ip"], "bank_card": r["card_hash"],
            "contact_mobile": r.get("contact_hash"), "address": r.get("address_hash")}


@functools.lru_cache(maxsize=1)
def _fraud_model():
    from ..antifraud import packaged_model
    return packaged_model()


def fraud_assessment(row: dict[str, Any], history: list[dict[str, Any]], bureau: Any,
                     today: dt.date) -> dict[str, Any]:
    """The anti-fraud model and velocity rules (:mod:`openlend.antifraud`) on this application: its
    session telemetry (declared ``session``), carrier data, bureau features and the velocity over the
    earlier applications that share its device, IP, ID number, card, emergency contact's mobile or
    ID-card address (the last three by keyed hash; an application without them matches nothing)."""
    from ..antifraud import fraud_score, velocity_features

    me = {"id": row["id"], "created_at": row["created_at"], "id_hash": (bytes(row["id_number_hash"]).hex()
                                                                       if row["id_number_hash"] else None),
          "device_id": row["device_id"], "ip": str(row["client_ip"]) if row["client_ip"] else None,
          "card_hash": bytes(row["bank_card_hash"]).hex() if row["bank_card_hash"] else None,
          "contact_hash": (row["applicant"] or {}).get("contact_hash"),
          "address_hash": (row["id_card"] or {}).get("address_hash")}
    velocity = velocity_features(_velocity_record(me), [_velocity_record(h) for h in history])
    session = (row["applicant"] or {}).get("session") or {}
    f = row["factors"] or {}
    carrier = f.get("carrier") or {}
    b = bureau if isinstance(bureau, dict) else {}
    id_number = apps.reveal_id_number(row)
    application = {
        "age": _age(row["birth_date"], today),
        "occupation": row["applicant"]["occupation"],
        "monthly_income": row["applicant"]["monthly_income"],
        "form_fill_seconds": session.get("form_fill_seconds"),
        "paste_count": session.get("paste_count", 0),
        "device_emulator": bool(session.get("device_emulator", False)),
        "mobile_tenure_months": carrier.get("tenure_months", 0),
        "carrier_name_match": (f.get("three_factor") or {}).get("result") == "match",
        "bureau_thin_file": b.get("thin_file", True),
        "bureau_history_months": b.get("credit_history_months"),
        "bureau_accounts": b.get("accounts_total"),
        "bureau_utilisation": b.get("revolving_utilisation"),
        "bureau_utilisation_6m_avg": None,
        "bureau_queries_1m": b.get("hard_queries_1m", 0),
        "bureau_queries_3m": b.get("hard_queries_3m", 0),
        "id_region": id_number[:2],
        "ip_region": session.get("ip_region") or "",
        "mobile_region": session.get("mobile_region") or "",
        "applied_at": row["created_at"].astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat(),
    }
    result = fraud_score(_fraud_model(), application, velocity)
    return {**result.to_dict(), "velocity": velocity}


# --- the decision ---------------------------------------------------------------------------------

REVIEW_DUAL_CONTROL_LIMIT = Decimal("50000")   # above this, a second operator confirms an approval


def _product(conn: psycopg.Connection, product_id: str) -> tuple[str, dict[str, Any]]:
    from ..products import rules

    r = conn.execute("SELECT p.code, v.config FROM loan_products p JOIN loan_product_versions v "
                     "ON v.product_id = p.id AND v.version = p.current_version WHERE p.id = %s", [product_id]).fetchone()
    return r["code"], rules.config_from_json(r["config"])


def _history(conn: psycopg.Connection, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Earlier applications sharing a device, IP, ID number, mobile or card in the last 30 days (the
    velocity context of the anti-fraud rules)."""
    rows = conn.execute(
        "SELECT id, device_id, host(client_ip) AS ip, encode(id_number_hash, 'hex') AS id_hash, mobile, "
        "encode(bank_card_hash, 'hex') AS card_hash, applicant ->> 'contact_hash' AS contact_hash, "
        "id_card ->> 'address_hash' AS address_hash, created_at FROM applications "
        "WHERE id <> %(id)s AND livemode = %(lm)s AND created_at >= %(at)s - interval '30 days' AND created_at <= %(at)s "
        "AND (device_id = %(dev)s OR client_ip = %(ip)s OR id_number_hash = %(h)s OR mobile = %(m)s "
        "     OR bank_card_hash = %(card)s OR applicant ->> 'contact_hash' = %(contact)s "
        "     OR id_card ->> 'address_hash' = %(address)s)",
        {"id": row["id"], "lm": row["livemode"], "at": row["created_at"], "dev": row["device_id"],
         "ip": row["client_ip"], "h": row["id_number_hash"], "m": row["mobile"], "card": row["bank_card_hash"],
         "contact": (row["applicant"] or {}).get("contact_hash"), "address": (row["id_card"] or {}).get("address_hash")}
    ).fetchall()
    return rows


def _store(conn: psycopg.Connection, row: dict[str, Any], *, decision_id: str, outcome: str, model_version: str,
           policy_id: str, policy_version: int, record: dict[str, Any], provider_data: dict[str, Any],
           seconds: float) -> None:
    conn.execute("INSERT INTO decisions (id, application_id, outcome, model_version, policy_id, policy_version, "
                 "record, provider_data, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                 "ON CONFLICT (id) DO NOTHING",
                 [decision_id, row["id"], outcome, model_version, policy_id, policy_version, Jsonb(record),
                  Jsonb(provider_data), round(seconds, 4)])


def _decidable(row: dict[str, Any]) -> tuple[str, ...]:
    """data_collected; or manual_review when the last decision could not be made (a provider failed):
    deciding again asks the providers again."""
    if row["status"] == "manual_review" and row["outcome"] == "refer" and row["approved_rate"] is None:
        return ("data_collected", "manual_review")
    return ("data_collected",)


def run(database: Database, app_id: str, *, providers=None, funders=None) -> dict[str, Any]:
    """Decide an application in ``data_collected`` (see the module docstring); the application."""
    from ..decisioning import engine
    from ..products import service as products

    started = time.perf_counter()
    with database.transaction() as conn:
        row = apps.load(conn, app_id)
        apps._refuse_state(row, _decidable(row), "the decision")
        registry.ensure_registry(conn)
        policy, (model, cc) = registry.active_policy(conn), registry.champion(conn)
        code, product = _product(conn, row["product_id"])
        listed = blacklist.hits(conn, row)
        history = _history(conn, row)
    today = dt.date.today()
    id_number = apps.reveal_id_number(row)
    gathered = gather_external(row["name"], id_number, providers)
    provider_data: dict[str, Any] = {k: {"ok": v["ok"], "ms": v["ms"], **({"error": v["error"]} if not v["ok"] else {})}
                                     for k, v in gathered.items()}
    failures: list[str] = []
    binputs, bfail, bdata = bureau_inputs(gathered)
    provider_data.update(bdata)
    if bfail:
        failures.append(bfail)
    else:
        fraud = fraud_assessment(row, history, bdata.get("bureau_report"), today)
        provider_data["fraud"] = fraud
    court, multi = gathered["court"], gathered["multi_lending"]
    if not court["ok"] or not multi["ok"]:
        failures.append("PROVIDER_UNAVAILABLE")
    if failures:
        # never guessed: a person looks at it (the providers can be asked again from the review)
        record = {"kind": "provider_failure", "application_id": app_id, "reasons": sorted(set(failures)),
                  "providers": provider_data}
        did = new_id("dec")
        with database.transaction() as conn:
            row = apps.load(conn, app_id, for_update=True)
            apps._refuse_state(row, _decidable(row), "the decision")
            _store(conn, row, decision_id=did, outcome="refer", model_version="-", policy_id=policy.id,
                   policy_version=policy.version, record=record, provider_data=provider_data,
                   seconds=time.perf_counter() - started)
            return apps.render(apps.move(conn, row, "manual_review", actor="decision",
                                         note="provider failure: " + ", ".join(sorted(set(failures))),
                                         decision_id=did, outcome="refer"))
    hits = court["value"].hits
    windows = multi["value"].windows if multi["value"] is not None else {}
    declared = row["applicant"]
    factors = (row["factors"] or {}).get("summary") or {}
    inputs = {
        "application_id": app_id,
        "age": _age(row["birth_date"], today),
        **{k: declared[k] for k in DECLARED},
        "blacklist_hit": bool(listed),
        "court_list_hit": bool(hits),
        **binputs,
        "multi_lending_7d": windows[7].lenders if 7 in windows else 0,
        "multi_lending_30d": windows[30].lenders if 30 in windows else 0,
        "multi_lending_90d": windows[90].lenders if 90 in windows else 0,
        "fraud_score": fraud["policy_score"],
        "face_score": str(round(Decimal(str(row["face"]["score"])), 4)),
        "id_2factor": factors.get("id_2factor", "not_checked"),
        "id_3factor": factors.get("id_3factor", "not_checked"),
        "id_4factor": factors.get("id_4factor", "not_checked"),
        "scorecard": {**declared["scorecard"], "age": _age(row["birth_date"], today)},
    }
    dec = engine.decide(inputs, policy, model, product, champion_challenger=cc,
                        platform_apr_cap=products.platform_apr_cap())
    record = dec.to_dict()
    to = {"approve": "approved", "refer": "manual_review", "decline": "declined"}[dec.outcome]
    with database.transaction() as conn:
        row = apps.load(conn, app_id, for_update=True)
        apps._refuse_state(row, _decidable(row), "the decision")
        _store(conn, row, decision_id=dec.decision_id, outcome=dec.outcome, model_version=dec.model_version,
               policy_id=dec.policy_id, policy_version=dec.policy_version, record=record,
               provider_data=provider_data, seconds=time.perf_counter() - started)
        row = apps.move(conn, row, to, actor="decision", note=", ".join(r.code for r in dec.reasons[:4]) or None,
                        details={"decision_id": dec.decision_id}, decision_id=dec.decision_id, outcome=dec.outcome,
                        approved_limit=dec.limit, approved_rate=dec.rate)
    if to == "approved":
        return fund(database, app_id, funders=funders, product_code=code)
    return apps.render(row)


# --- funder and line ------------------------------------------------------------------------------

def funding_config():
    """The funders per product code, from ``OPENLEND_FUNDERS`` (JSON: ``{"products": {"CODE": [{"bank_code":
    ..., "base_url": ..., "secret": ..., "share": ...}]}}``).  A product with no funder lends the
    platform's own funds."""
    import json
    import os

    from ..funding import FundingConfig

    raw = os.environ.get("OPENLEND_FUNDERS", "").strip()
    return FundingConfig.from_mapping(json.loads(raw)) if raw else FundingConfig()


def fund(database: Database, app_id: str, *, funders=None, product_code: str | None = None) -> dict[str, Any]:
    """Send an approved application to its funder (or look up the answer of one already sent); on the
    funder's approval open the line.  A funder that cannot be reached leaves the application
    ``approved`` with the error in its events: call again (``POST /applications/{id}/funding``)."""
    from ..funding import ApplicantSummary, FunderError, FundingRequest, choose_funder
    from ..risk.providers import mask_id_number

    with database.transaction() as conn:
        row = apps.load(conn, app_id)
        apps._refuse_state(row, ("approved", "funder_approved"), "funding")
        if product_code is None:
            product_code, _ = _product(conn, row["product_id"])
        rec = conn.execute("SELECT record FROM decisions WHERE id = %s", [row["decision_id"]]).fetchone()
    if row["status"] == "funder_approved":
        return open_line(database, app_id)
    config = funders or funding_config()
    candidates = config.funders_for(product_code)
    if not candidates:
        with database.transaction() as conn:
            row = apps.load(conn, app_id, for_update=True)
            row = apps.move(conn, row, "funder_approved", actor="funding", note="own funds", funder_code="OWN")
        return open_line(database, app_id)
    chosen = next((c for c in candidates if c.bank_code == row["funder_code"]), None) or \
        choose_funder(candidates, app_id, row["approved_limit"])
    if chosen is None:
        with database.transaction() as conn:
            row = apps.load(conn, app_id, for_update=True)
            return apps.render(apps.move(conn, row, "declined", actor="funding", note="no funder can take it"))
    record = rec["record"] if rec else {}
    score = record.get("score") or {}
    derived = record.get("derived") or {}
    req = FundingRequest(application_id=app_id, product_code=product_code,
                         applicant=ApplicantSummary(id_number_masked=mask_id_number(apps.reveal_id_number(row)),
                                                    age=_age(row["birth_date"], dt.date.today()),
                                                    score=int(score["score"]),
                                                    score_band=str(derived.get("score_band", ""))),
                         requested_limit=row["approved_limit"], requested_rate=row["approved_rate"],
                         decision_id=row["decision_id"])
    f = _funder(chosen)
    try:
        answer = f.get(app_id) if row["funder_code"] == chosen.bank_code and row["funder_reference"] else f.submit(req)
    except FunderError as exc:
        with database.transaction() as conn:
            conn.execute("UPDATE applications SET funder_code = %s, updated_at = now() WHERE id = %s",
                         [chosen.bank_code, app_id])
            conn.execute("INSERT INTO application_events (application_id, from_status, to_status, actor, note, "
                         "details) VALUES (%s, 'approved', 'approved', 'funding', %s, %s)",
                         [app_id, f"funder {chosen.bank_code} did not answer: {exc.kind}", Jsonb({"kind": exc.kind})])
            return apps.render(apps.load(conn, app_id))
    with database.transaction() as conn:
        row = apps.load(conn, app_id, for_update=True)
        if answer.status == "pending":
            conn.execute("UPDATE applications SET funder_code = %s, funder_reference = %s, updated_at = now() "
                         "WHERE id = %s", [chosen.bank_code, answer.funder_reference, app_id])
            return apps.render(apps.load(conn, app_id))
        if answer.status == "declined":
            return apps.render(apps.move(conn, row, "declined", actor="funder:" + chosen.bank_code,
                                         note=answer.decline_reason, funder_code=chosen.bank_code,
                                         funder_reference=answer.funder_reference))
        limit = min(row["approved_limit"], answer.approved_limit or row["approved_limit"])
        rate = max(row["approved_rate"], answer.annual_rate or row["approved_rate"])
        apps.move(conn, row, "funder_approved", actor="funder:" + chosen.bank_code,
                  details={"approved_limit": format(limit, "f"), "annual_rate": format(rate, "f")},
                  funder_code=chosen.bank_code, funder_reference=answer.funder_reference,
                  approved_limit=limit, approved_rate=rate)
    return open_line(database, app_id)


_funders: dict[tuple, Any] = {}


def _funder(config):
    """One client per funder configuration (its connection pool and SSL context reused)."""
    from ..funding import HttpFunder
    key = (config.bank_code, config.base_url, config.secret.get_secret_value(), config.partner_id,
           config.timeout_s, config.max_attempts)
    if key not in _funders:
        _funders[key] = HttpFunder(config)
    return _funders[key]


def open_line(database: Database, app_id: str) -> dict[str, Any]:
    """The customer (found by ID number, or made) and the credit line on the product (an open one
    takes the new limit if it is higher: borrowing again needs no new line)."""
    from ..customers import service as customers
    from ..lines import service as lines

    with database.transaction() as conn:
        row = apps.load(conn, app_id, for_update=True)
        apps._refuse_state(row, ("funder_approved",), "opening the line")
        id_number = apps.reveal_id_number(row)
        found = customers.search(conn, id_number=id_number)["data"]
        cus = found[0] if found else customers.create_customer(
            conn, {"name": row["name"], "mobile": row["mobile"], "id_number": id_number})
        line = conn.execute("SELECT id, limit_amount FROM credit_lines WHERE customer_id = %s AND product_id = %s "
                            "AND status <> 'closed'", [cus["id"], row["product_id"]]).fetchone()
        if line is None:
            line = lines.create_line(conn, customer_id=cus["id"], product_id=row["product_id"],
                                     limit=row["approved_limit"], changed_by="application " + app_id)
            line_id = line["id"]
        else:
            line_id = line["id"]
            if row["approved_limit"] > line["limit_amount"]:
                lines.change_limit(conn, line_id, row["approved_limit"], f"application {app_id}",
                                   changed_by="application " + app_id)
        return apps.render(apps.move(conn, row, "line_opened", actor="platform", customer_id=cus["id"],
                                     line_id=line_id, details={"credit_line_id": line_id}))


# --- manual review --------------------------------------------------------------------------------

def review(database: Database, app_id: str, *, action: Any, note: Any, limit: Any = None,
           operator: str) -> dict[str, Any]:
    """An operator's approve or decline, with a note.  An approval above the dual-control limit needs
    a second, different operator's approval before it takes effect."""
    from ..lines.service import check_amount

    if action not in ("approve", "decline"):
        raise field_error(errors.VALIDATION, "/action", "approve or decline")
    if not isinstance(note, str) or not 1 <= len(note) <= 2000:
        raise field_error(errors.VALIDATION, "/note", "a note of 1 to 2000 characters")
    with database.transaction() as conn:
        row = apps.load(conn, app_id, for_update=True)
        apps._refuse_state(row, ("manual_review",), "a review")
        amount = None
        if action == "approve":
            if limit is not None:
                try:
                    amount = check_amount(Decimal(limit) if isinstance(limit, str) else limit, "CNY", "/limit")
                except (ArithmeticError, ValueError):
                    raise field_error(errors.VALIDATION, "/limit", "a decimal string") from None
            amount = amount or row["approved_limit"]
            if amount is None:
                raise field_error(errors.VALIDATION, "/limit", "this application has no suggested limit: give one")
        conn.execute("INSERT INTO application_reviews (id, application_id, operator, action, approved_limit, note) "
                     "VALUES (%s, %s, %s, %s, %s, %s)", [new_id("rev"), app_id, operator, action, amount, note])
        if action == "decline":
            return apps.render(apps.move(conn, row, "declined", actor="operator:" + operator, note=note))
        if amount > REVIEW_DUAL_CONTROL_LIMIT:
            others = conn.execute("SELECT count(DISTINCT operator) AS n FROM application_reviews WHERE application_id = %s "
                                  "AND action = 'approve' AND approved_limit = %s AND operator <> %s",
                                  [app_id, amount, operator]).fetchone()["n"]
            if not others:
                return {**apps.render(row), "review": {"status": "awaiting_second_approval",
                                                       "limit": format(amount, "f")}}
        rate = row["approved_rate"]
        if rate is None:
            raise field_error(errors.VALIDATION, "/action", "this application has no priced rate; it cannot be approved")
        apps.move(conn, row, "approved", actor="operator:" + operator, note=note, approved_limit=amount)
    return fund(database, app_id)
