"""Portfolio figures of a whole book: denominators, coverage and the direct regression."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from app.formulas.exposure import signed_exposure
from tests.formulas.helpers import book_on_last_day


def _prices(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    return start * np.cumprod(np.vstack([np.ones((1, returns.shape[1])), 1 + returns]), axis=0)


def _book(days: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    market_r = rng.normal(0.0004, 0.01, days)
    betas = np.array([0.5, 1.0, 1.5, -0.3])
    asset_r = market_r[:, None] * betas + rng.normal(0, 0.01, (days, 4))
    return _prices(asset_r), _prices(market_r[:, None])[:, 0]


SYMBOLS = ["A", "B", "C", "D"]
SECTORS = {"A": "Energy", "B": "Energy", "C": "Utilities", "D": None}


def test_weighted_beta_is_signed_exposure_over_equity_and_equals_the_holdings_regression() -> None:
    prices, market = _book()
    exposures = np.array([30_000.0, -20_000.0, 40_000.0, 10_000.0])

    result = book_on_last_day(prices, market, SYMBOLS, np.arange(4), exposures, 50_000.0, SECTORS)
    betas = result.series_betas.beta
    fig = result.portfolio

    assert fig.beta_coverage == 1.0
    assert fig.market_beta_weighted == pytest.approx((exposures * betas).sum() / 50_000.0)
    # OLS is linear in y: regressing today's book applied to past returns, sum(E_i r_i)/D,
    # on the market gives the same number (why the direct beta is the as-held book's).
    asset_r = prices[1:] / prices[:-1] - 1
    market_r = market[1:] / market[:-1] - 1
    holdings = asset_r[-90:] @ exposures / 50_000.0
    fit = sm.OLS(holdings, sm.add_constant(market_r[-90:])).fit()
    assert fit.params[1] == pytest.approx(fig.market_beta_weighted, abs=1e-12)
    r2 = result.series_betas.r_squared
    assert fig.market_beta_r_squared == pytest.approx((np.abs(exposures) * r2).sum() / 100_000)
    assert fig.market_beta_observations == 90
    assert fig.gross_exposure == 100_000 and fig.net_exposure == 60_000
    assert fig.long_exposure == 80_000 and fig.short_exposure == -20_000


def test_exposure_without_beta_is_reported_as_coverage_not_counted_as_beta_zero() -> None:
    prices, market = _book(seed=1)
    prices[:-20, 3] = np.nan  # D listed 20 days ago: too short for a beta
    exposures = np.array([30_000.0, 30_000.0, 30_000.0, 10_000.0])

    result = book_on_last_day(prices, market, SYMBOLS, np.arange(4), exposures, 100_000.0, SECTORS)
    betas = result.series_betas.beta
    fig = result.portfolio

    assert np.isnan(betas[3])
    assert fig.beta_coverage == pytest.approx(0.9)
    covered = (exposures[:3] * betas[:3]).sum() / 100_000.0
    assert fig.market_beta_weighted == pytest.approx(covered / 0.9)
    assert fig.market_beta_weighted != pytest.approx(covered)  # not beta 0 for D


def test_missing_equity_falls_back_to_gross_exposure() -> None:
    prices, market = _book()
    exposures = np.array([50.0, 50.0, 0.0, 0.0])
    for equity in (None, 0.0, -5.0):
        fig = book_on_last_day(prices, market, SYMBOLS, np.arange(4), exposures, equity, SECTORS)
        assert fig.portfolio.denominator == 100.0 and not fig.portfolio.denominator_is_equity


def test_two_perfectly_anticorrelated_positions_give_near_zero_portfolio_vol() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(0, 0.02, 300)
    # Prices whose daily returns are exactly opposite: log-returns would not be, simple are.
    prices = _prices(np.column_stack([a, -a]))
    market = _prices(rng.normal(0, 0.01, (300, 1)))[:, 0]
    result = book_on_last_day(
        prices, market, ["X", "Y"], np.arange(2), np.array([1e6, 1e6]), 2e6, {}
    )
    port_vol = result.portfolio.volatility
    assert port_vol is not None
    assert port_vol.realized_vol_21d[0] == pytest.approx(0.0, abs=1e-9)
    assert port_vol.realized_vol_63d[0] == pytest.approx(0.0, abs=1e-9)
    assert result.series_volatility.realized_vol_21d.min() > 0.2


def test_two_lots_of_one_series_and_an_option_on_it_share_the_series_figures() -> None:
    prices, market = _book()
    close_b = prices[-1, 1]
    exposures = np.array(
        [
            signed_exposure("LONG", 100, close_b),
            signed_exposure("LONG", 50, close_b),
            signed_exposure("LP", 2, close_b),  # long put: negative, 200 shares' notional
        ]
    )
    result = book_on_last_day(
        prices, market, SYMBOLS, np.array([1, 1, 1]), exposures, None, SECTORS
    )
    conc = result.portfolio.concentration
    assert conc is not None and conc.weights == {"B": pytest.approx(1.0)}
    # Lots are netted per symbol first: 150 - 200 = -50 shares of B, the whole netted book.
    assert result.portfolio.sector_exposure == pytest.approx({"Energy": -1.0})
    # The snapshot's gross exposure is per position (not netted): 150 + 200 shares.
    assert result.portfolio.gross_exposure == pytest.approx(350 * close_b)


def test_lots_are_netted_per_symbol_before_concentration_weights() -> None:
    prices, market = _book()
    # A in two lots (60 + 20), B short 40, C long 80: netted gross = 80 + 40 + 80 = 200.
    cols = np.array([0, 1, 0, 2])
    exposures = np.array([60.0, -40.0, 20.0, 80.0])
    fig = book_on_last_day(prices, market, SYMBOLS, cols, exposures, None, SECTORS).portfolio
    assert fig.concentration is not None
    assert fig.concentration.weights == pytest.approx({"A": 0.4, "C": 0.4, "B": 0.2})
    assert fig.concentration.gross_exposure == pytest.approx(200.0)
    assert fig.sector_exposure == pytest.approx({"Energy": 0.2, "Utilities": 0.4})


def test_lots_that_net_to_zero_have_no_concentration() -> None:
    prices, market = _book()
    book = book_on_last_day(
        prices, market, SYMBOLS, np.array([0, 0]), np.array([10.0, -10.0]), None, SECTORS
    )
    assert book.portfolio.concentration is None and book.portfolio.sector_exposure == {}
    assert book.portfolio.gross_exposure == 20.0  # per position: the lots do not net here


def test_zero_exposure_book_has_no_portfolio_figures() -> None:
    prices, market = _book()
    fig = book_on_last_day(
        prices, market, SYMBOLS, np.arange(4), np.zeros(4), 1e5, SECTORS
    ).portfolio
    assert fig.market_beta_weighted is None
    assert fig.concentration is None and fig.volatility is None and fig.sector_exposure == {}
    assert fig.beta_coverage == 0.0


@pytest.mark.parametrize(
    ("position_type", "quantity", "expected"),
    [
        ("LONG", 10, 500.0),
        ("SHORT", 10, -500.0),
        ("SHORT", -10, -500.0),  # a negative stored quantity is not a double negative
        ("LC", 1, 5_000.0),
        ("SP", -1, 5_000.0),
        ("LP", 1, -5_000.0),
        ("SC", 2, -10_000.0),
    ],
)
def test_signed_exposure(position_type: str, quantity: float, expected: float) -> None:
    assert signed_exposure(position_type, quantity, 50.0) == expected


def test_unknown_position_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown position type"):
        signed_exposure("FUTURE", 1, 1.0)
