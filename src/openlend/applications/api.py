"""``/v1/applications`` and the risk routes (``/v1/decisions``, ``/v1/blacklist``, ``/v1/review-queue``,
``/v1/risk-models``, ``/v1/risk-policies``): thin, the work is in :mod:`.service` and :mod:`.decision`.

Images travel as base64 strings in JSON bodies (``data:`` URLs accepted), at most 8 MB each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from .. import errors
from ..web import DB, Principal, caller_ip
from . import blacklist, decision, registry, service

router = APIRouter(tags=["applications"])
Doc = Annotated[dict[str, Any], Body()]
OptDoc = Annotated[dict[str, Any] | None, Body()]


def _ip(request: Request, doc: dict[str, Any] | None) -> str | None:
    """The end user's address when the channel gives it (``ip_address``), else the caller's."""
    return (doc or {}).get("ip_address") or caller_ip(request)


def _only(doc: dict[str, Any] | None, allowed: set[str]) -> dict[str, Any]:
    doc = doc or {}
    extra = sorted(set(doc) - allowed)
    if extra:
        raise errors.Problem(errors.VALIDATION, "The request has unknown fields.",
                             errors=[{"pointer": f"/{k}", "detail": "unknown field"} for k in extra])
    return doc


@router.post("/applications", status_code=201, summary="Start an application (sends the registration code by SMS)")
def create_application(body: Doc, request: Request, database: DB, principal: Principal):
    doc = _only(body, {"mobile", "product_id", "device_id", "ip_address"})
    return service.create(database, mobile=doc.get("mobile"), product_id=doc.get("product_id"),
                          device_id=doc.get("device_id"), ip_address=_ip(request, doc))


@router.get("/applications", summary="List applications", description="Newest first; `status` filters.")
def list_applications(database: DB, status: Annotated[str | None, Query()] = None,
                      limit: Annotated[int, Query(ge=1, le=100)] = 20, cursor: Annotated[str | None, Query()] = None):
    with database.transaction() as conn:
        return service.list_applications(conn, status=status, limit=limit, cursor=cursor)


@router.get("/applications/{app_id}", summary="Retrieve an application")
def get_application(app_id: str, database: DB):
    with database.transaction() as conn:
        return service.get(conn, app_id)


@router.get("/applications/{app_id}/events", summary="The application's state changes, oldest first")
def application_events(app_id: str, database: DB):
    with database.transaction() as conn:
        return service.events(conn, app_id)


@router.post("/applications/{app_id}/verification-code", status_code=201, summary="Send a new registration code")
def resend_code(app_id: str, request: Request, database: DB, principal: Principal, body: OptDoc = None):
    doc = _only(body, {"ip_address"})
    return service.resend_code(database, app_id, ip_address=_ip(request, doc))


@router.post("/applications/{app_id}/verify", summary="Verify the registration code")
def verify(app_id: str, body: Doc, database: DB, principal: Principal):
    doc = _only(body, {"code"})
    return service.verify_code(database, app_id, doc.get("code"))


@router.post("/applications/{app_id}/id-card", summary="Send the ID card (both sides): OCR and checks")
def id_card(app_id: str, body: Doc, database: DB, principal: Principal):
    doc = _only(body, {"front", "back"})
    return service.submit_id_card(database, app_id, front=service.decode_image(doc.get("front"), "/front"),
                                  back=service.decode_image(doc.get("back"), "/back"))


@router.post("/applications/{app_id}/selfie", summary="Send a selfie (and liveness frames): compared with the ID portrait")
def selfie(app_id: str, body: Doc, database: DB, principal: Principal):
    doc = _only(body, {"image", "frames", "challenge"})
    frames = doc.get("frames")
    if frames is not None and (not isinstance(frames, list) or len(frames) > 90):
        raise errors.field_error(errors.VALIDATION, "/frames", "a list of at most 90 base64 images")
    return service.submit_selfie(
        database, app_id, selfie=service.decode_image(doc.get("image"), "/image"),
        frames=[service.decode_image(f, f"/frames/{i}") for i, f in enumerate(frames or [])] or None,
        challenge=doc.get("challenge"))


@router.post("/applications/{app_id}/factors", summary="2/3/4-factor checks and carrier data")
def factors(app_id: str, database: DB, principal: Principal, body: OptDoc = None):
    doc = _only(body, {"bank_card"})
    return service.submit_factors(database, app_id, bank_card=doc.get("bank_card"))


@router.post("/applications/{app_id}/consents", summary="Accept the consent texts (uses the verified code)")
def consents(app_id: str, body: Doc, request: Request, database: DB, principal: Principal):
    doc = _only(body, {"consent_texts", "ip_address", "user_agent"})
    return service.submit_consents(database, app_id, consent_texts=doc.get("consent_texts"),
                                   ip_address=_ip(request, doc), user_agent=doc.get("user_agent"))


@router.post("/applications/{app_id}/data", summary="The applicant's declared data")
def data(app_id: str, body: Doc, database: DB, principal: Principal):
    return service.submit_data(database, app_id, body)


@router.post("/applications/{app_id}/decision", summary="Decide: risk data, score, policy, limit and price, funder")
def decide(app_id: str, database: DB, principal: Principal):
    return decision.run(database, app_id)


@router.post("/applications/{app_id}/funding", summary="Send an approved application to its funder again, or ask for its answer")
def funding(app_id: str, database: DB, principal: Principal):
    return decision.fund(database, app_id)


@router.post("/applications/{app_id}/review", summary="Manual review: approve or decline with a note")
def review(app_id: str, body: Doc, database: DB, principal: Principal):
    doc = _only(body, {"action", "note", "limit", "operator"})
    return decision.review(database, app_id, action=doc.get("action"), note=doc.get("note"),
                           limit=doc.get("limit"), operator=doc.get("operator") or principal)


@router.post("/applications/{app_id}/cancel", summary="Cancel an application before its decision")
def cancel(app_id: str, database: DB, principal: Principal, body: OptDoc = None):
    doc = _only(body, {"reason"})
    return service.cancel(database, app_id, reason=doc.get("reason"))


@router.get("/review-queue", summary="Applications waiting for manual review, oldest first")
def review_queue(database: DB, limit: Annotated[int, Query(ge=1, le=100)] = 50):
    with database.transaction() as conn:
        return decision.review_queue(conn, limit=limit)


@router.get("/decisions/{decision_id}", summary="A decision record")
def get_decision(decision_id: str, database: DB):
    with database.transaction() as conn:
        return decision.get_decision(conn, decision_id)


@router.post("/decisions/{decision_id}/replay", summary="Decide again from the stored inputs; identical or not")
def replay_decision(decision_id: str, database: DB, principal: Principal):
    with database.transaction() as conn:
        return decision.replay_decision(conn, decision_id)


@router.post("/blacklist", status_code=201, summary="Add to the internal blacklist")
def add_blacklist(body: Doc, database: DB, principal: Principal):
    doc = _only(body, {"kind", "value", "reason"})
    with database.transaction() as conn:
        return blacklist.add_to_blacklist(conn, kind=doc.get("kind"), value=doc.get("value"),
                                         reason=doc.get("reason"), operator=principal)


@router.get("/blacklist", summary="The internal blacklist (values masked)")
def list_blacklist(database: DB, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   cursor: Annotated[str | None, Query()] = None):
    with database.transaction() as conn:
        return blacklist.list_blacklist(conn, limit=limit, cursor=cursor)


@router.delete("/blacklist/{entry_id}", summary="Remove an entry (kept, marked removed)")
def remove_blacklist(entry_id: str, database: DB, principal: Principal):
    with database.transaction() as conn:
        return blacklist.remove_from_blacklist(conn, entry_id, operator=principal)


@router.get("/risk-models", summary="Registered models with their metrics and roles")
def risk_models(database: DB):
    with database.transaction() as conn:
        return registry.list_models(conn)


@router.get("/risk-policies", summary="Registered policy versions")
def risk_policies(database: DB):
    with database.transaction() as conn:
        return registry.list_policies(conn)


@router.post("/risk-policies", status_code=201, summary="Publish a new policy version (validated in full)")
def publish_policy(body: Doc, database: DB, principal: Principal):
    with database.transaction() as conn:
        return registry.publish_policy(conn, body, operator=principal)


@router.post("/risk-models", status_code=201, summary="Register a scorecard document (it starts retired)")
def register_model(body: Doc, database: DB, principal: Principal):
    with database.transaction() as conn:
        return registry.register_model(conn, body)


@router.post("/risk-models/{version}/role", summary="Champion, challenger (with a share) or retired")
def model_role(version: str, body: Doc, database: DB, principal: Principal):
    doc = _only(body, {"role", "share"})
    with database.transaction() as conn:
        return registry.set_model_role(conn, version, role=doc.get("role"), share=doc.get("share"))
