"""With DATABASE_URL unset, commands start an embedded PostgreSQL and leave none behind."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.support.processes import run_python, uvicorn_app
from tests.test_spec_snippets import snippet_containing


def _env(pgdata: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}
    # Blank (not absent), so a developer's backend/.env cannot point this test elsewhere.
    env["DATABASE_URL"] = ""
    env["FMP_API_KEY"] = ""
    env["EMBEDDED_PGDATA"] = str(pgdata)
    return env


def _run(args: list[str], pgdata: Path) -> subprocess.CompletedProcess[str]:
    return run_python(args, _env(pgdata))


def _servers_for(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmdline):
            found.append(proc)
    return found


def test_upgrade_head_runs_on_embedded_postgres_and_stops_it(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    upgrade = _run(["-m", "alembic", "upgrade", "head"], pgdata)
    assert upgrade.returncode == 0, upgrade.stderr
    notices = [line for line in upgrade.stderr.splitlines() if "embedded PostgreSQL" in line]
    assert notices == [f"Using embedded PostgreSQL in {pgdata.resolve()} (DATABASE_URL is not set)"]
    assert (pgdata / "PG_VERSION").exists()
    assert _servers_for(pgdata) == []

    # A second process finds the same data: the schema persisted.
    check = _run(["-c", snippet_containing("New tables created")], pgdata)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines()[0] == "New tables created: 3/3"
    assert _servers_for(pgdata) == []


def test_offline_sql_needs_no_database(tmp_path: Path) -> None:
    pgdata = tmp_path / "never-created"
    result = _run(["-m", "alembic", "upgrade", "base:head", "--sql"], pgdata)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE IF NOT EXISTS position_volatility" in result.stdout
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_snapshots_beta"' in result.stdout
    assert "embedded PostgreSQL" not in result.stderr
    assert not pgdata.exists()


def test_server_left_by_a_killed_process_is_reused_then_stopped(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    killed = _run(
        [
            "-c",
            "import os, signal\n"
            "from app.core.db import database_url\n"
            "database_url()\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        pgdata,
    )
    assert killed.returncode == -9
    orphans = _servers_for(pgdata)
    assert orphans, "the killed process should have left its server running"

    after = _run(["-m", "alembic", "upgrade", "head"], pgdata)
    assert after.returncode == 0, after.stderr
    psutil.wait_procs(orphans, timeout=10)
    assert _servers_for(pgdata) == []


def test_uvicorn_on_embedded_postgres_stops_it_on_sigterm(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    assert _run(["-m", "alembic", "upgrade", "head"], pgdata).returncode == 0
    with uvicorn_app(_env(pgdata), tmp_path / "uvicorn.log") as base:
        db_health = httpx.get(f"{base}/health/db", timeout=30)
        assert db_health.status_code == 200, db_health.text
        assert _servers_for(pgdata), "the app should be running on the embedded server"
    # uvicorn re-raises SIGTERM after shutdown (no atexit hooks): the lifespan must let go.
    deadline = time.monotonic() + 15
    while _servers_for(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_for(pgdata) == []
