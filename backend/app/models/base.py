"""Declarative base, naming convention, the column mixins every table shares and the
``updated_at`` trigger DDL (the one definition the migrations use too)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    CheckConstraint,
    DateTime,
    FetchedValue,
    MetaData,
    Table,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# clock_timestamp(), not now(): updated_at must move even within the inserting transaction.
UPDATED_AT_FUNCTION_DDL = """\
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$"""
DROP_UPDATED_AT_FUNCTION_DDL = "DROP FUNCTION IF EXISTS set_updated_at()"


def updated_at_trigger_ddl(table: str) -> str:
    """CREATE TRIGGER that has ``set_updated_at()`` move ``table``'s updated_at."""
    return (
        f'CREATE TRIGGER "trg_{table}_updated_at" BEFORE UPDATE ON "{table}" '
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def drop_updated_at_trigger_ddl(table: str) -> str:
    return f'DROP TRIGGER IF EXISTS "trg_{table}_updated_at" ON "{table}"'


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _postgresql_ddl(statement: str) -> DDL:
    """``statement`` as a DDL event target, PostgreSQL only (the function is PL/pgSQL).
    DDL() %-formats its text: none of the statements above contain a ``%``."""
    return DDL(statement).execute_if(dialect="postgresql")  # type: ignore[no-untyped-call]


# create_all() makes the function before any table (and so before any trigger on one);
# drop_all() removes it after the last table, as the baseline revision's downgrade does.
event.listen(Base.metadata, "before_create", _postgresql_ddl(UPDATED_AT_FUNCTION_DDL))
event.listen(Base.metadata, "after_drop", _postgresql_ddl(DROP_UPDATED_AT_FUNCTION_DDL))


class UUIDPrimaryKeyMixin:
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        primary_key=True,
        server_default=text("gen_random_uuid()"),
        sort_order=-100,
    )


class TimestampMixin:
    """created_at/updated_at; the ``set_updated_at`` trigger moves updated_at on every UPDATE,
    including raw SQL and INSERT ... ON CONFLICT DO UPDATE, which ORM-side onupdate would miss.

    Each mapped table gets that trigger in ``create_all()`` (the migrations create it with
    the same DDL, through app.migrations.ops)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # declarative mapping: creates cls.__table__
        # Only the class that defines the table, not a subclass sharing it.
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table):
            event.listen(table, "after_create", _postgresql_ddl(updated_at_trigger_ddl(table.name)))

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), sort_order=100
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        server_onupdate=FetchedValue(),
        sort_order=101,
    )


def in_range(column: str, low: float, high: float) -> CheckConstraint:
    """CHECK low <= column <= high (NULL passes, as for any CHECK)."""
    return CheckConstraint(f"{column} >= {low} AND {column} <= {high}", name=f"{column}_range")


def non_negative(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} >= 0", name=f"{column}_nonneg")


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")
