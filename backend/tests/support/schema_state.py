"""Where a database stands: the schema against the spec's revisions, a fingerprint of the
whole catalog (and its definitions, to compare two databases), row checksums, the Alembic
CLI run as a user would run it, and its offline SQL run as psql would."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from devtools.databases import TestDatabase
from tests.support import catalog
from tests.support.cli import CliRun, run_alembic, script_env
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


def sql_statements(script: str) -> list[str]:
    """Split SQL as ``alembic ... --sql`` prints it into statements, as psql would: a
    statement ends with ``;`` at the end of a line outside a dollar-quoted body (a ``;``
    inside a ``DO $$ ... $$`` block belongs to the block)."""
    statements: list[str] = []
    lines: list[str] = []
    in_body = False
    for line in script.splitlines():
        lines.append(line)
        if line.count("$$") % 2:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            statements.append("\n".join(lines).strip())
            lines = []
    leftover = [line for line in lines if line.strip() and not line.lstrip().startswith("--")]
    assert not leftover, f"unterminated SQL: {leftover}"
    return statements


def run_sql_script(db: TestDatabase, script: str) -> None:
    """Run an offline migration script on ``db`` the way psql runs it: one statement at a
    time on a session in autocommit, so the script's own BEGIN/COMMIT delimit its
    transactions and what lies between them (CREATE INDEX CONCURRENTLY) runs outside any."""
    engine = create_engine(db.sync_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for statement in sql_statements(script):
                # The driver's cursor, without parameters: the text is sent as written.
                cursor.execute(statement)
            cursor.close()
    finally:
        engine.dispose()


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


def assert_users_applied(conn: Connection) -> None:
    """The users table as the create_users revision makes it, exactly."""
    assert catalog.columns(conn, "users") == [
        ("id", "uuid"),
        ("email", "character varying(320)"),
        ("password_hash", "character varying(255)"),
        ("is_active", "boolean"),
        ("created_at", "timestamp with time zone"),
        ("updated_at", "timestamp with time zone"),
    ]
    assert "trg_users_updated_at" in catalog.triggers(conn, "users")
    assert catalog.column_default(conn, "users", "is_active") == "true"
    definition = conn.execute(
        text("SELECT pg_get_indexdef('uq_users_email_lower'::regclass)")
    ).scalar_one()
    assert definition.startswith("CREATE UNIQUE INDEX uq_users_email_lower ON public.users")
    assert "lower((email)::text)" in definition
    assert catalog.check_constraints(conn, "users") == {"ck_users_email_shape": True}


def assert_owner_applied(conn: Connection) -> None:
    """portfolios.owner_id: its validated foreign key and its valid index."""
    assert ("owner_id", "uuid") in catalog.columns(conn, "portfolios")
    fk = conn.execute(
        text(
            "SELECT confrelid::regclass::text, confdeltype, convalidated FROM pg_constraint "
            "WHERE conname = 'fk_portfolios_owner_id_users'"
        )
    ).one()
    assert tuple(fk) == ("users", "n", True)  # n = ON DELETE SET NULL, validated
    assert catalog.indexes(conn)["ix_portfolios_owner_id"] == ("portfolios", ["owner_id"], True)


def assert_owner_absent(conn: Connection) -> None:
    """No portfolios.owner_id, nor its index or foreign key."""
    assert "owner_id" not in {name for name, _ in catalog.columns(conn, "portfolios")}
    assert "ix_portfolios_owner_id" not in catalog.indexes(conn)
    assert catalog.foreign_keys(conn, "portfolios") == {}


def invalid_indexes(conn: Connection) -> list[str]:
    return sorted(name for name, (_, _, valid) in catalog.indexes(conn).items() if not valid)


def _catalog_query(with_oids: bool) -> str:
    """Every table, column, index, constraint, trigger and function of the public schema
    (alembic_version aside) as one sorted text column; with ``with_oids`` each line also
    carries its object's oid, so a rebuilt object shows up as a changed line."""

    def oid(column: str) -> str:
        return f" || ' oid=' || {column}" if with_oids else ""

    # Only these fixed fragments are formatted in: the query takes no outside input.
    return f"""
    SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text{oid("c.oid")}
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' ||
           format_type(a.atttypid, a.atttypmod) || ' null=' || (NOT a.attnotnull) ||
           ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') ||
           ' identity=' || a.attidentity::text ||
           ' generated=' || a.attgenerated::text{oid("c.oid")}
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) ||
           ' valid=' || i.indisvalid{oid("i.indexrelid")}
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    WHERE c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' ||
           pg_get_constraintdef(oid) || ' validated=' || convalidated{oid("oid")}
    FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'alembic_version'
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(oid) || ' enabled=' || tgenabled::text{oid("oid")}
    FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'function ' || pg_get_functiondef(oid){oid("oid")}
    FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    ORDER BY 1
    """  # noqa: S608


def schema_fingerprint(conn: Connection) -> list[str]:
    """The public schema's objects with their oids (alembic_version aside): equal
    fingerprints mean nothing was altered or rebuilt."""
    rows = list(conn.execute(text(_catalog_query(with_oids=True))).scalars())
    conn.rollback()
    return rows


def schema_definition(conn: Connection) -> list[str]:
    """The public schema's objects by definition only (no oids), so that two databases
    can be compared. Column order is left out: ALTER TABLE ADD COLUMN can only append, so
    a migrated table and a freshly created one may list the same columns differently."""
    rows = list(conn.execute(text(_catalog_query(with_oids=False))).scalars())
    conn.rollback()
    return rows


def table_checksum(conn: Connection, table: str, columns: list[str]) -> tuple[int, str]:
    """(row count, md5 over the rows' text in id order) of ``columns`` of ``table``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    digest = "md5(coalesce(string_agg(r::text, '|' ORDER BY r.\"id\"), ''))"
    query = f'SELECT count(*), {digest} FROM (SELECT {cols} FROM "{table}") AS r'  # noqa: S608
    row = conn.execute(text(query)).one()
    return int(row[0]), str(row[1])
