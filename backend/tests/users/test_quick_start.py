"""The README's sign-in path on the embedded default, as a user runs it: migrate, load the
demo, start uvicorn, sign in as the demo user and read its portfolios; a second user sees
none of them; uvicorn stopped by SIGTERM stops the embedded server. No AUTH_SECRET_KEY is
set: the key is generated beside the data directory."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.core.embedded_postgres import release_embedded_servers
from devtools.processes import embedded_servers_for, run_python, uvicorn_app
from tests.support.cli import CliRun, run_script

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _env(pgdata: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_URL"}}
    # Blank, not absent, so a developer's backend/.env cannot set either.
    env |= {"DATABASE_URL": "", "AUTH_SECRET_KEY": "", "FMP_API_KEY": ""}
    env["EMBEDDED_PGDATA"] = str(pgdata)
    return env


def _ok(result: subprocess.CompletedProcess[str] | CliRun) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _password_in(output: str) -> str:
    shown = [line for line in output.splitlines() if "password" in line]
    assert len(shown) == 1, output
    return shown[0].rsplit(" ", 1)[1]


def _token(base: str, email: str, password: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": email, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def _get(base: str, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{base}{path}", headers=headers, timeout=30)


@pytest.mark.slow
def test_demo_user_reads_its_portfolios_and_a_second_user_sees_none(
    embedded_tmp_path: Path,
) -> None:
    pgdata = embedded_tmp_path / ".pgdata" / "main"
    env = _env(pgdata)
    _ok(run_python(["-m", "alembic", "upgrade", "head"], env))
    # The two scripts by their main() in this process (each has its child-process test in
    # tests/scripts), on the same embedded server; then this process lets go of it.
    try:
        demo = _ok(run_script("demo_data", env=env))
        second = _ok(run_script("manage_users", "create", "second@example.com", env=env))
    finally:
        release_embedded_servers()
    demo_password = _password_in(demo)
    portfolio_ids = UUID.findall(demo)
    assert len(portfolio_ids) == 3
    second_password = _password_in(second)
    assert embedded_servers_for(pgdata) == []

    log = embedded_tmp_path / "uvicorn.log"
    with uvicorn_app(env, log) as base:
        db_health = _get(base, "/health/db", None)
        assert db_health.status_code == 200, db_health.text
        assert embedded_servers_for(pgdata), "the app should be running on the embedded server"
        token = _token(base, "demo@example.com", demo_password)
        assert _get(base, "/api/v1/me", token).json()["email"] == "demo@example.com"
        for portfolio_id in portfolio_ids:
            betas = _get(base, f"/api/v1/portfolios/{portfolio_id}/market-betas", token)
            assert betas.status_code == 200, betas.text
            risk = _get(base, f"/api/v1/portfolios/{portfolio_id}/risk", token)
            # Visible, not yet calculated (calculate_risk_metrics.py fills it).
            assert risk.json() == {"detail": f"portfolio {portfolio_id} has no snapshot"}

        other = _token(base, "second@example.com", second_password)
        for portfolio_id in portfolio_ids:
            for path in ("market-betas", "risk"):
                response = _get(base, f"/api/v1/portfolios/{portfolio_id}/{path}", other)
                assert response.status_code == 404
                assert response.json() == {"detail": f"unknown portfolio {portfolio_id}"}
            assert _get(base, f"/api/v1/portfolios/{portfolio_id}/risk", None).status_code == 401

    # uvicorn re-raises SIGTERM after shutdown (no atexit hooks): the lifespan must have
    # let go of the embedded server, the last user of it.
    deadline = time.monotonic() + 15
    while embedded_servers_for(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert embedded_servers_for(pgdata) == []

    key_file = pgdata.with_name("main.auth_secret_key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()

    # The key was kept: a restarted app accepts the token it issued before.
    with uvicorn_app(env, embedded_tmp_path / "uvicorn-2.log") as base:
        assert _get(base, "/api/v1/me", token).status_code == 200

    server_output = log.read_text() + (embedded_tmp_path / "uvicorn-2.log").read_text()
    for secret in (token, other, key, demo_password, second_password):
        assert secret not in server_output
    assert key not in demo + second
