"""What every repository shares: the live-row base of soft-deleted tables, bulk upserts,
and the columns a response shows.

Soft delete: a row with ``deleted_at`` set is kept for history but is gone for every
reader. :class:`LiveRows` is the one place that says so: a soft-deleted table's reads
start from its base statement or its ``live`` clause (ORM and Core selects alike), as a
repository base statement does, and a read that must see deleted rows too says
``include_deleted=True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Numeric,
    Select,
    Table,
    Text,
    Update,
    Uuid,
    cast,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute


class SoftDeletable(Protocol):
    """A model whose rows are soft-deleted by setting ``deleted_at`` (as the class attribute
    a mapped ``deleted_at: Mapped[datetime | None]`` column is)."""

    deleted_at: ClassVar[InstrumentedAttribute[datetime | None]]


def table_of(model: type[DeclarativeBase] | Table) -> Table:
    """The ``Table`` of a mapped class (or the table itself)."""
    table = model if isinstance(model, Table) else model.__table__
    assert isinstance(table, Table)
    return table


ModelT = TypeVar("ModelT", bound=SoftDeletable)


class LiveRows(Generic[ModelT]):
    """The reads of one soft-deleted table: its live rows (``deleted_at`` unset).

    ``select()`` is the base statement (the mapped rows, or the columns given, of the live
    rows); ``live`` is the same filter as a clause, for a join or an EXISTS that reads the
    table beside another. ``table`` and ``c`` are the table and its columns, which work in
    ORM and Core selects alike.
    """

    def __init__(self, model: type[ModelT]) -> None:
        self.model = model
        self.table = table_of(model)  # type: ignore[arg-type]
        self.c = self.table.c
        self.live: ColumnElement[bool] = self.c.deleted_at.is_(None)

    def select(self, *columns: Any, include_deleted: bool = False) -> Select[Any]:
        """SELECT ``columns`` (the mapped rows when none are given) FROM the table, of its
        live rows (of every row with ``include_deleted``)."""
        stmt = select(*(columns or (self.model,))).select_from(self.table)
        return stmt if include_deleted else stmt.where(self.live)

    def soft_delete(self, *where: ColumnElement[bool]) -> Update:
        """UPDATE: the live rows matching ``where`` become deleted (now), kept for history."""
        return update(self.table).where(self.live, *where).values(deleted_at=func.now())


API_HIDDEN_COLUMNS = frozenset({"created_at", "updated_at"})
"""Bookkeeping columns no API response shows."""


@cache
def api_columns(table: FromClause) -> tuple[ColumnElement[Any], ...]:
    """``table``'s columns as the API shows them, for a Core select whose rows go to a
    response as they are: the bookkeeping timestamps left out, and each NUMERIC column read
    as PostgreSQL's text of it, labelled with the column's name. That text is the value
    exactly, in plain notation with the column's scale ("0.280000"): what
    app.core.types.DecimalString makes of the Decimal, without decoding one per value.
    A stored 'NaN' (which no writer here stores: see app.core.numeric_fit) is NULL, as a
    documented decimal cannot be NaN. (A NUMERIC(p, s) column cannot hold infinity.)
    UUID columns are read as their text too (lowercase, hyphenated: what pydantic writes
    of a UUID): asyncpg decodes them to its own UUID subclass, which pydantic's JSON
    encoder takes the slow path for, 5 times the cost of a 100-row page's whole encoding.
    Built once per table: SQL expressions are immutable, and building them costs CPU on
    every request."""
    return tuple(
        _as_shown(column) for column in table.columns if column.key not in API_HIDDEN_COLUMNS
    )


def _as_shown(column: ColumnElement[Any]) -> ColumnElement[Any]:
    if isinstance(column.type, Numeric):
        return cast(func.nullif(column, literal("NaN", column.type)), Text).label(column.key)
    if isinstance(column.type, Uuid):
        return cast(column, Text).label(column.key)
    return column


def upsert(
    model: type[DeclarativeBase] | Table,
    *,
    update: Iterable[str],
    constraint: str | None = None,
    index_elements: Iterable[str] | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col`` for ``update``.

    Execute it with a list of row dicts (one executemany, whatever the number of rows).
    """
    stmt = pg_insert(table_of(model))
    return stmt.on_conflict_do_update(
        constraint=constraint,
        index_elements=list(index_elements) if index_elements is not None else None,
        set_={name: stmt.excluded[name] for name in update},
    )
