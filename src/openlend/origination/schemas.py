"""Request and response shapes of the registration routes (types only; rules live in the services)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..web import Model

Purpose = Literal["registration", "login", "drawdown_confirmation"]
Kind = Literal["credit_inquiry_authorization", "personal_information"]


class VerificationCodeCreate(Model):
    mobile: str = Field(min_length=1, max_length=32, examples=["+8613812345678"],
                        description="A mainland China mobile number; normalised to E.164.")
    purpose: Purpose = Field(description="What the code may be used for; a code serves only its purpose.")
    ip_address: str | None = Field(None, max_length=64, examples=["203.0.113.7"], description=(
        "The end user's IP address as the channel saw it (rate limits are per IP); defaults to the caller's."))


class VerificationCodeVerify(Model):
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["123456"], description="The 6 digits the person received.")


class VerificationCodeOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "verification_code"
    id: str
    mobile: str
    purpose: str
    status: str = Field(description="pending, verified, consumed, expired, locked, superseded or failed")
    attempts_remaining: int
    expires_at: str
    resend_after: str
    verified_at: str | None = None
    sms_status: str | None = None
    created_at: str
    livemode: bool


class ConsentTextCreate(Model):
    kind: Kind
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=100_000)
    language: str = Field("zh-CN", max_length=20)


class ConsentTextOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "consent_text"
    id: str
    kind: str
    version: int
    language: str
    title: str
    sha256: str = Field(description="SHA-256 of the body in UTF-8, hex")
    created_at: str
    body: str | None = None


class ConsentTextList(BaseModel):
    object: str = "list"
    data: list[ConsentTextOut]
    has_more: bool
    next_cursor: str | None = None


class ConsentCreate(Model):
    verification_code: str = Field(min_length=1, max_length=64, description=(
        "A verification code (purpose registration) verified within the last 15 minutes; this uses it up."))
    consent_texts: list[str] = Field(min_length=1, max_length=10, description=(
        "The ids of the current versions of the credit-inquiry authorisation and the personal-information consent."))
    ip_address: str | None = Field(None, max_length=64, description="The person's IP address; defaults to the caller's.")
    user_agent: str | None = Field(None, max_length=1000)
    device_id: str | None = Field(None, max_length=200)


class AcceptedText(BaseModel):
    id: str
    kind: str
    version: int
    sha256: str


class ConsentOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "consent"
    id: str
    mobile: str
    verification_code: str
    accepted_at: str
    ip_address: str | None
    user_agent: str | None
    device_id: str | None
    consent_texts: list[AcceptedText]
    livemode: bool


class ConsentList(BaseModel):
    object: str = "list"
    data: list[ConsentOut]
    has_more: bool
    next_cursor: str | None = None
