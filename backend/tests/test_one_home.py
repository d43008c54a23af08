"""Each rule is written in one place: its tell-tale appears in backend/app only there.

A rule stated twice is fixed in only one of its places the day it changes; these tests
fail when a second statement appears, and say where.
"""

from __future__ import annotations

import re

import pytest

from app.config import BACKEND_DIR

APP = BACKEND_DIR / "app"

# rule: (tell-tale, the files or folders under backend/app where it may appear)
HOMES: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "soft delete (live rows)": (
        re.compile(r"\bdeleted_at\b"),
        ("models/", "core/repository.py"),
    ),
    "portfolio visibility (live, and the owner's)": (
        re.compile(r"\bowner_id\s*=="),
        ("portfolios/repository.py",),
    ),
    "held at the close of a day": (
        re.compile(
            r"\b(?:exit_date|expiration_date)\b\s*(?:[<>]=?|[-+]|\.is_)"
            r"|(?:[<>]=?)\s*[\w.]*\b(?:exit_date|expiration_date)\b"
        ),
        ("portfolios/repository.py",),
    ),
    "what a NUMERIC(precision, scale) column holds": (
        re.compile(r"precision\s*-\s*scale"),
        ("core/numeric_fit.py",),
    ),
    "no date after the market index's last price": (
        re.compile(r"\blast_trading_day\("),
        # portfolios/service.py only shows the date, as the end of the range to calculate.
        ("prices/repository.py", "risk_metrics/runs.py", "portfolios/service.py"),
    ),
    "a write to a portfolio locks its row first": (
        re.compile(r"\bwith_for_update\("),
        ("portfolios/store.py",),
    ),
    "stale marks: moved back by a change, cleared by a run that saw them": (
        re.compile(r"\.values\(\s*stale_from\s*="),
        ("portfolios/store.py",),
    ),
    "what an OCC option symbol is": (
        re.compile(r"\[CP\]"),
        ("portfolios/occ.py",),
    ),
    "the rules of a book (fields, limits), for the API, CSV and CLI alike": (
        re.compile(r"\bMAX_POSITIONS\s*="),
        ("portfolios/rules.py",),
    ),
}


def _outside_home(pattern: re.Pattern[str], homes: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        relative = path.relative_to(APP).as_posix()
        if any(relative == home or relative.startswith(home) for home in homes):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                found.append(f"app/{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("rule", HOMES)
def test_a_rule_is_written_only_in_its_home(rule: str) -> None:
    pattern, homes = HOMES[rule]
    assert _outside_home(pattern, homes) == [], f"{rule}: its home is {', '.join(homes)}"


@pytest.mark.parametrize("rule", HOMES)
def test_each_home_states_its_rule(rule: str) -> None:
    # A tell-tale that matches nothing would let any second statement through unseen.
    pattern, homes = HOMES[rule]
    texts = [
        path.read_text()
        for home in homes
        for path in ([APP / home] if home.endswith(".py") else sorted((APP / home).rglob("*.py")))
    ]
    assert any(pattern.search(text) for text in texts), f"{rule}: not found in {homes}"


def test_the_tell_tales_catch_a_second_statement() -> None:
    samples = {
        "soft delete (live rows)": "stmt.where(Position.deleted_at.is_(None))",
        "portfolio visibility (live, and the owner's)": "clauses.append(t.c.owner_id == owner)",
        "held at the close of a day": "or_(Position.exit_date.is_(None), Position.exit_date > d)",
        "what a NUMERIC(precision, scale) column holds": "limit = 10.0 ** (precision - scale)",
        "no date after the market index's last price": "last = await last_trading_day(s)",
        "a write to a portfolio locks its row first": "select(Portfolio).with_for_update()",
        "stale marks: moved back by a change, cleared by a run that saw them": (
            "update(portfolios).values(stale_from=None)"
        ),
        "what an OCC option symbol is": r're.compile(r"(\w+)(\d{6})([CP])(\d{8})")',
        "the rules of a book (fields, limits), for the API, CSV and CLI alike": (
            "MAX_POSITIONS = 10_000"
        ),
    }
    assert samples.keys() == HOMES.keys()
    for rule, line in samples.items():
        assert HOMES[rule][0].search(line), rule
