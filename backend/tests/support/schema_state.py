"""Where a database stands: the schema against the spec's revisions, a fingerprint of the
whole catalog, row checksums, and the Alembic CLI run as a user would run it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from tests.support import catalog
from tests.support.cli import CliRun, run_alembic, script_env
from tests.support.databases import TestDatabase
from tests.support.spec_schema import BASELINE_TABLES, SPEC_REVISIONS, SpecRevision

T = TypeVar("T")


@contextmanager
def connect(db: TestDatabase) -> Iterator[Connection]:
    engine = create_engine(db.sync_url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def alembic_cli(db: TestDatabase, *args: str, **env: str) -> CliRun:
    """``alembic <args>`` bound to ``db``, through Alembic's command line in this process
    (its exit code and what it prints, as a user sees them; tests/support/cli.py)."""
    return run_alembic(*args, env=script_env(db.env_url, **env))


@contextmanager
def open_transaction(
    db: TestDatabase, statement: str, *, isolation_level: str = "READ COMMITTED"
) -> Iterator[int]:
    """A session that ran ``statement`` in a transaction it keeps open; yields its pid.
    REPEATABLE READ keeps the statement's snapshot for the whole transaction."""
    engine = create_engine(db.sync_url, isolation_level=isolation_level)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.execute(text(statement))
            try:
                yield pid
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def wait_for(probe: Callable[[], T | None], *, what: str, timeout: float = 60) -> T:
    """Poll ``probe`` until it returns something truthy (a state change, not a duration)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s")


def assert_revision_applied(conn: Connection, rev: SpecRevision) -> None:
    """Every object of spec revision ``rev`` is live, exactly as the spec lists it."""
    for table, spec_columns in rev.tables.items():
        assert catalog.columns(conn, table) == spec_columns, table
        assert f"trg_{table}_updated_at" in catalog.triggers(conn, table), table
    for table, added in rev.added_columns.items():
        live = catalog.columns(conn, table)
        assert [c for c in added if c not in live] == [], f"{rev.slug}: {table} columns"
        checks = catalog.check_constraints(conn, table)
        mine = [n for n in checks if any(column in n for column, _ in added)]
        assert mine and all(checks[n] for n in mine), f"{rev.slug}: CHECKs missing or NOT VALID"
    live_indexes = catalog.indexes(conn)
    for name, (table, cols) in rev.indexes.items():
        assert live_indexes.get(name) == (table, cols, True), f"index {name}"
    for table, cols in rev.unique:
        assert cols in catalog.unique_constraints(conn, table), f"unique {table}{cols}"
    for (table, column), default in rev.defaults.items():
        assert catalog.column_default(conn, table, column) == default, f"{table}.{column}"


def assert_revision_absent(conn: Connection, rev: SpecRevision) -> None:
    """No object of spec revision ``rev`` is left."""
    for table in rev.tables:
        assert not catalog.table_exists(conn, table), table
    for table, added in rev.added_columns.items():
        live = {name for name, _ in catalog.columns(conn, table)}
        assert not live & {name for name, _ in added}, f"{rev.slug}: columns left behind"
        checks = catalog.check_constraints(conn, table)
        assert not [n for n in checks if any(column in n for column, _ in added)]
    leftovers = set(rev.indexes) & set(catalog.indexes(conn))
    assert not leftovers, f"{rev.slug}: indexes left behind: {leftovers}"


def assert_schema_at(conn: Connection, slug: str | None) -> None:
    """The live schema is exactly the spec's up to revision ``slug`` (None: the baseline):
    those revisions' objects all present and valid, the later ones' all absent."""
    slugs = [rev.slug for rev in SPEC_REVISIONS]
    applied = 0 if slug is None else slugs.index(slug) + 1
    for table in BASELINE_TABLES:
        assert catalog.table_exists(conn, table), table
    for rev in SPEC_REVISIONS[:applied]:
        assert_revision_applied(conn, rev)
    for rev in SPEC_REVISIONS[applied:]:
        assert_revision_absent(conn, rev)


def invalid_indexes(conn: Connection) -> list[str]:
    return sorted(name for name, (_, _, valid) in catalog.indexes(conn).items() if not valid)


_FINGERPRINT = text(
    """
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' ||
           format_type(a.atttypid, a.atttypmod) || ' null=' || (NOT a.attnotnull) ||
           ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' rel=' || c.oid
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid ||
           ' oid=' || i.indexrelid
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    WHERE c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' ||
           pg_get_constraintdef(oid) || ' validated=' || convalidated || ' oid=' || oid
    FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'alembic_version'
    UNION ALL
    SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname || ' oid=' || oid
    FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'function ' || proname || ' oid=' || oid
    FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    ORDER BY 1
    """
)


def schema_fingerprint(conn: Connection) -> list[str]:
    """Every column, index, constraint, trigger and function of the public schema with its
    oid (alembic_version aside): equal fingerprints mean nothing was altered or rebuilt."""
    rows = list(conn.execute(_FINGERPRINT).scalars())
    conn.rollback()
    return rows


def table_checksum(conn: Connection, table: str, columns: list[str]) -> tuple[int, str]:
    """(row count, md5 over the rows' text in id order) of ``columns`` of ``table``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    digest = "md5(coalesce(string_agg(r::text, '|' ORDER BY r.\"id\"), ''))"
    query = f'SELECT count(*), {digest} FROM (SELECT {cols} FROM "{table}") AS r'  # noqa: S608
    row = conn.execute(text(query)).one()
    return int(row[0]), str(row[1])
