"""scripts/manage_users.py: accounts, passwords from stdin or generated once, exit codes,
and no AUTH_SECRET_KEY needed (an operator tool). One test runs it as a child process;
the others call its main() in this process (tests/support/cli.py)."""

from __future__ import annotations

import pytest
from pwdlib import PasswordHash
from sqlalchemy import create_engine, text

from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import CliRun, run_script, script_env

pytestmark = pytest.mark.usefixtures("clean_tables")

PASSWORD = "a long passphrase from stdin"
_hashes = PasswordHash.recommended()


def _cli(database: TestDatabase, *args: str, stdin: str | None = None) -> CliRun:
    # No signing key in the environment: the users CLI must not need one.
    env = script_env(database.env_url, AUTH_SECRET_KEY="")
    return run_script("manage_users", *args, env=env, stdin=stdin)


def _user(database: TestDatabase, email: str) -> tuple[str, bool] | None:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT password_hash, is_active FROM users WHERE lower(email) = lower(:e)"),
                {"e": email},
            ).first()
            return None if row is None else (row[0], row[1])
    finally:
        engine.dispose()


@pytest.mark.slow
def test_create_reads_one_line_of_stdin_and_never_prints_it(database: TestDatabase) -> None:
    # End to end: a child process reading its real standard input, with no signing key.
    result = run_python(
        ["scripts/manage_users.py", "create", "Ann@Example.com", "--password-stdin"],
        subprocess_env(database, AUTH_SECRET_KEY=""),
        stdin=f"{PASSWORD}\nignored\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created user Ann@Example.com (")
    assert PASSWORD not in result.stdout + result.stderr
    found = _user(database, "ann@example.com")
    assert found is not None and found[1] is True
    assert _hashes.verify(PASSWORD, found[0])


def test_create_without_stdin_prints_a_generated_password_exactly_once(
    database: TestDatabase,
) -> None:
    result = _cli(database, "create", "bob@example.com")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "generated password" in line]
    assert len(lines) == 1
    password = lines[0].rsplit(" ", 1)[1]
    assert result.stdout.count(password) == 1
    found = _user(database, "bob@example.com")
    assert found is not None and _hashes.verify(password, found[0])


def test_set_password_disable_enable_and_list(database: TestDatabase) -> None:
    assert _cli(database, "create", "cat@example.com").returncode == 0
    changed = _cli(database, "set-password", "CAT@example.com", "--password-stdin", stdin=PASSWORD)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "password changed for cat@example.com"
    found = _user(database, "cat@example.com")
    assert found is not None and _hashes.verify(PASSWORD, found[0])

    assert _cli(database, "disable", "cat@example.com").returncode == 0
    assert _user(database, "cat@example.com") == (found[0], False)
    listed = _cli(database, "list")
    assert listed.returncode == 0, listed.stderr
    assert "cat@example.com" in listed.stdout and "disabled" in listed.stdout
    assert _cli(database, "enable", "cat@example.com").returncode == 0
    assert _user(database, "cat@example.com") == (found[0], True)


def test_assign_gives_portfolios_to_a_user(database: TestDatabase) -> None:
    engine = create_engine(database.sync_url)
    with engine.begin() as conn:
        insert = text("INSERT INTO portfolios (name) VALUES (:name) RETURNING id")
        ids = [str(conn.execute(insert, {"name": f"P{i}"}).scalar_one()) for i in range(2)]
    assert _cli(database, "create", "dan@example.com").returncode == 0
    unknown = _cli(
        database, "assign", "dan@example.com", ids[0], "00000000-0000-0000-0000-000000000009"
    )
    assert unknown.returncode == 2
    assert "unknown portfolio 00000000-0000-0000-0000-000000000009" in unknown.stderr
    assigned = _cli(database, "assign", "dan@example.com", *ids)
    assert assigned.returncode == 0, assigned.stderr
    with engine.connect() as conn:
        owners = (
            conn.execute(
                text("SELECT DISTINCT u.email FROM portfolios p JOIN users u ON u.id = p.owner_id")
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert owners == ["dan@example.com"]
    assert "2" in [c.strip() for c in _cli(database, "list").stdout.split("│")]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["create", "eve@example.com", "--password-stdin"], "", 2, "no password on standard input"),
        (["create", "eve@example.com", "--password-stdin"], "short\n", 2, "password too short"),
        (["create", "not-an-email"], None, 2, "not an email address"),
        (["disable", "nobody@example.com"], None, 2, "no user with email nobody@example.com"),
        (["set-password", "nobody@example.com", "--password-stdin"], PASSWORD, 2, "no user"),
        (["frobnicate"], None, 2, "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code_and_changes_nothing(
    database: TestDatabase, args: list[str], stdin: str | None, code: int, message: str
) -> None:
    result = _cli(database, *args, stdin=stdin)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert _user(database, "eve@example.com") is None


def test_an_existing_email_in_any_case_is_a_data_error(database: TestDatabase) -> None:
    assert _cli(database, "create", "fay@example.com").returncode == 0
    again = _cli(database, "create", "FAY@example.com", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1
    assert "a user with email FAY@example.com exists already" in again.stderr
    assert PASSWORD not in again.stdout + again.stderr
