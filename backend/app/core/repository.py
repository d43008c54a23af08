"""Small helpers every repository shares: the live-row filter, bulk upserts, and fitting
values to NUMERIC columns.

Soft delete: a row with ``deleted_at`` set is kept for history but is gone for every
reader. :func:`live` is the one way to say "not deleted" in a query, for any model that
has the column.

Column precision is read from the models (``Numeric(10, 4)`` and so on), so no caller
restates it: a value a column cannot hold (NaN, infinity, an overflow after rounding) is
stored as NULL, and the caller is told which columns that happened to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Protocol

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Numeric,
    Table,
    Text,
    Uuid,
    cast,
    func,
    literal,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute


class SoftDeletable(Protocol):
    """A model whose rows are soft-deleted by setting ``deleted_at`` (as the class attribute
    a mapped ``deleted_at: Mapped[datetime | None]`` column is)."""

    deleted_at: ClassVar[InstrumentedAttribute[datetime | None]]


def live(model: type[SoftDeletable]) -> ColumnElement[bool]:
    """WHERE clause: the row of ``model`` is not soft-deleted."""
    return model.deleted_at.is_(None)


API_HIDDEN_COLUMNS = frozenset({"created_at", "updated_at"})
"""Bookkeeping columns no API response shows."""


@cache
def api_columns(table: FromClause) -> tuple[ColumnElement[Any], ...]:
    """``table``'s columns as the API shows them, for a Core select whose rows go to a
    response as they are: the bookkeeping timestamps left out, and each NUMERIC column read
    as PostgreSQL's text of it, labelled with the column's name. That text is the value
    exactly, in plain notation with the column's scale ("0.280000"): what
    app.core.types.DecimalString makes of the Decimal, without decoding one per value.
    A stored 'NaN' (which no writer here stores: see :func:`storable`) is NULL, as a
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


def storable(value: float | None, precision: int, scale: int) -> float | None:
    """``value`` if a NUMERIC(precision, scale) column can hold it (after rounding), else None."""
    if value is None or not math.isfinite(value):
        return None
    limit = 10.0 ** (precision - scale)
    return value if abs(round(value, scale)) < limit else None


def _table(model: type[DeclarativeBase] | Table) -> Table:
    table = model if isinstance(model, Table) else model.__table__
    assert isinstance(table, Table)
    return table


@cache
def numeric_columns(table: Table) -> dict[str, tuple[int, int]]:
    """(precision, scale) of each NUMERIC column of ``table`` that declares both."""
    found: dict[str, tuple[int, int]] = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, Numeric) and kind.precision is not None and kind.scale is not None:
            found[column.name] = (kind.precision, kind.scale)
    return found


def fit_numeric(
    model: type[DeclarativeBase] | Table, row: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """``row`` with each float bound for a NUMERIC column replaced by None when the column
    cannot hold it; also the names of the columns whose finite value overflowed."""
    limits = numeric_columns(_table(model))
    fitted = dict(row)
    overflowed: list[str] = []
    for name, value in row.items():
        if name not in limits or value is None or not isinstance(value, float | int):
            continue
        value = float(value)
        kept = storable(value, *limits[name])
        if kept is None and math.isfinite(value):
            overflowed.append(name)
        fitted[name] = kept
    return fitted, overflowed


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
    stmt = pg_insert(_table(model))
    return stmt.on_conflict_do_update(
        constraint=constraint,
        index_elements=list(index_elements) if index_elements is not None else None,
        set_={name: stmt.excluded[name] for name in update},
    )
