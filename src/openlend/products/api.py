"""``/v1/products``: loan products and their versions (thin: parsing in FastAPI, work in the service)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request

from .. import errors
from ..web import DB, Principal, idempotent, problems
from . import service
from .schemas import PRODUCT_EXAMPLE, ProductCreate, ProductList, ProductOut

router = APIRouter(prefix="/products", tags=["products"])


_NOT_FOUND = errors.NOT_FOUND
_INVALID = (errors.VALIDATION, service.INVALID_PRODUCT, service.APR_CAP_EXCEEDED)
_KEYS = (errors.IDEMPOTENCY_MISMATCH, errors.IDEMPOTENCY_IN_FLIGHT)


@router.post(
    "", status_code=201, response_model=ProductOut, summary="Create a loan product",
    description=(
        "Creates a product at version 1. The whole configuration is validated (ranges, enums, fees, grace, "
        "allocation order) and the worst-case APR over the product's corners (maximum rate x smallest and "
        "largest amount x every term offered, with all fees) must not exceed the APR cap; otherwise 422 "
        "`/problems/apr-cap-exceeded` names the combination. Takes an `Idempotency-Key`."),
    responses=problems(*_INVALID, *_KEYS, service.PRODUCT_CODE_EXISTS),
)
def create_product(
    body: Annotated[ProductCreate, Body(openapi_examples={"cash_loan": {"value": PRODUCT_EXAMPLE}})],
    request: Request, database: DB, principal: Principal,
):
    doc = body.model_dump(mode="json", exclude_unset=True)
    return idempotent(request, database, principal, doc, lambda conn: (201, service.create_product(conn, doc)))


@router.get("", response_model=ProductList, summary="List loan products",
            description="Newest first, each at its current version.")
def list_products(
    database: DB,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    status: Annotated[Literal["active", "retired"] | None, Query()] = None,
):
    with database.transaction() as conn:
        return service.list_products(conn, limit=limit, cursor=cursor, status=status)


@router.get("/{product_id}", response_model=ProductOut, summary="Retrieve a loan product",
            description="The product at its current version, or at `?version=N`.",
            responses=problems(_NOT_FOUND))
def get_product(product_id: str, database: DB,
                version: Annotated[int | None, Query(ge=1, description="an earlier version")] = None):
    with database.transaction() as conn:
        return service.get_product(conn, product_id, version)


@router.get("/{product_id}/versions", response_model=ProductList, summary="List a loan product's versions",
            description="The product at each of its versions, newest first; `next_cursor` is a version number.",
            responses=problems(_NOT_FOUND))
def list_versions(product_id: str, database: DB,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20,
                  cursor: Annotated[str | None, Query()] = None):
    with database.transaction() as conn:
        return service.list_versions(conn, product_id, limit=limit, cursor=cursor)


_PATCH_DOC = (
    "Makes a new version from a JSON merge patch (RFC 7396) of the configuration as given (the fields set on "
    "create and by earlier patches): fields left out keep their values, `null` unsets a field so that it "
    "follows its default again, nested objects merge field by field and arrays (`fees`, `term.allowed`, "
    "`allocation.order`) are replaced whole. Fields never set keep following their defaults (rounding places "
    "follow the currency, the day count the interest basis, `rate.min`/`max` the default rate, `term.min`/`max` "
    "the allowed terms). `code` never changes. The result is validated and APR-checked as on create; a patch "
    "that changes nothing is 422. Loans already made keep the version they were made on. 201 with the product "
    "at its new version. Takes an `Idempotency-Key`.")


@router.post(
    "/{product_id}/versions", status_code=201, response_model=ProductOut,
    summary="Make a new version of a loan product", description=_PATCH_DOC,
    responses=problems(_NOT_FOUND, *_INVALID, *_KEYS, service.PRODUCT_RETIRED),
)
def new_version(
    product_id: str, request: Request, database: DB, principal: Principal,
    patch: Annotated[dict[str, Any], Body(
        description="A merge patch of the product configuration (any field of the create body but `code`).",
        openapi_examples={"raise_max_rate": {"value": {"rate": {"max": "20"}, "term": {"allowed": [3, 6, 12]}}}})],
):
    return idempotent(request, database, principal, patch,
                      lambda conn: (201, service.new_version(conn, product_id, patch)))


@router.post(
    "/{product_id}/retire", response_model=ProductOut, summary="Retire a loan product",
    description=("A retired product takes no new versions and no new loans; loans already made keep their "
                 "version. Retiring a retired product is 409 `/problems/product-retired`."),
    responses=problems(_NOT_FOUND, service.PRODUCT_RETIRED, *_KEYS),
)
def retire_product(product_id: str, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, {},
                      lambda conn: (200, service.retire_product(conn, product_id)))
