"""Sign-in and account shapes over HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.security import PASSWORD_MAX_LENGTH
from app.models.user import EMAIL_MAX_LENGTH

# No NUL: PostgreSQL text cannot hold one, so the lookup would fail with a 500.
Email = Annotated[
    str, StringConstraints(min_length=1, max_length=EMAIL_MAX_LENGTH, pattern=r"^[^\x00]*$")
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)]


class SignInForm(BaseModel):
    """Sign-in as form fields (OAuth2 password flow, as /docs' Authorize button sends it)."""

    model_config = ConfigDict(title="Sign-in form")

    username: Email = Field(description="The account's email.")
    password: Password
    grant_type: Annotated[str, StringConstraints(pattern="^password$")] | None = None


class SignInJson(BaseModel):
    """Sign-in as a JSON body: the email as ``username`` or ``email``."""

    model_config = ConfigDict(title="Sign-in JSON", extra="forbid")

    username: Email | None = Field(default=None, description="The account's email.")
    email: Email | None = Field(default=None, description="The account's email.")
    password: Password
    grant_type: Annotated[str, StringConstraints(pattern="^password$")] | None = None

    @model_validator(mode="after")
    def one_email(self) -> SignInJson:
        if self.username is None and self.email is None:
            raise ValueError("give the account's email as username or email")
        if None not in (self.username, self.email) and self.username != self.email:
            raise ValueError("username and email differ: give one of them")
        return self

    @property
    def account(self) -> str:
        account = self.username or self.email
        assert account is not None
        return account


class TokenResponse(BaseModel):
    """OAuth2 bearer token response (RFC 6749 section 5.1)."""

    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires (AUTH_TOKEN_MINUTES).")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    is_active: bool
    created_at: datetime
