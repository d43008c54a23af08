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
from app.models.base import (
    DROP_UPDATED_AT_FUNCTION_DDL,
    UPDATED_AT_FUNCTION_DDL,
    drop_updated_at_trigger_ddl,
    updated_at_trigger_ddl,
)


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


# Whether index {name} of the current schema is valid; no row when there is none.
_INDEX_VALIDITY = (
    "SELECT i.indisvalid FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = {name} AND n.nspname = current_schema()"
)


def _index_state(name: str) -> bool | None:
    """True: a valid index ``name`` exists; False: an INVALID leftover; None: absent."""
    row = op.get_bind().execute(text(_INDEX_VALIDITY.format(name=":name")), {"name": name}).first()
    return None if row is None else bool(row[0])


def _drop_invalid_index_sql(name: str) -> str:
    """For offline scripts, which cannot look first: drop ``name`` only if it is INVALID.

    CONCURRENTLY cannot run inside a DO block, so this is a plain DROP INDEX: ACCESS
    EXCLUSIVE on the table for a catalog change, bounded by lock_timeout, and only when
    there is a leftover to drop."""
    # The index name is a code constant of a revision, never outside input.
    validity = _INDEX_VALIDITY.format(name=f"'{name}'")
    return f"""
        DO $$
        BEGIN
            IF EXISTS ({validity} AND NOT i.indisvalid) THEN
                DROP INDEX "{name}";
            END IF;
        END
        $$
        """


def create_index_concurrently(
    name: str, table: str, columns: list[str], *, unique: bool = False, where: str | None = None
) -> None:
    """Build an index on a live table without blocking writers.

    ``columns`` are column names, or expressions such as ``lower(name)`` (written as
    given); ``unique`` and ``where`` (a partial index's predicate) as in CREATE INDEX.

    Runs outside the revision's transaction and is re-entrant: a valid index ``name`` is
    kept; an INVALID one, left by an interrupted or timed-out build, is dropped and built
    again. Online, the leftover is looked up first and dropped CONCURRENTLY. Offline
    (``--sql``), the script cannot look first, so it carries a DO block that drops the index
    if it exists and is INVALID, then ``CREATE INDEX CONCURRENTLY IF NOT EXISTS``. That drop
    is a plain DROP INDEX (CONCURRENTLY cannot run in a DO block): a brief ACCESS EXCLUSIVE
    on ``table``, bounded by lock_timeout, taken only when there is a leftover.
    """
    with context.get_context().autocommit_block():
        # Index builds scan the whole table: no statement limit, only the lock wait limit.
        _set_session_timeouts("0")
        if context.is_offline_mode():
            op.execute(_drop_invalid_index_sql(name))
            build = True
        else:
            state = _index_state(name)
            if state is False:
                op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            build = state is not True
        if build:
            cols = ", ".join(f'"{c}"' if c.isidentifier() else c for c in columns)
            kind = "UNIQUE INDEX" if unique else "INDEX"
            predicate = f" WHERE {where}" if where else ""
            op.execute(
                f'CREATE {kind} CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ({cols})'
                + predicate
            )
        # Also when the index was already there: later statements get their limit back.
        _set_session_timeouts(_timeouts()[1])


def _add_constraint_not_valid(table: str, name: str, definition: str) -> None:
    """``ALTER TABLE ... ADD CONSTRAINT name definition NOT VALID`` unless it exists.

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
                ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition} NOT VALID;
            END IF;
        END
        $$
        """  # noqa: S608 -- identifiers and definitions are code constants of a revision
    )


def add_check_not_valid(table: str, name: str, condition: str) -> None:
    """Add a CHECK without scanning the table under ACCESS EXCLUSIVE (validated later)."""
    _add_constraint_not_valid(table, name, f"CHECK ({condition})")


def drop_check(table: str, name: str) -> None:
    """Drop the CHECK that :func:`add_check_not_valid` added, by the same full name.

    ``op.f()`` marks the name as final. Without it Alembic applies the models' naming
    convention (``ck_%(table_name)s_%(constraint_name)s``) to an already conventional name
    a second time, and IF EXISTS turns the drop of that doubled name into a silent no-op.
    """
    op.drop_constraint(op.f(name), table, type_="check", if_exists=True)


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


def run_outside_transaction(statement: str) -> None:
    """Run ``statement`` (a DO block that commits as it goes, say) on its own, outside the
    revision's transaction: the session keeps lock_timeout, with no statement limit (a walk
    over a whole table is as long as the table), and gets its statement limit back after."""
    with context.get_context().autocommit_block():
        _set_session_timeouts("0")
        op.execute(statement)
        _set_session_timeouts(_timeouts()[1])


# The trigger DDL is the models' (app.models.base), so that create_all() and the
# migrations build the same function and triggers; changing it needs a new revision
# that replaces them in databases already migrated.


def create_updated_at_function() -> None:
    op.execute(UPDATED_AT_FUNCTION_DDL)


def drop_updated_at_function() -> None:
    op.execute(DROP_UPDATED_AT_FUNCTION_DDL)


def create_updated_at_trigger(table: str) -> None:
    op.execute(updated_at_trigger_ddl(table))


def drop_updated_at_trigger(table: str) -> None:
    op.execute(drop_updated_at_trigger_ddl(table))


def add_foreign_key_not_valid(
    table: str, name: str, column: str, referenced_table: str, *, ondelete: str
) -> None:
    """Add a foreign key without scanning ``table`` under its SHARE ROW EXCLUSIVE lock
    (existing rows are checked later by :func:`validate_constraints`)."""
    _add_constraint_not_valid(
        table,
        name,
        f'FOREIGN KEY ("{column}") REFERENCES "{referenced_table}" (id) ON DELETE {ondelete}',
    )


UPDATE_BATCH_ROWS = 5_000
"""Rows a batched data migration looks at per transaction: each batch's row locks are held
for milliseconds, so writers to the same rows wait at most that long."""


def update_in_batches(
    table: str, assignments: str, condition: str, *, batch_rows: int = UPDATE_BATCH_ROWS
) -> None:
    """``UPDATE table SET assignments WHERE condition`` on a live table, in batches of
    ``batch_rows`` rows by primary key (``id``), each batch committed on its own.

    One DO block that commits after each batch (PostgreSQL 11+, outside a transaction
    block), so online and offline (``--sql``) runs are the same statement. Row locks are
    held one batch at a time; a row locked by a writer is waited for at most lock_timeout.
    No statement limit: the walk over the table is as long as the table. Re-entrant: a run
    cut short leaves committed batches done and ``condition`` false for them."""
    _, statement_timeout = _timeouts()
    with context.get_context().autocommit_block():
        _set_session_timeouts("0")
        # Identifiers and SQL fragments are code constants of a revision, never input.
        op.execute(
            f"""
            DO $$
            DECLARE
                last_id uuid := '00000000-0000-0000-0000-000000000000';
                batch uuid[];
            BEGIN
                LOOP
                    SELECT array_agg(id ORDER BY id) INTO batch FROM (
                        SELECT id FROM "{table}" WHERE id > last_id ORDER BY id
                        LIMIT {int(batch_rows)}
                    ) AS next_rows;
                    EXIT WHEN batch IS NULL;
                    UPDATE "{table}" SET {assignments}
                    WHERE id = ANY (batch) AND ({condition});
                    last_id := batch[array_length(batch, 1)];
                    COMMIT;
                END LOOP;
            END
            $$
            """  # noqa: S608
        )
        _set_session_timeouts(statement_timeout)
