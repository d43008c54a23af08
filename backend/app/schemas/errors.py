"""The JSON shape of every error response (4xx and 5xx alike)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, in one sentence.")


class FieldError(BaseModel):
    location: str = Field(description="Where the bad value is, e.g. 'query.limit'.")
    message: str


class ValidationErrorResponse(ErrorResponse):
    errors: list[FieldError] = Field(description="One entry per rejected value.")
