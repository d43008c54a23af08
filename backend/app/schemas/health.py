"""Liveness and database-health responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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
    current_revisions: list[str] = Field(description="What `alembic current` reports.")
    head_revisions: list[str] = Field(description="What `alembic heads` reports.")
    pending: list[PendingRevision] = Field(description="Revisions not yet applied, oldest first.")
    detail: str | None = None
