"""The HTTP application: FastAPI, one router per domain under /v1, problem+json errors."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__, errors
from .errors import PROBLEM_TYPES, Problem
from .ids import new_id
from .logs import request_id_var
from .web import require_admin

log = logging.getLogger("openlend.http")

PROBLEM_JSON = "application/problem+json"


class RequestIdMiddleware:
    """Pure ASGI: a request id per request (the caller's ``X-Request-Id`` or a new ``req_``),
    echoed in the response and carried by every log line; one access log line per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = None
        for k, v in scope.get("headers", ()):
            if k == b"x-request-id":
                rid = v.decode("latin-1")[:100]
                break
        rid = rid or new_id("req")
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info("%s %s %s", scope["method"], scope["path"], status_holder["status"],
                     extra={"ctx_status": status_holder["status"],
                            "ctx_ms": round((time.perf_counter() - start) * 1000, 2)})
            request_id_var.reset(token)


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    body = problem.to_dict(instance=request.url.path)
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=problem.status_code, media_type=PROBLEM_JSON, headers=problem.headers or None)


def create_app() -> FastAPI:
    from .customers.api import router as customers_router
    from .ledger.api import router as ledger_router
    from .lines.api import router as lines_router
    from .loans.api import router as loans_router
    from .products.api import router as products_router
    from .origination.api import router as origination_router
    from .applications.api import router as applications_router
    from .reports.api import router as reports_router
    from .schedule.api import router as schedule_router

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        from starlette.concurrency import run_in_threadpool

        from .db import get_database
        from .web import purge_idempotency_keys

        database = get_database()  # open the pool before the first request

        def purge() -> None:
            with database.transaction() as conn:
                purge_idempotency_keys(conn)

        async def housekeeping() -> None:
            while True:  # idempotency keys are kept idempotency_retention_hours (>= 24 h), then dropped
                try:
                    await run_in_threadpool(purge)
                except Exception:  # noqa: BLE001 - housekeeping must never take the server down
                    log.exception("idempotency key purge failed")
                await asyncio.sleep(3600)

        task = asyncio.create_task(housekeeping())
        yield
        task.cancel()

    app = FastAPI(
        title="openlend",
        version=__version__,
        description=(
            "Open-source digital consumer lending: products, repayment schedules, a double-entry ledger. "
            "Every /v1 route takes `Authorization: Bearer <OPENLEND_ADMIN_TOKEN>`. Amounts are decimal strings; "
            "errors are RFC 9457 problem+json (see /problems). POSTs that create or move something take an "
            "`Idempotency-Key`."),
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem_response(errors.validation_problem(list(exc.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        pt = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED, 401: errors.UNAUTHORIZED,
              403: errors.FORBIDDEN}.get(exc.status_code, errors.INTERNAL)
        detail = str(exc.detail) if exc.detail and exc.detail != "Not Found" else pt.description
        return problem_response(Problem(pt, detail, status=exc.status_code), request)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("unhandled error")
        return problem_response(Problem(errors.INTERNAL, errors.INTERNAL.description), request)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_admin)])
    v1.include_router(schedule_router)
    v1.include_router(products_router)
    v1.include_router(ledger_router)
    v1.include_router(customers_router)
    v1.include_router(lines_router)
    v1.include_router(loans_router)
    v1.include_router(reports_router)
    v1.include_router(origination_router)
    v1.include_router(applications_router)
    app.include_router(v1)

    @app.get("/health", tags=["meta"])
    def health() -> dict:
        from .db import get_database
        with get_database().transaction() as conn:
            conn.execute("SELECT 1")
        return {"status": "ok", "version": __version__}

    @app.get("/problems", tags=["meta"], response_class=JSONResponse)
    def problem_catalogue() -> dict:
        return {"object": "list", "data": [
            {"type": f"/problems/{p.slug}", "title": p.title, "status": p.status, "description": p.description}
            for p in sorted(PROBLEM_TYPES.values(), key=lambda p: p.slug)], "has_more": False}

    @app.get("/problems/{slug}", tags=["meta"], response_class=HTMLResponse)
    def problem_page(slug: str, request: Request):
        p = PROBLEM_TYPES.get(slug)
        if p is None:
            raise Problem(errors.NOT_FOUND, f"No problem type {slug}.")
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"type": f"/problems/{p.slug}", "title": p.title, "status": p.status,
                                 "description": p.description})
        import html
        return HTMLResponse(f"<!doctype html><title>{html.escape(p.title)}</title><h1>{html.escape(p.title)}</h1>"
                            f"<p>HTTP {p.status}</p><p>{html.escape(p.description)}</p>"
                            f"<p><code>type: /problems/{html.escape(p.slug)}</code></p>")

    return app
