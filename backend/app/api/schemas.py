"""Response models the API shares across domains: errors (4xx and 5xx alike) and health."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, in one sentence.")


class FieldError(BaseModel):
    location: str = Field(description="Where the bad value is, e.g. 'query.limit'.")
    message: str


class ValidationErrorResponse(ErrorResponse):
    errors: list[FieldError] = Field(description="One entry per rejected value.")


DatabaseState = Literal["ok", "behind", "unknown_revision", "unreachable"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class PendingRevision(BaseModel):
    revision: str
    description: str


class DatabaseHealth(BaseModel):
    status: DatabaseState = Field(
        description=(
            "ok: schema at head. behind: revisions pending. unknown_revision: the database "
            "is stamped with a revision this code does not know. unreachable: no connection."
        )
    )
    reachable: bool
    current_revisions: list[str] | None = Field(
        default=None, description="What `alembic current` reports (signed-in callers only)."
    )
    head_revisions: list[str] | None = Field(
        default=None, description="What `alembic heads` reports (signed-in callers only)."
    )
    pending: list[PendingRevision] | None = Field(
        default=None,
        description="Revisions not yet applied, oldest first (signed-in callers only).",
    )
    detail: str | None = None
