"""The spec's own validation snippets, run verbatim against a migrated database.

The code is read from docs/risk-metrics-migrations.md itself, so the spec and this test
cannot drift apart; expected output is derived from tests/support/spec_schema.py. Each runs
as ``python -c`` would run it, in this process (tests/support/cli.py); the embedded-server
and seed tests run snippets in child processes.
"""

from __future__ import annotations

import ast
import re

import pytest

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase
from tests.support.cli import run_main, script_env
from tests.support.spec_schema import SPEC_REVISIONS, SPEC_TABLES

SPEC = BACKEND_DIR.parent / "docs" / "risk-metrics-migrations.md"
SNIPPET = re.compile(r'uv run python -c "\n?(.*?)\n?"\n', re.S)


def spec_snippets() -> list[str]:
    return SNIPPET.findall(SPEC.read_text(encoding="utf-8"))


def snippet_containing(marker: str) -> str:
    matches = [s for s in spec_snippets() if marker in s]
    assert len(matches) == 1, f"expected one spec snippet containing {marker!r}"
    return matches[0]


def run_snippet(code: str, database: TestDatabase) -> list[str]:
    def python_c(_: list[str]) -> int:
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        return 0

    result = run_main(python_c, [], script_env(database.env_url))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def added(slug: str) -> dict[str, str]:
    """column -> information_schema data_type for a spec revision's snapshot columns."""
    rev = next(r for r in SPEC_REVISIONS if r.slug == slug)
    return {
        name: re.sub(r"\(.*\)", "", pg_type)
        for name, pg_type in rev.added_columns["portfolio_snapshots"]
    }


def test_spec_has_the_snippets_this_test_knows() -> None:
    assert len(spec_snippets()) == 9


@pytest.mark.parametrize("model", ["PositionMarketBeta", "BenchmarkSectorWeight"])
def test_import_snippets(database: TestDatabase, model: str) -> None:
    code = snippet_containing(f"import {model};")
    assert run_snippet(code, database) == ["✓ Import successful"]


def test_migration_1_snippet_lists_market_beta_columns(database: TestDatabase) -> None:
    lines = run_snippet(snippet_containing("%market_beta%"), database)
    expected = {f"{name}: {dtype}" for name, dtype in added("add_market_beta_to_snapshots").items()}
    assert sorted(lines) == sorted(expected)


def test_migration_3_snippet_lists_sector_and_concentration_columns(
    database: TestDatabase,
) -> None:
    rows = [ast.literal_eval(line) for line in run_snippet(snippet_containing("%hhi%"), database)]
    columns = added("add_sector_concentration_to_snapshots")
    # The spec's filter (sector/hhi/concentration) does not match effective_num_positions.
    expected = {
        (name, dtype)
        for name, dtype in columns.items()
        if re.search("sector|hhi|concentration", name)
    }
    assert set(rows) == expected and len(rows) == 4


def test_migration_4_snippet_lists_volatility_columns(database: TestDatabase) -> None:
    code = snippet_containing("column_name LIKE '%volatility%'")
    rows = {ast.literal_eval(line) for line in run_snippet(code, database)}
    assert rows == set(added("add_volatility_to_snapshots").items())


def test_migration_5_snippet_finds_position_volatility(database: TestDatabase) -> None:
    code = snippet_containing("table_name = 'position_volatility'")
    assert run_snippet(code, database) == ["Table exists: True"]


def test_verify_data_snippet_counts_benchmark_rows(database: TestDatabase) -> None:
    assert run_snippet(snippet_containing("func.count"), database) == ["Total records: 0"]


def test_step_4_snippet_reports_all_three_new_tables(database: TestDatabase) -> None:
    lines = run_snippet(snippet_containing("New tables created"), database)
    assert lines[0] == "New tables created: 3/3"
    assert sorted(lines[1:]) == sorted(f"  ✓ {t}" for t in SPEC_TABLES)


def test_troubleshooting_snippet_lists_every_table(database: TestDatabase) -> None:
    from app.models import Base

    code = snippet_containing("WHERE table_schema = 'public'\n        '''")
    tables = set(run_snippet(code, database))
    assert {*Base.metadata.tables, "alembic_version"} <= tables
