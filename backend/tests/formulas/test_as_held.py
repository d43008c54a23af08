"""The book as it was held each day: its return series against a day-by-day loop, its
direct beta against statsmodels and against the weighted beta, its realized drawdown
against empyrical."""

from __future__ import annotations

import empyrical
import numpy as np
import pytest
import statsmodels.api as sm

from app.formulas.as_held import AsHeldBook, as_held_at, as_held_returns
from tests.formulas.helpers import book_on_last_day

DAYS = 300
WINDOW = 90


def _prices(seed: int = 0, series: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    market_r = rng.normal(0.0003, 0.011, DAYS - 1)
    betas = np.array([1.4, 0.5, -0.3, 0.9, 1.1])[:series]
    asset_r = market_r[:, None] * betas + rng.normal(0, 0.012, (DAYS - 1, series))
    prices = 50 * np.cumprod(np.vstack([np.ones((1, series)), 1 + asset_r]), axis=0)
    market = 400 * np.cumprod(np.r_[1.0, 1 + market_r])
    return prices, market


def _book(series: list[int], size: list[float], first: list[int], last: list[int]) -> AsHeldBook:
    return AsHeldBook(
        np.array(series, dtype=np.intp),
        np.array(size, dtype=np.float64),
        np.array(first, dtype=np.intp),
        np.array(last, dtype=np.intp),
    )


def _loop(prices: np.ndarray, book: AsHeldBook, equity: float | None) -> np.ndarray:
    """The as-held return day by day, position by position."""
    out = np.full(prices.shape[0] - 1, np.nan)
    for t in range(1, prices.shape[0]):
        held = [i for i in range(book.size.size) if book.first_row[i] <= t - 1 <= book.last_row[i]]
        if not held:
            continue
        pnl = gross = 0.0
        for i in held:
            s = book.series[i]
            exposure = book.size[i] * prices[t - 1, s]
            pnl += exposure * (prices[t, s] / prices[t - 1, s] - 1)
            gross += abs(exposure)
        out[t - 1] = pnl / (equity if equity else gross)
    return out


@pytest.mark.parametrize("equity", [None, 250_000.0])
def test_the_series_is_the_previous_close_book_day_by_day(equity: float | None) -> None:
    prices, _ = _prices(seed=1)
    book = _book(
        series=[0, 1, 2, 0],
        size=[300.0, -400.0, 200.0, 100.0],
        first=[0, 50, 0, 120],
        last=[DAYS - 1, DAYS - 1, 200, 260],  # C sold after row 200, the second A lot after 260
    )
    got = as_held_returns(prices, book, equity)
    assert got == pytest.approx(_loop(prices, book, equity), abs=1e-15, nan_ok=True)


def test_direct_beta_is_statsmodels_ols_of_the_as_held_series() -> None:
    prices, market = _prices(seed=2)
    book = _book([0, 1], [300.0, -200.0], [0, DAYS - 40], [DAYS - 1, DAYS - 1])
    result = as_held_at(prices, market, book, np.array([DAYS - 1]), None, beta_window=WINDOW)
    series = _loop(prices, book, None)[-WINDOW:]
    market_r = market[1:] / market[:-1] - 1
    fit = sm.OLS(series, sm.add_constant(market_r[-WINDOW:])).fit()
    assert result.market_beta_direct[0] == pytest.approx(fit.params[1], abs=1e-12)
    assert result.beta_reason == [None]


def test_a_static_one_series_book_without_equity_gives_the_weighted_beta() -> None:
    """Weights that cannot drift (one series, the gross as denominator) and a book that
    never changed: the as-held series is the holdings series, so the two betas agree."""
    prices, market = _prices(seed=3, series=1)
    book = _book([0, 0], [300.0, 100.0], [0, 0], [DAYS - 1, DAYS - 1])
    result = as_held_at(prices, market, book, np.array([DAYS - 1]), None, beta_window=WINDOW)
    exposures = book.size * prices[-1, 0]
    weighted = book_on_last_day(prices, market, ["A"], book.series, exposures, None, {"A": None})
    assert result.market_beta_direct[0] == pytest.approx(
        weighted.portfolio.market_beta_weighted, abs=1e-12
    )


def test_a_book_that_changed_in_the_window_parts_from_the_weighted_beta() -> None:
    """Today's book (A long, C short) was B long until 30 days ago: the weighted beta
    applies today's book to the whole window, the direct beta regresses what was held."""
    prices, market = _prices(seed=4)
    book = _book(
        [1, 0, 2], [500.0, 300.0, -200.0], [0, DAYS - 30, DAYS - 30], [DAYS - 31, *[DAYS - 1] * 2]
    )
    result = as_held_at(prices, market, book, np.array([DAYS - 1]), None, beta_window=WINDOW)
    today = np.array([300.0 * prices[-1, 0], -200.0 * prices[-1, 2]])
    weighted = book_on_last_day(
        prices, market, ["A", "B", "C"], np.array([0, 2]), today, None, dict.fromkeys("ABC")
    ).portfolio.market_beta_weighted
    assert weighted is not None
    assert abs(result.market_beta_direct[0] - weighted) > 0.2


def test_a_static_book_drifts_apart_with_prices_over_equity() -> None:
    """The same book all along, but two series whose prices part: the weights drift, so
    the as-held series is not today's book applied to the past."""
    prices, market = _prices(seed=5, series=2)
    prices[:, 1] *= np.linspace(2.0, 0.5, DAYS)[:, None].ravel()  # B falls steadily
    book = _book([0, 1], [300.0, 300.0], [0, 0], [DAYS - 1, DAYS - 1])
    result = as_held_at(prices, market, book, np.array([DAYS - 1]), 100_000.0, beta_window=WINDOW)
    today = book.size * prices[-1]
    weighted = book_on_last_day(
        prices, market, ["A", "B"], book.series, today, 100_000.0, dict.fromkeys("AB")
    ).portfolio.market_beta_weighted
    assert result.market_beta_direct[0] != pytest.approx(weighted, abs=1e-3)


def test_realized_drawdown_is_empyrical_on_the_last_252_as_held_returns() -> None:
    prices, market = _prices(seed=6)
    book = _book([0, 1, 2], [300.0, -100.0, 200.0], [0, 0, 100], [DAYS - 1, 150, DAYS - 1])
    ends = np.array([260, DAYS - 1])
    result = as_held_at(prices, market, book, ends, None, beta_window=WINDOW)
    series = _loop(prices, book, None)
    for k, end in enumerate(ends - 1):
        window = np.nan_to_num(series[end - 251 : end + 1])
        expected = -empyrical.max_drawdown(window)
        assert result.realized_max_drawdown_252d[k] == pytest.approx(expected, abs=1e-12)
        assert result.drawdown_reason[k] is None


def test_short_history_nothing_held_and_a_missing_close_are_reasons_not_figures() -> None:
    prices, market = _prices(seed=7)
    book = _book([0], [100.0], [0], [DAYS - 1])
    short = as_held_at(prices, market, book, np.array([200]), None, beta_window=WINDOW)
    assert np.isnan(short.realized_max_drawdown_252d[0])
    assert short.drawdown_reason[0] == "200 trading days before the date, fewer than 252"
    assert np.isfinite(short.market_beta_direct[0])

    sold_long_ago = _book([0], [100.0], [0], [10])
    empty = as_held_at(
        prices, market, sold_long_ago, np.array([DAYS - 1]), None, beta_window=WINDOW
    )
    assert np.isnan(empty.market_beta_direct[0])
    assert empty.beta_reason[0] == "0 aligned daily returns, fewer than 30"
    assert (
        empty.drawdown_reason[0] == "nothing held (or no close) on any of the last 252 trading days"
    )

    gap = prices.copy()
    gap[DAYS - 5, 0] = np.nan
    returns = as_held_returns(gap, book, None)
    assert np.isnan(returns[DAYS - 6]) and np.isnan(returns[DAYS - 5])  # into and out of it
    assert np.isfinite(returns[DAYS - 7])
