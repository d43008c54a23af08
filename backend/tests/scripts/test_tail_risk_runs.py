"""The tail-risk and as-held figures through calculate_risk_metrics.py: a --from/--to run
stores exactly what --date runs store, with history long enough for every figure; the
RISK_FREE_RATE setting reaches Sharpe and Sortino; the stored figures are the formulas'
on the engine's own return series (empyrical, to the columns' scale); and the direct beta
parts from the weighted one for a book that changed."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import empyrical
import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.models import DailyPrice, Portfolio, Position
from app.prices.demo import demo_calendar
from devtools.databases import TestDatabase, subprocess_env
from tests.support.cli import run_script

pytestmark = pytest.mark.usefixtures("clean_tables")

END = date(2025, 10, 17)
DAYS = 330  # more than the 21 + 252 returns a VaR needs
CALENDAR = demo_calendar(END, DAYS)
FROM, TO = CALENDAR[-6], CALENDAR[-1]
SOLD = CALENDAR[-40]  # the book changes inside the beta window
NEW_COLUMNS = (
    "var_95_1d",
    "var_99_1d",
    "expected_shortfall_975_1d",
    "var_method",
    "max_drawdown_252d",
    "current_drawdown",
    "sharpe_252d",
    "sortino_252d",
    "realized_max_drawdown_252d",
)
_DUMP = (
    "SELECT calculation_date::text, (to_jsonb(s) - 'id' - 'created_at' - 'updated_at')::text"
    " FROM portfolio_snapshots s ORDER BY 1"
)


def _closes() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    market = rng.normal(0.0003, 0.01, DAYS) * np.exp(np.cumsum(rng.normal(0, 0.05, DAYS)))
    out = {"SPY": 400 * np.cumprod(1 + market)}
    for symbol, beta in {"AAA": 1.4, "BBB": 0.3, "CCC": -0.5}.items():
        out[symbol] = 50 * np.cumprod(1 + beta * market + rng.normal(0, 0.012, DAYS))
    return {s: np.round(v, 6) for s, v in out.items()}


def _seed(database: TestDatabase) -> uuid.UUID:
    engine = create_engine(database.sync_url)
    portfolio = uuid.uuid4()
    held = {
        "entry_price": 50,
        "entry_date": CALENDAR[0],
        "exit_date": None,  # every row names the same columns (one INSERT)
        "portfolio_id": portfolio,
    }
    with engine.begin() as conn:
        conn.execute(
            pg_insert(DailyPrice),
            [
                {"symbol": s, "date": d, "close": p, "adjusted_close": p, "source": "DEMO"}
                for s, closes in _closes().items()
                for d, p in zip(CALENDAR, closes.tolist(), strict=True)
            ],
        )
        conn.execute(
            pg_insert(Portfolio), [{"id": portfolio, "name": "Tail", "equity_balance": 60_000}]
        )
        conn.execute(
            pg_insert(Position),
            [
                {**held, "symbol": "AAA", "position_type": "LONG", "quantity": 400},
                {**held, "symbol": "BBB", "position_type": "SHORT", "quantity": 300},
                # Sold inside the window: held each day before SOLD, not in today's book.
                {
                    **held,
                    "symbol": "CCC",
                    "position_type": "LONG",
                    "quantity": 900,
                    "exit_date": SOLD,
                },
            ],
        )
    engine.dispose()
    return portfolio


def _cli(database: TestDatabase, *args: str, rate: str = "0.03") -> None:
    env = subprocess_env(database, RISK_FREE_RATE=rate)
    run = run_script("calculate_risk_metrics", *args, env=env)
    assert run.code == 0, run.output


def test_range_and_date_runs_store_the_same_tail_risk_and_as_held_figures(
    database: TestDatabase,
) -> None:
    _seed(database)
    _cli(database, "--from", FROM.isoformat(), "--to", TO.isoformat())
    by_range = database.rows(_DUMP)
    assert len(by_range) == 6
    database.rows("TRUNCATE position_market_betas, position_volatility, portfolio_snapshots")
    for day in CALENDAR[-6:]:
        _cli(database, "--date", day.isoformat())
    assert database.rows(_DUMP) == by_range

    columns = ", ".join(NEW_COLUMNS)
    stored = database.rows(f"SELECT {columns} FROM portfolio_snapshots")  # noqa: S608
    assert all(value is not None for row in stored for value in row)
    assert {row[3] for row in stored} == {"FHS_EWMA90_GPD"}
    for var_95, var_99, es, *_ in stored:
        assert 0 < var_95 < min(var_99, es)  # type: ignore[operator]


def test_stored_figures_are_empyrical_on_the_holdings_series_and_the_rate_counts(
    database: TestDatabase,
) -> None:
    _seed(database)
    closes = _closes()
    returns = {s: c[1:] / c[:-1] - 1 for s, c in closes.items()}
    # Today's book (AAA long, BBB short) applied to the past, over equity.
    exposure = {"AAA": 400 * closes["AAA"][-1], "BBB": -300 * closes["BBB"][-1]}
    holdings = sum(exposure[s] * returns[s] for s in exposure) / 60_000
    window = holdings[-252:]
    for rate in ("0", "0.05"):
        _cli(database, "--date", TO.isoformat(), rate=rate)
        ((mdd, current, sharpe, sortino),) = database.rows(
            "SELECT max_drawdown_252d, current_drawdown, sharpe_252d, sortino_252d"
            " FROM portfolio_snapshots",
        )
        rf = (1 + float(rate)) ** (1 / 252) - 1
        assert mdd == Decimal(f"{-empyrical.max_drawdown(window):.6f}")
        wealth = np.cumprod(1 + window)
        assert current == Decimal(f"{1 - wealth[-1] / max(wealth.max(), 1):.6f}")
        assert sharpe == Decimal(f"{empyrical.sharpe_ratio(window, risk_free=rf):.4f}")
        assert sortino == Decimal(f"{empyrical.sortino_ratio(window, required_return=rf):.4f}")
    assert sharpe < Decimal(f"{empyrical.sharpe_ratio(window):.4f}")  # 5 % is a hurdle


def test_the_direct_beta_of_a_book_that_changed_parts_from_the_weighted_one(
    database: TestDatabase,
) -> None:
    _seed(database)
    _cli(database, "--date", TO.isoformat())
    ((weighted, direct, realized),) = database.rows(
        "SELECT market_beta_weighted, market_beta_direct, realized_max_drawdown_252d"
        " FROM portfolio_snapshots",
    )
    closes = _closes()
    returns = {s: c[1:] / c[:-1] - 1 for s, c in closes.items()}
    # As held: CCC until the day before SOLD, each position at its previous close.
    sold_row = CALENDAR.index(SOLD)
    size = {"AAA": 400.0, "BBB": -300.0, "CCC": 900.0}
    held_ccc = np.arange(DAYS - 1) < sold_row  # return row t: the book of price row t
    as_held = (
        sum(size[s] * closes[s][:-1] * returns[s] * (held_ccc if s == "CCC" else 1.0) for s in size)
        / 60_000
    )
    x = returns["SPY"][-90:]
    y = as_held[-90:]
    expected = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert direct == Decimal(f"{expected:.4f}")
    assert abs(direct - weighted) > Decimal("0.1")  # type: ignore[operator]
    assert realized == Decimal(f"{-empyrical.max_drawdown(as_held[-252:]):.6f}")
