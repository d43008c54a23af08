"""Without a signing key the API refuses to start on a configured database; the scripts,
which need none, are not blocked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import BACKEND_DIR
from tests.support.databases import TestDatabase, subprocess_env
from tests.support.processes import run_python

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


@pytest.mark.parametrize("how", ["import", "uvicorn"])
def test_a_configured_database_without_a_key_refuses_with_how_to_set_one(
    database: TestDatabase, how: str
) -> None:
    env = subprocess_env(database, AUTH_SECRET_KEY="")
    result = run_python(["-c", "import app.main"], env) if how == "import" else _uvicorn(env)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: AUTH_SECRET_KEY is not set")
    assert "secrets.token_urlsafe" in errors[0] and "backend/.env" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_short_key_is_refused_without_being_shown(database: TestDatabase) -> None:
    result = run_python(
        ["-c", "import app.main"], subprocess_env(database, AUTH_SECRET_KEY=SHORT_KEY)
    )
    assert result.returncode == 2
    assert "AUTH_SECRET_KEY is too short" in result.stderr
    assert SHORT_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [["-m", "alembic", "current"], ["scripts/manage_users.py", "list"]],
    ids=["alembic", "manage_users"],
)
def test_scripts_do_not_need_the_key(database: TestDatabase, args: list[str]) -> None:
    result = run_python(args, subprocess_env(database, AUTH_SECRET_KEY=""))
    assert result.returncode == 0, result.stderr
