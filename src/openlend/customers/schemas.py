"""Request and response shapes of ``/v1/customers`` (types only; the rules live in :mod:`.service`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..web import Model


class CustomerCreate(Model):
    name: str = Field(min_length=1, max_length=200, examples=["张三"])
    mobile: str = Field(min_length=1, max_length=32, description="A mainland China mobile number; stored as E.164.",
                        examples=["+8613812345678"])
    id_number: str = Field(min_length=1, max_length=32, description=(
        "PRC resident ID number (18 characters, GB 11643 check character). Stored encrypted; responses show "
        "it masked."), examples=["11010519491231002X"])


class CustomerSearch(Model):
    id_number: str | None = Field(None, max_length=32, description="Find by ID number (compared by keyed hash).")
    mobile: str | None = Field(None, max_length=32, description="Find by mobile number.")


class CustomerOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "customer"
    id: str
    name: str
    mobile: str
    id_number: str = Field(description="Masked: the first 4 and last 4 characters, e.g. 1101**********002X.")
    id_number_last4: str
    status: str
    created_at: str
    livemode: bool


class CustomerList(BaseModel):
    object: str = "list"
    data: list[CustomerOut]
    has_more: bool
    next_cursor: str | None = None


CUSTOMER_EXAMPLE: dict[str, Any] = {"name": "张三", "mobile": "+8613812345678", "id_number": "11010519491231002X"}
