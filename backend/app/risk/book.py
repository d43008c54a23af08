"""Everything the engine stores for one portfolio on one date, from arrays.

The caller supplies a price panel on the market's trading-day calendar (one column per
distinct series: a stock's own symbol, an option's underlying), each position's series
and signed exposure, and the portfolio's equity. Positions share their series' beta and
volatility; the portfolio figures come from exposures and the portfolio's own return
series.

Denominators (stated once, also in the README):
- ``market_beta_weighted`` = sum_i E_i beta_i / D / coverage over positions that have a
  beta, with E_i the signed exposure and D the portfolio's equity (``equity_balance``;
  the book's gross exposure when equity is unknown or not positive). ``coverage`` is the
  share of gross exposure that has a beta: exposure without one is scaled over (assumed
  to look like the covered book), never counted as beta 0; coverage is reported.
- ``market_beta_r_squared`` = sum |E_i| r2_i / sum |E_i| over the same positions
  (absolute weights: a short's fit is not a negative fit).
- ``market_beta_direct`` = OLS beta of the portfolio return series sum_i E_i r_i,t / D
  on the market's, over the same window.
- Portfolio volatility figures come from that return series (never weighted position
  vols); concentration and sector weights are shares of gross exposure (concentration.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.risk.beta import BetaResult, ols_beta
from app.risk.concentration import Concentration, concentration, sector_exposure
from app.risk.returns import FloatArray, portfolio_returns, simple_returns
from app.risk.volatility import VolatilityResult, volatility_metrics

DEFAULT_BETA_WINDOW = 90


@dataclass(frozen=True)
class PortfolioFigures:
    market_beta_weighted: float | None
    market_beta_r_squared: float | None
    market_beta_observations: int | None
    market_beta_direct: float | None
    beta_coverage: float
    """Share of gross exposure whose position has a beta (0..1)."""
    denominator: float
    denominator_is_equity: bool
    concentration: Concentration | None
    sector_exposure: dict[str, float]
    volatility: VolatilityResult | None
    gross_exposure: float
    net_exposure: float
    long_exposure: float
    short_exposure: float


@dataclass(frozen=True)
class BookRisk:
    series_betas: BetaResult
    series_volatility: VolatilityResult
    portfolio: PortfolioFigures


def analyse_book(
    prices: FloatArray,
    market_prices: FloatArray,
    series_symbols: Sequence[str],
    position_series: NDArray[np.intp],
    exposures: FloatArray,
    equity: float | None,
    sectors: Mapping[str, str | None],
    *,
    beta_window: int = DEFAULT_BETA_WINDOW,
) -> BookRisk:
    """Betas and volatility per series, and the portfolio's figures.

    prices: (days, series) closes on the market's calendar, NaN where missing, last row =
    the calculation date. position_series: for each position, its column in ``prices``.
    exposures: signed exposure per position (NaN when it has no price: left out of
    every portfolio figure and of coverage's denominator alike).
    """
    returns = simple_returns(prices)
    market = simple_returns(np.asarray(market_prices, dtype=np.float64).reshape(-1, 1))[:, 0]
    betas = ols_beta(returns[-beta_window:], market[-beta_window:])
    vols = volatility_metrics(returns)

    e = np.asarray(exposures, dtype=np.float64)
    priced = np.isfinite(e)
    e_priced = np.where(priced, e, 0.0)
    gross = float(np.abs(e_priced).sum())
    denominator_is_equity = equity is not None and np.isfinite(equity) and equity > 0
    denominator = float(equity) if denominator_is_equity else gross  # type: ignore[arg-type]

    pos_beta = betas.beta[position_series]
    has_beta = priced & np.isfinite(pos_beta)
    covered_gross = float(np.abs(e_priced[has_beta]).sum())
    coverage = covered_gross / gross if gross > 0 else 0.0

    weighted = r2 = direct = None
    min_obs: int | None = None
    port_vol: VolatilityResult | None = None
    if gross > 0 and denominator > 0:
        if covered_gross > 0:
            weighted = float((e_priced[has_beta] * pos_beta[has_beta]).sum() / denominator)
            weighted /= coverage
            r2_pos = betas.r_squared[position_series][has_beta]
            r2 = float((np.abs(e_priced[has_beta]) * r2_pos).sum() / covered_gross)
            min_obs = int(betas.observations[position_series][has_beta].min())
        # Each position contributes its series' return; one series held twice counts twice.
        port = portfolio_returns(returns[:, position_series], e_priced, denominator)
        direct_fit = ols_beta(port[-beta_window:], market[-beta_window:])
        direct = float(direct_fit.beta[0]) if direct_fit.valid[0] else None
        if np.isfinite(port).any():
            port_vol = volatility_metrics(port)

    held_symbols = [series_symbols[i] for i in position_series[priced].tolist()]
    figures = PortfolioFigures(
        market_beta_weighted=weighted,
        market_beta_r_squared=r2,
        market_beta_observations=min_obs,
        market_beta_direct=direct,
        beta_coverage=coverage,
        denominator=denominator,
        denominator_is_equity=bool(denominator_is_equity),
        concentration=concentration(held_symbols, e[priced]),
        sector_exposure=sector_exposure(held_symbols, e[priced], sectors),
        volatility=port_vol,
        gross_exposure=gross,
        net_exposure=float(e_priced.sum()),
        long_exposure=float(e_priced[e_priced > 0].sum()),
        short_exposure=float(e_priced[e_priced < 0].sum()),
    )
    return BookRisk(series_betas=betas, series_volatility=vols, portfolio=figures)
