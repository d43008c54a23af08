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
  to look like the covered book), never counted as beta 0; coverage is reported. Gross
  exposure here includes the ``uncovered`` exposure of positions left out for want of a
  fresh price (app.formulas.freshness): they count as exposure without a beta.
- ``market_beta_r_squared`` = sum |E_i| r2_i / sum |E_i| over the same positions
  (absolute weights: a short's fit is not a negative fit).
- The portfolio return series sum_i E_i r_i,t / D (``holdings_returns``: today's book
  applied to past returns) gives the portfolio volatility figures (never weighted
  position vols) and the tail-risk figures (app.formulas.tail_risk: VaR, expected
  shortfall, drawdown, Sharpe, Sortino). Its OLS beta would be ``market_beta_weighted``
  again (OLS is linear), so ``market_beta_direct`` comes from the book as it was held
  each day instead (app.formulas.as_held, computed beside this module by the engine).
- Concentration and sector weights are shares of gross exposure (concentration.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from app.formulas.beta import BetaResult, ols_beta_at
from app.formulas.concentration import Concentration, concentration_of_net, sector_exposure_of_net
from app.formulas.exposure import equity_denominator
from app.formulas.har import HarResult
from app.formulas.returns import FloatArray, holdings_returns, simple_returns
from app.formulas.tail_risk import TailRiskResult, tail_risk_at
from app.formulas.volatility import VolatilityResult, volatility_at

DEFAULT_BETA_WINDOW = 90


@dataclass(frozen=True)
class PortfolioFigures:
    market_beta_weighted: float | None
    market_beta_r_squared: float | None
    market_beta_observations: int | None
    beta_coverage: float | None
    """Share of gross exposure (uncovered exposure included) whose position has a beta
    (0..1); None when the uncovered exposure is unknown."""
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
class BookRiskDates:
    """What the engine stores at many dates: series figures (dates, series), the
    portfolio's figures per date."""

    series_betas: BetaResult
    series_volatility: VolatilityResult
    portfolio: list[PortfolioFigures]
    tail_risk: TailRiskResult
    """Date k's tail-risk figures at index k, from its holdings return series."""


def _diagonal(v: VolatilityResult) -> VolatilityResult:
    """Date k's figures of column k: (dates, dates) -> (dates, 1)."""
    k = np.arange(v.realized_vol_21d.shape[0])

    def d(a: Any) -> Any:
        return a[k, k][:, None]

    har = HarResult(*(d(getattr(v.har, f.name)) for f in fields(HarResult)))
    return VolatilityResult(
        realized_vol_21d=d(v.realized_vol_21d),
        realized_vol_63d=d(v.realized_vol_63d),
        har=har,
        trend_code=d(v.trend_code),
        trend_strength=d(v.trend_strength),
        percentile=d(v.percentile),
        observations=d(v.observations),
    )


class _Book(NamedTuple):
    """One date's positions and the denominator of its portfolio figures."""

    e: FloatArray
    """Signed exposure per position, NaN without a price."""
    cols: NDArray[np.intp]
    priced: NDArray[np.bool_]
    e_priced: FloatArray
    """``e`` with 0 for a position without a price."""
    gross: float
    denominator: float
    by_equity: bool


def _book(exposures: FloatArray, position_series: NDArray[np.intp], equity: float | None) -> _Book:
    e = np.asarray(exposures, dtype=np.float64)
    priced = np.isfinite(e)
    e_priced = np.where(priced, e, 0.0)
    gross = float(np.abs(e_priced).sum())
    by_equity = (usable := equity_denominator(equity)) is not None
    denominator = usable if usable is not None else gross
    return _Book(
        e,
        np.asarray(position_series, dtype=np.intp),
        priced,
        e_priced,
        gross,
        denominator,
        bool(by_equity),
    )


def analyse_book_dates(
    prices: FloatArray,
    market_prices: FloatArray,
    series_symbols: Sequence[str],
    ends: NDArray[np.intp],
    position_series: Sequence[NDArray[np.intp]],
    exposures: Sequence[FloatArray],
    equity: float | None,
    sectors: Mapping[str, str | None],
    *,
    beta_window: int = DEFAULT_BETA_WINDOW,
    history: int | None = None,
    threads: int | None = None,
    uncovered: Sequence[float] | None = None,
    risk_free_rate: float = 0.0,
) -> BookRiskDates:
    """Betas and volatility per series, and the portfolio's figures, at each price row of
    ``ends`` (ascending), in one pass.

    prices: (days, series) closes on the market's calendar, NaN where missing. Date k is
    computed on rows max(0, ends[k] - history)..ends[k] (all rows up to it without a
    ``history`` cap), exactly as on that slice alone. Date k's book: for each position,
    its column in ``prices`` (``position_series[k]``) and its signed exposure
    (``exposures[k]``; NaN when it has no price: left out of every portfolio figure and
    of coverage's denominator alike, unless it is counted in ``uncovered``). ``uncovered[k]``:
    date k's gross exposure left out of its figures (default 0; NaN: unknown), which every
    coverage and concentration figure counts as exposure without a beta, a weight or a
    sector. ``threads``: see :data:`app.formulas.blocks.SERIES_THREADS`. ``risk_free_rate``:
    annual, as a fraction (Sharpe and Sortino).
    """
    returns = simple_returns(prices)
    market = simple_returns(np.asarray(market_prices, dtype=np.float64).reshape(-1, 1))[:, 0]
    t = np.asarray(ends, dtype=np.intp) - 1  # the last return row of each date
    betas = ols_beta_at(returns, market, t, window=beta_window, history=history, threads=threads)
    vols = volatility_at(returns, t, history=history, threads=threads)

    series = returns.shape[1]
    books = [_book(e, cols, equity) for e, cols in zip(exposures, position_series, strict=True)]
    port = holdings_returns(
        returns,
        [b.cols for b in books],
        [b.e_priced for b in books],
        [b.denominator for b in books],
    )
    port_vol = _diagonal(volatility_at(port, t, history=history, threads=threads))
    tail = tail_risk_at(port, t, history=history, risk_free_rate=risk_free_rate)

    sector_of = [sectors.get(s) for s in series_symbols]
    figures = []
    left_out = [0.0] * len(books) if uncovered is None else [float(u) for u in uncovered]
    for k, (e, cols, priced, e_priced, gross, denominator, by_equity) in enumerate(books):
        pos_beta = betas.beta[k, cols]
        has_beta = priced & np.isfinite(pos_beta)
        covered_gross = float(np.abs(e_priced[has_beta]).sum())
        book_gross = gross + left_out[k]  # NaN when the left-out exposure is unknown
        coverage: float | None = covered_gross / book_gross if book_gross > 0 else 0.0
        if not np.isfinite(book_gross):
            coverage = None
        weighted = r2 = None
        min_obs: int | None = None
        vol: VolatilityResult | None = None
        if gross > 0 and denominator > 0:
            if covered_gross > 0 and coverage is not None:
                # sum E beta / D / coverage, with D the equity or the whole book's gross:
                # the covered book's beta, levered as the whole book is.
                leverage = book_gross / denominator if by_equity else 1.0
                beta_sum = float((e_priced[has_beta] * pos_beta[has_beta]).sum())
                weighted = beta_sum / covered_gross * leverage
                r2_pos = betas.r_squared[k, cols][has_beta]
                r2 = float((np.abs(e_priced[has_beta]) * r2_pos).sum() / covered_gross)
                min_obs = int(betas.observations[k, cols][has_beta].min())
            if port_vol.observations[k, 0] > 0:
                vol = port_vol.at(k)
        # Lots net per symbol, and a position's symbol here is its series' (options count
        # on their underlying): net per series column, in first-held order.
        held_cols = cols[priced]
        order = np.unique(held_cols, return_index=True)[1]
        present = held_cols[np.sort(order)]
        net = np.asarray(
            np.bincount(held_cols, weights=e[priced], minlength=series)[present], dtype=np.float64
        )
        names = [series_symbols[i] for i in present.tolist()]
        figures.append(
            PortfolioFigures(
                market_beta_weighted=weighted,
                market_beta_r_squared=r2,
                market_beta_observations=min_obs,
                beta_coverage=coverage,
                denominator=denominator,
                denominator_is_equity=by_equity,
                concentration=concentration_of_net(names, net, left_out[k]),
                sector_exposure=sector_exposure_of_net(
                    [sector_of[i] for i in present.tolist()], net, left_out[k]
                ),
                volatility=vol,
                gross_exposure=gross,
                net_exposure=float(e_priced.sum()),
                long_exposure=float(e_priced[e_priced > 0].sum()),
                short_exposure=float(e_priced[e_priced < 0].sum()),
            )
        )
    return BookRiskDates(
        series_betas=betas, series_volatility=vols, portfolio=figures, tail_risk=tail
    )
