"""Query helpers every repository shares.

Soft delete: a row with ``deleted_at`` set is kept for history but is gone for every
reader. :func:`live` is the one way to say "not deleted" in a query, for any model that
has the column.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute


class SoftDeletable(Protocol):
    """A model whose rows are soft-deleted by setting ``deleted_at`` (as the class attribute
    a mapped ``deleted_at: Mapped[datetime | None]`` column is)."""

    deleted_at: ClassVar[InstrumentedAttribute[datetime | None]]


def live(model: type[SoftDeletable]) -> ColumnElement[bool]:
    """WHERE clause: the row of ``model`` is not soft-deleted."""
    return model.deleted_at.is_(None)
