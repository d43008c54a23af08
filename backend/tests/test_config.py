"""Settings and URL handling, and that no secret reaches any output."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.core.db import DatabaseConfigError, with_driver
from app.core.redaction import safe_url
from devtools.databases import TestDatabase
from tests.support.cli import CliRun, run_alembic, script_env

SECRET = "s3cr3t-Pa55word"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db.example:5432/risk",
        "postgresql+asyncpg://u:pw@db.example:5432/risk",
        "postgresql+psycopg2://u:pw@db.example:5432/risk",
        "postgres://u:pw@db.example:5432/risk",
    ],
)
def test_every_postgresql_flavour_is_accepted_for_both_drivers(url: str) -> None:
    for driver in ("postgresql+asyncpg", "postgresql+psycopg2"):
        converted = with_driver(url, driver)
        assert converted.drivername == driver
        assert (converted.host, converted.port, converted.database) == ("db.example", 5432, "risk")
        assert converted.password == "pw"


def test_non_postgresql_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(DatabaseConfigError) as excinfo:
        with_driver(f"mysql://u:{SECRET}@h/db", "postgresql+asyncpg")
    assert SECRET not in str(excinfo.value)
    with pytest.raises(DatabaseConfigError) as excinfo:
        with_driver(f"not a url {SECRET}", "postgresql+asyncpg")
    assert SECRET not in str(excinfo.value)


def test_safe_url_masks_the_password() -> None:
    assert SECRET not in safe_url(f"postgresql://u:{SECRET}@h/db")


def test_blank_values_mean_unset_and_timeouts_are_validated() -> None:
    settings = Settings(DATABASE_URL="", FMP_API_KEY="  ")
    assert settings.database_url is None and settings.fmp_api_key is None
    assert SECRET not in repr(
        Settings(FMP_API_KEY=SECRET, DATABASE_URL=f"postgresql://u:{SECRET}@h/d")
    )
    with pytest.raises(ValidationError):
        Settings(MIGRATION_LOCK_TIMEOUT="5s; DROP TABLE positions")


def _alembic(database: TestDatabase, database_url: str) -> CliRun:
    return run_alembic("current", env=script_env(database_url))


def test_alembic_never_prints_the_database_password(database: TestDatabase) -> None:
    with_password = database.async_url.set(password=SECRET).render_as_string(hide_password=False)
    ok = _alembic(database, with_password)  # trust auth ignores it, but it must not leak
    assert ok.returncode == 0, ok.stderr
    unreachable = _alembic(database, f"postgresql://risk:{SECRET}@127.0.0.1:9/risk")
    assert unreachable.returncode != 0
    assert "Cannot connect to postgresql+psycopg2://risk:***@127.0.0.1:9/risk" in unreachable.output
    for result in (ok, unreachable):
        assert SECRET not in result.stdout + result.stderr
