"""Request and response shapes of ``/v1/credit-lines`` (types only; the rules live in :mod:`.service`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..web import Amount, Model


class CreditLineCreate(Model):
    customer_id: str = Field(max_length=64, examples=["cus_01JD..."])
    product_id: str = Field(max_length=64, examples=["prod_01JD..."])
    limit: Amount = Field(description="The credit limit, a decimal string in major units.", examples=["50000.00"])
    currency: str | None = Field(None, min_length=3, max_length=3,
                                 description="Must be the product's currency (the default).", examples=["CNY"])
    expires_on: dt.date | None = Field(None, description="Last day drawdowns are taken; null: no expiry.")


class LimitChange(Model):
    limit: Amount = Field(description="The new limit; never below what is used.", examples=["80000.00"])
    reason: str = Field(min_length=1, max_length=500, examples=["annual review: income verified"])


class StatusChange(Model):
    reason: str | None = Field(None, max_length=500, examples=["customer request"])


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class CreditLineOut(_Out):
    object: str = "credit_line"
    id: str
    customer_id: str
    product_id: str
    product_version: int
    currency: str
    limit: str
    used: str
    available: str = Field(description="limit - used")
    status: str = Field(description="active, frozen or closed")
    status_reason: str | None = None
    expires_on: str | None = None
    closed_at: str | None = None
    created_at: str
    updated_at: str
    livemode: bool


class CreditLineList(_Out):
    object: str = "list"
    data: list[CreditLineOut]
    has_more: bool
    next_cursor: str | None = None


class LimitChangeOut(_Out):
    object: str = "credit_line_limit_change"
    id: str
    credit_line_id: str
    kind: str = Field(description="initial, increase or decrease")
    previous_limit: str
    limit: str
    used: str = Field(description="What was used when the limit changed.")
    reason: str
    changed_by: str
    created_at: str


class LimitChangeList(_Out):
    object: str = "list"
    data: list[LimitChangeOut]
    has_more: bool
    next_cursor: str | None = None


LINE_EXAMPLE: dict[str, Any] = {"customer_id": "cus_01JD...", "product_id": "prod_01JD...", "limit": "50000.00",
                                "currency": "CNY", "expires_on": "2027-12-31"}
