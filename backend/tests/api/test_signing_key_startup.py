"""Without a signing key the API refuses to start on a configured database; the scripts,
which need none, are not blocked. uvicorn and Alembic run as child processes (a module
imported by neither may ask for the key); the app module's own check runs in this process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import main as app_main
from app.config import BACKEND_DIR
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import CliRun, run_main, script_env

SHORT_KEY = "short-but-secret"


def _uvicorn(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    uvicorn = Path(sys.executable).with_name("uvicorn")
    return subprocess.run(
        [str(uvicorn), "app.main:app", "--port", "9"],  # exits before binding
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _import_app(database: TestDatabase, key: str) -> CliRun:
    """What ``import app.main`` does at its end (build the module-level app), here."""

    def build(_: list[str]) -> int:
        app_main._configured_app()
        return 0

    return run_main(build, [], script_env(database.env_url, AUTH_SECRET_KEY=key))


@pytest.mark.parametrize("how", ["import", pytest.param("uvicorn", marks=pytest.mark.slow)])
def test_a_configured_database_without_a_key_refuses_with_how_to_set_one(
    database: TestDatabase, how: str
) -> None:
    result = (
        _import_app(database, "")
        if how == "import"
        else _uvicorn(subprocess_env(database, AUTH_SECRET_KEY=""))
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: AUTH_SECRET_KEY is not set")
    assert "secrets.token_urlsafe" in errors[0] and "backend/.env" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_short_key_is_refused_without_being_shown(database: TestDatabase) -> None:
    result = _import_app(database, SHORT_KEY)
    assert result.returncode == 2
    assert "AUTH_SECRET_KEY is too short" in result.stderr
    assert SHORT_KEY not in result.stdout + result.stderr


@pytest.mark.slow
def test_alembic_does_not_need_the_key(database: TestDatabase) -> None:
    # The users CLI's child-process test (tests/scripts/test_manage_users.py) runs it
    # without a key too.
    result = run_python(["-m", "alembic", "current"], subprocess_env(database, AUTH_SECRET_KEY=""))
    assert result.returncode == 0, result.stderr
