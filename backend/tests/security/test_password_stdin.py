"""Finding 9: ``manage_users.py create --password-stdin`` given binary input exited 1 with
``unexpected error ... UnicodeEncodeError`` instead of a usage error (2).

Replayed as an operator runs it: a child process whose standard input is raw bytes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase, subprocess_env


def _users_named(database: TestDatabase, email: str) -> int:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM users WHERE lower(email) = lower(:e)")
            return int(conn.execute(query, {"e": email}).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.slow  # a child process
@pytest.mark.parametrize(
    "stdin",
    [b"\xff\xfe\x00binary\x80password\n", b"latin-1 caf\xe9 password\n"],
    ids=["binary", "latin-1"],
)
@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_finding_9_undecodable_password_input_is_a_usage_error(
    database: TestDatabase, stdin: bytes, locale: str
) -> None:
    email = f"bytes-{len(stdin)}-{locale.replace('.', '')}@example.com"
    env = subprocess_env(database, AUTH_SECRET_KEY="", LC_ALL=locale, PYTHONIOENCODING="")
    result = subprocess.run(
        [sys.executable, "scripts/manage_users.py", "create", email, "--password-stdin"],
        cwd=BACKEND_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "standard input is not UTF-8 text" in stderr
    assert "Traceback" not in stderr and "unexpected error" not in stderr
    assert _users_named(database, email) == 0
