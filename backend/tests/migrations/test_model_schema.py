"""The models describe the schema the migrations build: the same database either way.

``alembic check`` compares only what autogenerate knows (tables, columns, types, server
defaults, indexes, unique and foreign keys); CHECK definitions, triggers and functions
are compared here, in pg_catalog, on two real databases.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from app.models import Base
from devtools.databases import TestDatabase, alembic_config
from tests.support.schema_state import connect, schema_definition


def _create_all(db: TestDatabase) -> None:
    engine = create_engine(db.sync_url)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
    finally:
        engine.dispose()


def test_create_all_builds_the_schema_that_upgrade_head_builds(
    empty_database_pair: tuple[TestDatabase, TestDatabase],
) -> None:
    from_models, from_migrations = empty_database_pair
    _create_all(from_models)
    command.upgrade(alembic_config(from_migrations.sync_url), "head")

    with connect(from_models) as models_conn, connect(from_migrations) as migrated_conn:
        models = schema_definition(models_conn)
        migrated = schema_definition(migrated_conn)
    assert [line for line in migrated if line not in models] == [], "only in the migrated schema"
    assert [line for line in models if line not in migrated] == [], "only in the models' schema"
    # Not two empty lists by accident: every kind of object is in the comparison.
    kinds = {line.split(" ", 1)[0] for line in migrated}
    assert kinds == {"relation", "column", "index", "constraint", "trigger", "function"}


def test_create_all_schema_moves_updated_at_on_update(empty_database: TestDatabase) -> None:
    _create_all(empty_database)
    with connect(empty_database) as conn:
        created = conn.execute(
            text("INSERT INTO portfolios (name) VALUES ('p') RETURNING updated_at")
        ).scalar_one()
        updated = conn.execute(
            text("UPDATE portfolios SET name = 'q' RETURNING updated_at")
        ).scalar_one()
        conn.rollback()
    assert updated > created


def test_drop_all_removes_the_trigger_function(empty_database: TestDatabase) -> None:
    engine = create_engine(empty_database.sync_url)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
            Base.metadata.drop_all(conn)
        with engine.connect() as conn:
            functions = conn.execute(
                text("SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
            ).scalar_one()
    finally:
        engine.dispose()
    assert functions == 0
