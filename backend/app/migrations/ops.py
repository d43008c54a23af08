"""Lock-safe building blocks for Alembic revisions on tables that hold millions of rows.

Every revision calls :func:`set_local_timeouts` first, so a statement that cannot get its
lock fails within ``MIGRATION_LOCK_TIMEOUT`` instead of queueing every writer behind it.
Work that must not run inside a transaction (``CREATE INDEX CONCURRENTLY``, ``VALIDATE
CONSTRAINT`` on a big table) goes through the helpers below, which are re-entrant: a run
interrupted half-way can simply be re-run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from app.config import get_settings


def _timeouts() -> tuple[str, str]:
    settings = get_settings()
    return settings.migration_lock_timeout, settings.migration_statement_timeout


def uuid_primary_key() -> sa.Column[object]:
    """The ``id`` column every table starts with (named pk_<table> by the revision)."""
    return sa.Column(
        "id",
        postgresql.UUID(as_uuid=True),
        server_default=sa.text("gen_random_uuid()"),
        nullable=False,
    )


def timestamp_columns() -> list[sa.Column[object]]:
    """created_at / updated_at; the set_updated_at() trigger maintains updated_at."""
    return [
        sa.Column(
            name,
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        )
        for name in ("created_at", "updated_at")
    ]


def set_local_timeouts() -> None:
    """Bound this revision's transaction: lock waits and statement run time."""
    lock_timeout, statement_timeout = _timeouts()
    # SET takes no bind parameters; both values are validated duration literals (config.py).
    op.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
    op.execute(f"SET LOCAL statement_timeout = '{statement_timeout}'")


def _set_session_timeouts(statement_timeout: str) -> None:
    lock_timeout, _ = _timeouts()
    op.execute(f"SET lock_timeout = '{lock_timeout}'")
    op.execute(f"SET statement_timeout = '{statement_timeout}'")


def _index_state(name: str) -> bool | None:
    """True: a valid index ``name`` exists; False: an INVALID leftover; None: absent."""
    row = (
        op.get_bind()
        .execute(
            text(
                "SELECT i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = :name AND n.nspname = current_schema()"
            ),
            {"name": name},
        )
        .first()
    )
    return None if row is None else bool(row[0])


def create_index_concurrently(name: str, table: str, columns: list[str]) -> None:
    """Build an index on a live table without blocking writers.

    Runs outside the revision's transaction. An INVALID index left by an interrupted or
    timed-out build is dropped and rebuilt; a valid one is kept.
    """
    with context.get_context().autocommit_block():
        # Index builds scan the whole table: no statement limit, only the lock wait limit.
        _set_session_timeouts("0")
        if not context.is_offline_mode():
            state = _index_state(name)
            if state is True:
                return
            if state is False:
                op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        cols = ", ".join(f'"{c}"' for c in columns)
        op.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ({cols})')
        _set_session_timeouts(_timeouts()[1])


def add_check_not_valid(table: str, name: str, condition: str) -> None:
    """Add a CHECK without scanning the table under ACCESS EXCLUSIVE (validated later).

    Guarded so a revision re-run after an interruption does not fail on it.
    """
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM pg_constraint
                WHERE conname = '{name}' AND conrelid = '"{table}"'::regclass
            ) THEN
                ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ({condition}) NOT VALID;
            END IF;
        END
        $$
        """  # noqa: S608 -- identifiers and condition are code constants of a revision
    )


def validate_constraints(table: str, names: list[str]) -> None:
    """VALIDATE takes only SHARE UPDATE EXCLUSIVE: writers keep going while it scans.

    Each runs in its own short transaction after the constraint's own has committed, so
    the ACCESS EXCLUSIVE lock of ADD CONSTRAINT is never held during the scan."""
    lock_timeout, _ = _timeouts()
    with context.get_context().autocommit_block():
        for name in names:
            op.execute("BEGIN")
            op.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
            op.execute("SET LOCAL statement_timeout = '0'")
            op.execute(
                # VALIDATE is idempotent: re-running it after an interruption is safe.
                "-- squawk-ignore prefer-robust-stmts\n"
                f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"'
            )
            op.execute("COMMIT")


def create_updated_at_trigger(table: str) -> None:
    op.execute(
        f'CREATE TRIGGER "trg_{table}_updated_at" BEFORE UPDATE ON "{table}" '
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def drop_updated_at_trigger(table: str) -> None:
    op.execute(f'DROP TRIGGER IF EXISTS "trg_{table}_updated_at" ON "{table}"')


def add_foreign_key_not_valid(
    table: str, name: str, column: str, referenced_table: str, *, ondelete: str
) -> None:
    """Add a foreign key without scanning ``table`` under its SHARE ROW EXCLUSIVE lock
    (existing rows are checked later by :func:`validate_constraints`).

    Guarded so a revision re-run after an interruption does not fail on it.
    """
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM pg_constraint
                WHERE conname = '{name}' AND conrelid = '"{table}"'::regclass
            ) THEN
                ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}")
                    REFERENCES "{referenced_table}" (id) ON DELETE {ondelete} NOT VALID;
            END IF;
        END
        $$
        """  # noqa: S608 -- identifiers are code constants of a revision
    )
