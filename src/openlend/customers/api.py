"""``/v1/customers`` (thin: parsing in FastAPI, work in the service).

The idempotency key's request hash is taken over the body with the ID number replaced by its
keyed hash, so that no unkeyed hash of an ID number is ever stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from .. import errors
from ..web import DB, Principal, idempotent, problems
from . import service
from .schemas import CUSTOMER_EXAMPLE, CustomerCreate, CustomerList, CustomerOut, CustomerSearch

router = APIRouter(prefix="/customers", tags=["customers"])


_KEYS = (errors.IDEMPOTENCY_MISMATCH, errors.IDEMPOTENCY_IN_FLIGHT)


@router.post("", status_code=201, response_model=CustomerOut, summary="Create a customer",
             description=("The mobile number is normalised to E.164; the ID number is checked (18 characters, "
                          "date of birth, GB 11643 check character), stored encrypted and shown masked. One "
                          "customer per ID number: a second is 409 `/problems/customer-exists`. Takes an "
                          "`Idempotency-Key`."),
             responses=problems(errors.VALIDATION, service.CUSTOMER_EXISTS, *_KEYS))
def create_customer(body: Annotated[CustomerCreate, Body(openapi_examples={"customer": {"value": CUSTOMER_EXAMPLE}})],
                    request: Request, database: DB, principal: Principal):
    doc = body.model_dump()
    parsed = service.parse_create(doc)  # a bad ID number is refused before anything is hashed or stored
    keyed = {"name": parsed["name"], "mobile": parsed["mobile"],
             "id_number_hmac": service.id_number_hash(parsed["id_number"]).hex()}
    return idempotent(request, database, principal, keyed, lambda conn: (201, service.create_customer(conn, doc)))


@router.get("", response_model=CustomerList, summary="List customers", description="Newest first.")
def list_customers(database: DB, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None):
    with database.transaction() as conn:
        return service.list_customers(conn, limit=limit, cursor=cursor)


@router.post("/search", response_model=CustomerList, summary="Find customers by ID number or mobile",
             description=("A POST so that the ID number never appears in a URL (or an access log). The ID number "
                          "is compared by its keyed hash. Reads only."),
             responses=problems(errors.VALIDATION))
def search_customers(body: CustomerSearch, database: DB):
    with database.transaction() as conn:
        return service.search(conn, id_number=body.id_number, mobile=body.mobile)


@router.get("/{customer_id}", response_model=CustomerOut, summary="Retrieve a customer",
            responses=problems(errors.NOT_FOUND))
def get_customer(customer_id: str, database: DB):
    with database.transaction() as conn:
        return service.get_customer(conn, customer_id)
