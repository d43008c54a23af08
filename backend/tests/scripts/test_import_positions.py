"""scripts/import_positions.py: the API's import from the command line, for a user made by
manage_users.py. One test runs it as a child process; the others call its main() here."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import CliRun, run_script, script_env

pytestmark = pytest.mark.usefixtures("clean_tables")

EXAMPLE = str(BACKEND_DIR / "examples" / "positions.csv")
OWNER = "ann@example.com"


def _cli(database: TestDatabase, *args: str) -> CliRun:
    return run_script("import_positions", *args, env=script_env(database.env_url))


def _users(database: TestDatabase, *emails: str) -> None:
    for email in emails:
        made = run_script("manage_users", "create", email, env=script_env(database.env_url))
        assert made.code == 0, made.output


def _rows(database: TestDatabase, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_example_book_imports_for_a_user_as_a_child_process(database: TestDatabase) -> None:
    _users(database, OWNER)
    result = run_python(
        [
            "scripts/import_positions.py",
            EXAMPLE,
            "--owner",
            OWNER,
            "--new-portfolio",
            "Core",
            "--as-of",
            "2025-01-03",
        ],
        subprocess_env(database, COLUMNS="120"),
    )
    assert result.returncode == 0, result.stderr
    assert "Core (" in result.stdout
    assert "20 added, 0 closed, 0 unchanged positions were written" in result.stdout
    assert "scripts/load_prices.py --fmp" in result.stdout  # no prices here yet
    stored = _rows(
        database,
        "SELECT count(*), min(p.stale_from) FROM positions JOIN portfolios p ON p.id = portfolio_id"
        " JOIN users u ON u.id = p.owner_id WHERE u.email = 'ann@example.com' AND p.name = 'Core'",
    )
    assert stored == [(20, date(2025, 1, 2))]


def test_replace_dry_run_then_for_real_with_json(database: TestDatabase, tmp_path: Path) -> None:
    _users(database, OWNER)
    first = _cli(
        database, EXAMPLE, "--owner", OWNER, "--new-portfolio", "Core", "--as-of", "2025-01-03"
    )
    assert first.code == 0, first.output
    book = tmp_path / "book.csv"
    book.write_text(
        "symbol;quantity;entry_date;entry_price\nAAPL;100;2025-01-02;243.85\nTSLA;5;2025-01-06;410\n"
    )
    args = [
        str(book),
        "--owner",
        OWNER,
        "--portfolio",
        "core",
        "--replace",
        "--as-of",
        "2025-01-06",
    ]
    dry = _cli(database, *args, "--dry-run", "--json")
    assert dry.code == 0, dry.output
    preview = json.loads(dry.stdout)
    assert (preview["status"], preview["dry_run"], preview["mode"]) == ("ok", True, "replace")
    assert [a["symbol"] for a in preview["added"]] == ["TSLA"]
    assert [u["symbol"] for u in preview["unchanged"]] == ["AAPL"]
    assert len(preview["closed"]) == 19  # the rest of the example book
    assert _rows(database, "SELECT count(*) FROM positions WHERE exit_date IS NOT NULL") == [(0,)]

    done = _cli(database, *args, "--json")
    assert done.code == 0, done.output
    assert json.loads(done.stdout)["closed"] == preview["closed"]
    assert _rows(database, "SELECT count(*) FROM positions WHERE exit_date = '2025-01-06'") == [
        (19,)
    ]


def test_rejected_rows_are_each_printed_and_nothing_is_written(
    database: TestDatabase, tmp_path: Path
) -> None:
    _users(database, OWNER)
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,quantity,entry_price\nAAPL,1,1\nMSFT,-0,1\nNV DA,1,1\n")
    result = _cli(database, str(bad), "--owner", OWNER, "--new-portfolio", "Core", "--json")
    assert result.code == 1
    assert "line 3, field quantity" in result.stderr
    assert "line 4, field symbol" in result.stderr
    payload = json.loads(result.stdout)
    assert (payload["status"], payload["exit_code"], payload["error"]) == (
        "error",
        1,
        "2 rows rejected, nothing written",
    )
    assert [(r["line"], r["field"]) for r in payload["rejected"]] == [
        (3, "quantity"),
        (4, "symbol"),
    ]
    assert _rows(database, "SELECT count(*) FROM portfolios") == [(0,)]


def test_usage_errors_exit_2(database: TestDatabase) -> None:
    _users(database, OWNER, "bob@example.com")
    assert _cli(database, EXAMPLE, "--owner", OWNER, "--new-portfolio", "Mine").code == 0
    cases = {
        ("--owner", "nobody@example.com", "--portfolio", "Mine"): "no user with email",
        ("--owner", "bob@example.com", "--portfolio", "Mine"): "no portfolio named",
        ("--owner", OWNER, "--portfolio", "Other"): "no portfolio named",
        ("--owner", OWNER, "--new-portfolio", "MINE"): "named 'MINE' already",
    }
    for args, message in cases.items():
        result = _cli(database, EXAMPLE, *args)
        assert result.code == 2, (args, result.output)
        assert message in result.stderr, result.stderr
    missing = _cli(database, "no-such.csv", "--owner", OWNER, "--portfolio", "Mine")
    assert (missing.code, "no such file" in missing.stderr) == (2, True)
    both = _cli(database, EXAMPLE, "--owner", OWNER, "--portfolio", "a", "--new-portfolio", "b")
    assert both.code == 2


def test_a_dry_run_into_a_new_portfolio_writes_not_even_the_portfolio(
    database: TestDatabase,
) -> None:
    _users(database, OWNER)
    result = _cli(database, EXAMPLE, "--owner", OWNER, "--new-portfolio", "Trial", "--dry-run")
    assert result.code == 0, result.output
    assert "would be written (dry run: nothing written)" in result.stdout
    assert _rows(database, "SELECT count(*) FROM portfolios") == [(0,)]
