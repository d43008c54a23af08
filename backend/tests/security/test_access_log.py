"""Finding 8: the access log wrote full query strings: a token put in ``?access_token=``
(refused) was logged in full, and a 65 KB URL became a 65 KB log line.

Replayed against ``python -m app.serve`` as a child process, reading its access log.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from app.core.redaction import LOGGED_TARGET_MAX, redact_target
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import uvicorn_app
from tests.support.auth import TEST_SIGNING_KEY

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw"


@pytest.mark.slow  # a child process
def test_finding_8_the_access_log_keeps_no_secret_and_no_huge_line(
    database: TestDatabase, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "app.serve"]
    with (
        uvicorn_app(subprocess_env(database), log, command) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        assert http.get("/api/v1/me", params={"access_token": TOKEN}).status_code == 401
        http.get("/health", params={"token": TOKEN, "password": "hunter2-secret", "x": "1"})
        assert http.get("/health", params={"q": "a" * 7000}).status_code == 200
        assert http.get("/health", params={"q": "b" * 65000}).status_code == 414
    lines = log.read_text().splitlines()
    text = "\n".join(lines)
    assert "GET /api/v1/me?access_token=*** HTTP/1.1" in text
    assert "GET /health?token=***&password=***&x=1 HTTP/1.1" in text
    for secret in (TOKEN, "hunter2-secret", TEST_SIGNING_KEY):
        assert secret not in text
    assert max(len(line) for line in lines) < LOGGED_TARGET_MAX + 200
    cut = len("/health?q=") + 7000 - LOGGED_TARGET_MAX
    assert f"{'a' * 10}...[{cut} more characters] HTTP/1.1" in text  # the 7 KB URL
    assert "b" * 1000 not in text


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/x?access_token=abc&b=1", "/x?access_token=***&b=1"),
        ("/x?Access%5FToken=abc", "/x?Access%5FToken=***"),
        ("/x?api_key=k&apikey=k&client_secret=s&refresh_token=r", None),
        ("/x?cursor=abc&date=2025-01-02", "/x?cursor=abc&date=2025-01-02"),
        ("/x?password", "/x?password"),  # no value to hide
    ],
)
def test_secret_looking_query_values_are_masked(target: str, logged: str | None) -> None:
    if logged is None:
        assert "=k" not in redact_target(target) and "=s" not in redact_target(target)
        assert "=r" not in redact_target(target)
    else:
        assert redact_target(target) == logged
