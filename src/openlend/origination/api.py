"""Registration routes: ``/v1/verification-codes``, ``/v1/consent-texts``, ``/v1/consents`` (thin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from .. import errors
from ..web import DB, Principal, caller_ip, idempotent, problems
from . import codes, consents
from .schemas import (ConsentCreate, ConsentOut, ConsentTextCreate, ConsentTextList, ConsentTextOut,
                      VerificationCodeCreate, VerificationCodeOut, VerificationCodeVerify)

router = APIRouter(tags=["registration"])


@router.post("/verification-codes", status_code=201, response_model=VerificationCodeOut,
             summary="Send a verification code by SMS",
             description=("Sends a 6-digit code to the number for one purpose; the response never holds the code. "
                          "The code lives 5 minutes, verifies once, locks after 5 wrong tries. Limits: 60 s "
                          "before another code to the same number, 5 codes per number and 20 per IP address in "
                          "any hour (429 with Retry-After). A new code supersedes the number's older code for "
                          "the same purpose."),
             responses=problems(errors.VALIDATION, codes.RESEND_TOO_EARLY, errors.RATE_LIMITED, codes.SMS_SEND_FAILED))
def create_verification_code(body: VerificationCodeCreate, request: Request, database: DB):
    return codes.issue_code(database, mobile=body.mobile, purpose=body.purpose,
                            ip_address=body.ip_address if body.ip_address is not None else caller_ip(request))


@router.get("/verification-codes/{code_id}", response_model=VerificationCodeOut, summary="Retrieve a verification code",
            responses=problems(errors.NOT_FOUND))
def get_verification_code(code_id: str, database: DB):
    with database.transaction() as conn:
        return codes.get_code(conn, code_id)


@router.post("/verification-codes/{code_id}/verify", response_model=VerificationCodeOut, summary="Verify a code",
             description=("200 with status `verified` when the code matches (once). A wrong code is 422 "
                          "`/problems/verification-code-incorrect` with `attempts_remaining`; the try that uses the "
                          "last attempt, and every try after it, is 409 `/problems/verification-code-locked`."),
             responses=problems(errors.VALIDATION, codes.CODE_INCORRECT, codes.CODE_EXPIRED, codes.CODE_LOCKED,
                                codes.CODE_USED, codes.CODE_SUPERSEDED, errors.NOT_FOUND))
def verify_verification_code(code_id: str, body: VerificationCodeVerify, database: DB):
    return codes.verify_code(database, code_id, body.code)


@router.get("/consent-texts", response_model=ConsentTextList, summary="List consent texts",
            description="The current version of each consent text (with `all_versions=true`: every version).")
def list_consent_texts(database: DB, kind: Annotated[str | None, Query()] = None,
                       all_versions: Annotated[bool, Query()] = False):
    with database.transaction() as conn:
        return consents.list_texts(conn, kind=kind, all_versions=all_versions)


@router.post("/consent-texts", status_code=201, response_model=ConsentTextOut, summary="Publish a consent text version",
             description="A new version of a kind; earlier versions never change. Takes an `Idempotency-Key`.",
             responses=problems(errors.VALIDATION))
def publish_consent_text(body: ConsentTextCreate, request: Request, database: DB, principal: Principal):
    doc = body.model_dump()
    return idempotent(request, database, principal, doc, lambda conn: (201, consents.publish_text(conn, **doc)))


@router.get("/consent-texts/{text_id}", response_model=ConsentTextOut, summary="Retrieve a consent text version",
            responses=problems(errors.NOT_FOUND))
def get_consent_text(text_id: str, database: DB):
    with database.transaction() as conn:
        return consents.get_text(conn, text_id)


@router.post("/consents", status_code=201, response_model=ConsentOut, summary="Record consents",
             description=("The person accepts the current credit-inquiry authorisation and personal-information "
                          "consent together, with a registration code verified in the last 15 minutes (used up "
                          "here). Stored with time, IP address, device and each text's SHA-256. Takes an "
                          "`Idempotency-Key`."),
             responses=problems(errors.VALIDATION, consents.CONSENT_TEXTS_INCOMPLETE, consents.CONSENT_TEXT_OUTDATED,
                                codes.VERIFICATION_REQUIRED, codes.CODE_USED, codes.CODE_EXPIRED, errors.NOT_FOUND))
def create_consent(body: ConsentCreate, request: Request, database: DB, principal: Principal):
    doc = body.model_dump()
    if doc["ip_address"] is None:
        doc["ip_address"] = caller_ip(request)
    return idempotent(request, database, principal, doc, lambda conn: (201, consents.create_consent(conn, doc)))


@router.get("/consents/{consent_id}", response_model=ConsentOut, summary="Retrieve a consent",
            responses=problems(errors.NOT_FOUND))
def get_consent(consent_id: str, database: DB):
    with database.transaction() as conn:
        return consents.get_consent(conn, consent_id)
