"""Each rule is written in one place, and the README's map says where.

A rule stated twice is fixed in only one of its places the day it changes: these tests fail
when a rule's tell-tale appears in backend/app outside its home, and say where. A map that
names moved or deleted code sends a newcomer nowhere: these tests fail when a row of the
"Where each rule lives" table names a file that does not exist or a name its file does not
define, when a rule checked here is missing from the table or has other homes there, and
when the Layout (docs/development.md) leaves out a folder, package or core module.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from app.config import BACKEND_DIR

README = BACKEND_DIR.parent / "README.md"
DEVELOPMENT = BACKEND_DIR.parent / "docs" / "development.md"
TABLE_HEADING = "### Where each rule lives"
LAYOUT_HEADING = "## Layout"


@dataclass(frozen=True)
class Rule:
    tell_tale: re.Pattern[str]
    homes: tuple[str, ...]
    """Files or folders (under backend/, as the README names them) that state the rule."""
    also: tuple[str, ...] = ()
    """Where the tell-tale may appear without stating the rule: a column's declaration,
    the definition of a function the rule calls."""


# Keyed by the rule as the README table words it.
RULES: dict[str, Rule] = {
    "Soft delete: every read sees live rows only": Rule(
        re.compile(r"\bdeleted_at\b"), ("app/core/repository.py",), also=("app/models/",)
    ),
    "Who may read a portfolio or position (another user's = not found)": Rule(
        re.compile(r"\bowner_id\s*=="), ("app/portfolios/repository.py",)
    ),
    "Held at the close of a day (entry, exit and expiration dates)": Rule(
        re.compile(
            r"\b(?:exit_date|expiration_date)\b\s*(?:[<>]=?|[-+]|\.is_)"
            r"|(?:[<>]=?)\s*[\w.]*\b(?:exit_date|expiration_date)\b"
        ),
        ("app/portfolios/repository.py",),
    ),
    (
        "A position's value on a date: the close as traded times the shares held that day "
        "(the day its stored quantity counts on, the splits between), signed as its exposure"
    ): Rule(
        # The engine (app/risk_metrics/pricing.py) and the API's reads
        # (app/portfolios/service.py) both ask app/prices/actions.py.
        re.compile(r"\bsplit_factor\(|\bquantity_date\s+or\b"),
        ("app/prices/actions.py",),
    ),
    "What a NUMERIC(precision, scale) column holds, and the reason a figure is left NULL": Rule(
        re.compile(r"precision\s*-\s*scale"), ("app/core/numeric_fit.py",)
    ),
    "No date after the market index's last price": Rule(
        re.compile(r"\blast_trading_day\("),
        ("app/risk_metrics/runs.py",),
        # portfolios/service.py only shows the date, as the end of the range to calculate;
        # the refresh reads it as that end too, and as what is stored before it asks FMP;
        # the correlations stand on it as the day a request asks about.
        also=(
            "app/prices/repository.py",
            "app/portfolios/service.py",
            "app/refresh/",
            "app/correlations/",
        ),
    ),
    "Benchmark code format, the default benchmark (`SP500`)": Rule(
        re.compile(r"[\"']SP500[\"']"), ("app/core/types.py",)
    ),
    (
        "The known benchmarks (`SP500`, `NDX`, `DJIA`): what can be seeded, what a portfolio "
        "may be held against"
    ): Rule(
        re.compile(r"[\"']DJIA[\"']"),
        ("app/core/types.py",),
        # FMP's endpoint per code (checked against the list) and what the Dow's weights are.
        also=("app/integrations/fmp/client.py", "app/benchmarks/weights.py"),
    ),
    "FMP sector label → GICS sector": Rule(
        re.compile(r"[\"']Financial Services[\"']"), ("app/core/sectors.py",)
    ),
    "Request size limits (413, 414, 431) and the headers of every response": Rule(
        re.compile(r"x-frame-options", re.IGNORECASE), ("app/api/policy.py",)
    ),
    "Whose forwarded client address is believed (`TRUSTED_PROXIES`)": Rule(
        re.compile(r"[\"']x-forwarded-for[\"']", re.IGNORECASE), ("app/api/middleware.py",)
    ),
    "Token revocation: a token counts while it carries its user's token version": Rule(
        re.compile(r"\btoken_version\s*(?:==|\+)"), ("app/users/repository.py",)
    ),
    "What a portfolio and a position may be (API, CSV and CLI alike), the book's limits": Rule(
        re.compile(r"\bMAX_POSITIONS\s*="), ("app/portfolios/rules.py",)
    ),
    "What an OCC option symbol is": Rule(re.compile(r"\[CP\]"), ("app/portfolios/occ.py",)),
    "A write to a portfolio locks its row first (two writes take turns)": Rule(
        re.compile(r"\bwith_for_update\("), ("app/portfolios/store.py",)
    ),
    "Stale marks: moved back by every change, cleared by a run that saw them": Rule(
        re.compile(r"\.values\(\s*stale_from\s*="), ("app/portfolios/store.py",)
    ),
    "Fresh enough to compute on: a position's last price at most `STALE_PRICE_TRADING_DAYS` "
    "trading days old, else no figures, named and counted as uncovered": Rule(
        re.compile(r"[\"'](?:stale_price|no_price)[\"']"), ("app/formulas/freshness.py",)
    ),
}


def _files(home: str) -> list[Path]:
    path = BACKEND_DIR / home
    return [path] if home.endswith(".py") else sorted(path.rglob("*.py"))


def _outside_home(rule: Rule) -> list[str]:
    exempt = rule.homes + rule.also
    found = []
    for path in sorted((BACKEND_DIR / "app").rglob("*.py")):
        relative = path.relative_to(BACKEND_DIR).as_posix()
        if any(relative == home or relative.startswith(home) for home in exempt):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if rule.tell_tale.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("name", RULES)
def test_a_rule_is_written_only_in_its_home(name: str) -> None:
    rule = RULES[name]
    assert _outside_home(rule) == [], f"{name}: its home is {', '.join(rule.homes)}"


@pytest.mark.parametrize("name", RULES)
def test_each_home_states_its_rule(name: str) -> None:
    # A tell-tale that matches nothing would let any second statement through unseen.
    rule = RULES[name]
    for home in rule.homes:
        texts = [path.read_text() for path in _files(home)]
        assert any(rule.tell_tale.search(text) for text in texts), f"{name}: not in {home}"


def test_the_tell_tales_catch_a_second_statement() -> None:
    samples = {
        "Soft delete: every read sees live rows only": (
            "stmt.where(Position.deleted_at.is_(None))"
        ),
        "Who may read a portfolio or position (another user's = not found)": (
            "clauses.append(t.c.owner_id == owner)"
        ),
        "Held at the close of a day (entry, exit and expiration dates)": (
            "or_(Position.exit_date.is_(None), Position.exit_date > d)"
        ),
        "A position's value on a date: the close as traded times the shares held that day "
        "(the day its stored quantity counts on, the splits between), signed as its exposure": (
            "counted_on = position.quantity_date or self.today"
        ),
        "What a NUMERIC(precision, scale) column holds, and the reason a figure is left NULL": (
            "limit = 10.0 ** (precision - scale)"
        ),
        "No date after the market index's last price": "last = await last_trading_day(s)",
        "Benchmark code format, the default benchmark (`SP500`)": 'benchmark: str = "SP500"',
        "The known benchmarks (`SP500`, `NDX`, `DJIA`): what can be seeded, what a portfolio "
        "may be held against": 'CODES = ("SP500", "DJIA")',
        "FMP sector label → GICS sector": 'SECTORS = {"Financial Services": "Financials"}',
        "Request size limits (413, 414, 431) and the headers of every response": (
            'response.headers["X-Frame-Options"] = "DENY"'
        ),
        "Whose forwarded client address is believed (`TRUSTED_PROXIES`)": (
            'client = request.headers.get("X-Forwarded-For")'
        ),
        "Token revocation: a token counts while it carries its user's token version": (
            "where(User.token_version == claims.version)"
        ),
        "What a portfolio and a position may be (API, CSV and CLI alike), the book's limits": (
            "MAX_POSITIONS = 10_000"
        ),
        "What an OCC option symbol is": r're.compile(r"(\w+)(\d{6})([CP])(\d{8})")',
        "A write to a portfolio locks its row first (two writes take turns)": (
            "select(Portfolio).with_for_update()"
        ),
        "Stale marks: moved back by every change, cleared by a run that saw them": (
            "update(portfolios).values(stale_from=None)"
        ),
        "Fresh enough to compute on: a position's last price at most "
        "`STALE_PRICE_TRADING_DAYS` trading days old, else no figures, named and counted as "
        "uncovered": 'reason = "stale_price" if age > 3 else None',
    }
    assert samples.keys() == RULES.keys()
    for name, line in samples.items():
        assert RULES[name].tell_tale.search(line), name


# --- the README table -------------------------------------------------------------------

_CODE = re.compile(r"`([^`]+)`")
_PATH = re.compile(r"(?:app|devtools|tests|scripts|perf|alembic)/[\w/.]*")


@dataclass(frozen=True)
class Row:
    rule: str
    home: str
    """The home cell as written."""

    @property
    def names(self) -> list[tuple[str, str | None]]:
        """Each name in backticks with the file named before it in the cell (None if none
        is): ``app/core/cli.py`` (``run_command``) names run_command in app/core/cli.py."""
        named: list[tuple[str, str | None]] = []
        current: str | None = None
        for code in _CODE.findall(self.home):
            if _PATH.fullmatch(code):
                current = code
            else:
                named.append((code, current))
        return named

    @property
    def paths(self) -> list[str]:
        return [code for code in _CODE.findall(self.home) if _PATH.fullmatch(code)]


def readme_rows(text: str) -> list[Row]:
    """The rows of the README's "Where each rule lives" table, in order."""
    lines = text.splitlines()
    assert TABLE_HEADING in lines, f"README.md has no {TABLE_HEADING!r} section"
    rows: list[Row] = []
    for line in lines[lines.index(TABLE_HEADING) + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 2, f"a row of two cells expected: {line}"
        rows.append(Row(*cells))
    assert rows and rows[0].rule == "Rule", "the table's header row is | Rule | Its one home |"
    return rows[1:]


@cache
def _defined(path: Path) -> frozenset[str]:
    """The names a module defines at its top level, and ``Class.name`` for what each of its
    classes defines (methods, class attributes, fields)."""
    names: set[str] = set()

    def targets(node: ast.stmt) -> list[str]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return [node.name]
        if isinstance(node, ast.Assign):
            return [t.id for t in node.targets if isinstance(t, ast.Name)]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            return [node.target.id]
        return []

    for node in ast.parse(path.read_text()).body:
        names.update(targets(node))
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{name}" for child in node.body for name in targets(child))
    return frozenset(names)


def _table_problems(rows: list[Row]) -> list[str]:
    problems = []
    for row in rows:
        if not row.paths:
            problems.append(f"{row.rule!r} names no file")
        for path in row.paths:
            if not (BACKEND_DIR / path).exists():
                problems.append(f"{row.rule!r}: {path} does not exist")
        for name, path in row.names:
            if path is None or not path.endswith(".py"):
                problems.append(f"{row.rule!r}: `{name}` follows no Python file")
            elif (BACKEND_DIR / path).exists() and name not in _defined(BACKEND_DIR / path):
                problems.append(f"{row.rule!r}: `{name}` is not defined in {path}")
    return problems


def test_the_readme_table_names_files_that_exist_and_code_defined_in_them() -> None:
    problems = _table_problems(readme_rows(README.read_text()))
    assert not problems, "\n".join(problems)


def test_each_rule_checked_here_is_in_the_readme_table_with_the_same_homes() -> None:
    rows = {row.rule: row for row in readme_rows(README.read_text())}
    for name, rule in RULES.items():
        assert name in rows, f"the README table has no row {name!r}"
        assert sorted(rows[name].paths) == sorted(rule.homes), name


def test_the_table_check_catches_a_wrong_row() -> None:
    rows = readme_rows(
        "\n".join(
            [
                TABLE_HEADING,
                "",
                "| Rule | Its one home |",
                "|---|---|",
                "| moved | `app/core/gone.py` `anything` |",
                "| renamed | `app/core/types.py` `DateRangeOld`, `DateRange` |",
                "| method | `app/integrations/fmp/client.py` `FmpClient.from_settings` |",
                "| no file | `DateRange` |",
                "| prose only | the models |",
                "",
                "## Next section",
            ]
        )
    )
    assert [row.rule for row in rows] == ["moved", "renamed", "method", "no file", "prose only"]
    assert _table_problems(rows) == [
        "'moved': app/core/gone.py does not exist",
        "'renamed': `DateRangeOld` is not defined in app/core/types.py",
        "'no file' names no file",
        "'no file': `DateRange` follows no Python file",
        "'prose only' names no file",
    ]


# --- the layout (docs/development.md) -------------------------------------------------


def _layout(text: str) -> str:
    """The code block of the Layout section of docs/development.md."""
    section = text.split(LAYOUT_HEADING, 1)[1]
    return section.split("```", 2)[1]


def test_the_layout_names_every_package_and_core_module() -> None:
    layout = _layout(DEVELOPMENT.read_text())
    app = BACKEND_DIR / "app"
    expected = [
        *(f"{path.name}/" for path in sorted(BACKEND_DIR.iterdir()) if _is_source_dir(path)),
        *(f"{path.parent.relative_to(app).as_posix()}/" for path in app.glob("*/**/__init__.py")),
        *(path.name for path in sorted(app.glob("*.py")) if path.name != "__init__.py"),
    ]
    words = set(re.findall(r"[\w.]+", layout))
    missing = [name for name in expected if name not in layout]
    missing += [
        f"core/{path.stem}"
        for path in sorted((app / "core").glob("*.py"))
        if path.stem != "__init__" and path.stem not in words
    ]
    assert missing == [], f"docs/development.md's layout does not name {missing}"


def _is_source_dir(path: Path) -> bool:
    """A folder of backend/ that the repository holds (not .pgdata/, caches)."""
    return path.is_dir() and not path.name.startswith((".", "__"))
