"""RFC 9457 problem details: one error shape for every route.

A :class:`Problem` raised anywhere in a use case rolls its transaction back (nothing is written)
and becomes an ``application/problem+json`` response.  ``type`` is a stable URI reference
(``/problems/<slug>``) that openlend itself serves as a page explaining the problem; clients
branch on it, never on the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int
    description: str


# The catalogue of problem types; ``GET /problems/{slug}`` serves these.
PROBLEM_TYPES: dict[str, ProblemType] = {}


def problem_type(slug: str, title: str, status: int, description: str) -> ProblemType:
    pt = ProblemType(slug, title, status, description)
    PROBLEM_TYPES[slug] = pt
    return pt


VALIDATION = problem_type("validation-error", "Invalid request", 422,
                          "A field is missing, has the wrong type or breaks a rule; `errors` points at each field.")
MALFORMED_JSON = problem_type("malformed-json", "Malformed JSON", 400, "The request body is not valid JSON.")
UNAUTHORIZED = problem_type("unauthorized", "Authentication required", 401,
                            "Send `Authorization: Bearer <token>`; the admin token comes from OPENLEND_ADMIN_TOKEN.")
FORBIDDEN = problem_type("forbidden", "Forbidden", 403, "The token is valid but may not do this.")
NOT_FOUND = problem_type("not-found", "Not found", 404, "No object with this id exists (or the route does not).")
METHOD_NOT_ALLOWED = problem_type("method-not-allowed", "Method not allowed", 405, "The route does not take this method.")
CONFLICT = problem_type("conflict", "Conflict", 409, "The object is in a state that does not allow this.")
IDEMPOTENCY_IN_FLIGHT = problem_type(
    "idempotency-key-in-use", "Idempotency key in use", 409,
    "A request with the same Idempotency-Key is still being processed; retry after it finishes.")
IDEMPOTENCY_MISMATCH = problem_type(
    "idempotency-key-reused", "Idempotency key reused", 422,
    "The Idempotency-Key was already used with a different request body; use a new key for a new request.")
IDEMPOTENCY_REQUIRED = problem_type(
    "idempotency-key-required", "Idempotency key required", 400,
    "This request moves money; send an Idempotency-Key header (a unique string, for example a UUID).")
RATE_LIMITED = problem_type("rate-limited", "Too many requests", 429, "Slow down; see Retry-After.")
INTERNAL = problem_type("internal-error", "Internal error", 500,
                        "Something failed on our side; nothing was written. The request id helps us find it.")


@dataclass
class Problem(Exception):
    """An error that becomes an RFC 9457 response. ``errors`` holds ``{pointer, detail}`` items."""

    type: ProblemType
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    @property
    def status_code(self) -> int:
        return self.status or self.type.status

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.type.slug}",
            "title": self.type.title,
            "status": self.status_code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def field_error(pt: ProblemType, field_name: str | None, detail: str, **extra: Any) -> Problem:
    """A problem about one input field; ``field_name`` is dotted (``fees.0.amount``) or a JSON pointer."""
    errors = []
    if field_name:
        pointer = field_name if field_name.startswith("/") else "/" + field_name.replace(".", "/").replace("[", "/").replace("]", "")
        errors.append({"pointer": pointer, "detail": detail})
    return Problem(pt, detail, errors=errors, extra=extra)


def validation_problem(pydantic_errors: list[dict[str, Any]], prefix: str = "") -> Problem:
    """Pydantic's error list as one 422 problem with a JSON pointer per field.

    The location's first element is dropped when it only says where the value came from
    (``body``); query, path and header locations keep it (``/query/as_of``)."""
    errs = []
    for e in pydantic_errors:
        if e.get("type") == "json_invalid":
            return Problem(MALFORMED_JSON, "The request body is not valid JSON: " + str(e.get("ctx", {}).get("error", "")))
        msg = e.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        loc = [str(p) for p in e.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[1:]
        errs.append({"pointer": prefix + "/" + "/".join(loc), "detail": msg})
    detail = "; ".join(f"{x['pointer']}: {x['detail']}" for x in errs[:5]) or "invalid request"
    return Problem(VALIDATION, detail, errors=errs)


def not_found(kind: str, ident: str) -> Problem:
    return Problem(NOT_FOUND, f"No {kind} with id {ident}.")
