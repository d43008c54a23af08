"""Factor exposures through calculate_risk_metrics.py: a --from/--to run stores exactly the
rows that --date runs store, a re-run replaces them, --delete removes them, and a factor
whose ETF has no prices is NULL with its reason while the others are estimated.

The book is test_backfill's (positions entering, leaving and expiring inside the range,
an option, a series with holes, one whose prices stop, one listed mid-range, a portfolio
without equity, an empty one), with the factors' ETFs priced except MTUM."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.factors.definitions import default_factors
from app.factors.synthetic import etf_returns
from app.models import DailyPrice
from devtools.databases import TestDatabase, subprocess_env
from perf.factor_recovery import factor_returns
from tests.scripts.test_backfill import CALENDAR, DAYS, FROM, TO, _cli, _seed
from tests.support.cli import run_script
from tests.support.factories import price_rows_from_returns

pytestmark = pytest.mark.usefixtures("clean_tables")

_FACTOR_DUMP = """
SELECT 'p', portfolio_id::text, position_id::text, calculation_date::text, factor,
  concat_ws('|', window_days, exposure, std_error, t_stat, r_squared, specific_volatility,
  condition_number, observations, estimator, null_reason)
FROM position_factor_exposures
UNION ALL
SELECT 'P', portfolio_id::text, '', calculation_date::text, factor,
  concat_ws('|', window_days, exposure, coverage, r_squared, specific_volatility,
  observations, estimator, ridge_positions, null_reason)
FROM portfolio_factor_exposures
ORDER BY 1, 2, 3, 4, 5
"""


def _seed_factor_etfs(database: TestDatabase) -> None:
    """The factors' ETFs on the calendar (SPY is the test book's own), without MTUM."""
    rng = np.random.default_rng(25)
    stored = database.rows(
        "SELECT adjusted_close::float8 FROM daily_prices WHERE symbol = 'SPY' ORDER BY date",
    )
    spy = np.array([p for (p,) in stored])
    f = factor_returns(rng, DAYS - 1, default_factors())
    f[:, 0] = spy[1:] / spy[:-1] - 1  # the market factor is the stored SPY's return
    returns = etf_returns(rng, f, default_factors())
    rows = price_rows_from_returns(
        {s: r for s, r in returns.items() if s not in ("SPY", "MTUM")}, CALENDAR
    )
    engine = create_engine(database.sync_url)
    with engine.begin() as conn:
        conn.execute(pg_insert(DailyPrice), rows)
    engine.dispose()


def _dump(database: TestDatabase) -> list[tuple[object, ...]]:
    return database.rows(_FACTOR_DUMP)


def test_a_range_run_stores_the_factor_rows_that_date_by_date_runs_store(
    database: TestDatabase,
) -> None:
    _seed(database)
    _seed_factor_etfs(database)
    _cli(database, "--from", FROM.isoformat(), "--to", TO.isoformat(), "--chunk-dates", "5")
    by_range = _dump(database)
    assert len({r[3] for r in by_range}) == 12

    database.rows("TRUNCATE position_factor_exposures, portfolio_factor_exposures")
    for day in CALENDAR[-12:]:
        _cli(database, "--date", day.isoformat())
    assert _dump(database) == by_range

    # Every held position has a row per factor and date; MTUM's factor is NULL with its
    # reason, the others are estimated where the position's prices allow.
    counts = database.rows(
        "SELECT factor, count(*), count(exposure), min(null_reason)"
        " FROM position_factor_exposures GROUP BY factor ORDER BY factor",
    )
    per_factor = {factor: (n, estimated, reason) for factor, n, estimated, reason in counts}
    assert len(per_factor) == 7
    assert len({n for n, _, _ in per_factor.values()}) == 1
    n, estimated, reason = per_factor["MOMENTUM"]
    assert estimated == 0
    assert reason == "MTUM - SPY: daily returns in the 90-day window (MTUM 0), fewer than 72"
    assert 0 < per_factor["VALUE"][1] < n  # CCC (no recent prices) and EEE (young): NULL
    portfolio = database.rows(
        "SELECT p.name, count(*), count(f.exposure), max(f.r_squared)"
        " FROM portfolio_factor_exposures f JOIN portfolios p ON p.id = f.portfolio_id"
        " WHERE f.calculation_date = (SELECT max(calculation_date) FROM portfolio_factor_exposures)"
        " GROUP BY p.name ORDER BY p.name",
    )
    assert [(name, rows, with_exposure) for name, rows, with_exposure, _ in portfolio] == [
        ("Book", 7, 6),
        ("Empty", 7, 0),
        ("No equity", 7, 6),
    ]
    assert 0 < float(portfolio[0][3]) <= 1

    # A re-run of the range replaces the rows with the same ones.
    _cli(database, "--from", FROM.isoformat(), "--to", TO.isoformat())
    assert _dump(database) == by_range


def test_delete_removes_the_factor_rows_of_its_dates(database: TestDatabase) -> None:
    _seed(database)
    _seed_factor_etfs(database)
    _cli(database, "--from", FROM.isoformat(), "--to", TO.isoformat())
    deleted = run_script(
        "calculate_risk_metrics",
        *("--delete", "--from", FROM.isoformat(), "--to", CALENDAR[-2].isoformat()),
        env=subprocess_env(database),
    )
    assert deleted.code == 0, deleted.output
    left = {(r[0], r[3]) for r in _dump(database)}
    assert left == {("p", TO.isoformat()), ("P", TO.isoformat())}


def test_the_window_is_the_beta_window(database: TestDatabase) -> None:
    _seed(database)
    _seed_factor_etfs(database)
    _cli(database, "--date", TO.isoformat(), "--window-days", "60")
    windows = database.rows(
        "SELECT window_days, max(observations) FROM position_factor_exposures GROUP BY 1",
    )
    assert windows == [(60, 60)]
