"""A portfolio's largest holdings, how their returns moved together over the beta window,
and how much the book diversifies: computed on request from stored prices (no table).

Holdings are the positions held at the close of the day, valued as GET /positions values
them (app.portfolios.service.position_exposures) and weighted by the gross exposure of
those with a price (a position without one is left out, named), largest |weight| first.
Returns are the total-return closes' (adjusted_close) on the market's trading days, over
the beta window ending on the day. A holding that cannot take part is named with its
reason, never silently dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.formulas.book import DEFAULT_BETA_WINDOW
from app.formulas.correlation import holding_correlations
from app.formulas.returns import TRADING_DAYS_PER_YEAR, simple_returns
from app.formulas.windows import min_count
from app.portfolios.repository import HeldPosition, Owner, active_positions, require_portfolio
from app.portfolios.service import position_exposures
from app.prices.repository import MARKET_INDEX, last_closes, last_trading_day, load_price_history
from app.prices.sources import SourceSpan, mixed_in_window

DEFAULT_TOP = 10
MAX_TOP = 25


@dataclass(frozen=True)
class Holding:
    position: HeldPosition
    weight: float | None
    """Signed exposure / gross exposure; None without a price to value it."""

    @property
    def series(self) -> str:
        """The price series it moves with: an option's underlying, else its symbol."""
        return self.position.series_symbol


@dataclass(frozen=True)
class Correlated:
    holding: Holding
    annualised_vol: float


@dataclass(frozen=True)
class LeftOut:
    holding: Holding
    reason: str


@dataclass(frozen=True)
class PortfolioCorrelations:
    portfolio_id: uuid.UUID
    as_of: date | None
    """None: no market price on or before the date asked, nothing to compute from."""
    window_days: int
    observations: int
    holdings: list[Correlated]
    matrix: list[list[float]]
    diversification_ratio: float | None
    diversification_reason: str | None
    left_out: list[LeftOut]
    smaller_holdings: int
    """Holdings with a weight beyond the ``top`` largest (not in the matrix)."""


async def _holdings(session: AsyncSession, portfolio_id: uuid.UUID, day: date) -> list[Holding]:
    positions = await active_positions(session, portfolio_id, day)
    closes = await last_closes(session, {p.series_symbol for p in positions}, day)
    exposures = await position_exposures(session, positions, closes)
    gross = sum(abs(e) for e in exposures.values())
    return [
        Holding(p, exposures[p.id] / gross if p.id in exposures and gross > 0 else None)
        for p in positions
    ]


async def portfolio_correlations(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    on_or_before: date | None = None,
    top: int = DEFAULT_TOP,
    window: int = DEFAULT_BETA_WINDOW,
) -> PortfolioCorrelations:
    """The correlations of the ``top`` largest holdings on the market's last trading day
    on or before ``on_or_before`` (its last overall if None). PortfolioNotFoundError for a
    portfolio ``owner`` may not see. Without a market price by then, as_of is None and the
    reason says what to load."""
    await require_portfolio(session, portfolio_id, owner=owner)
    day = await last_trading_day(session, on_or_before)
    if day is None:
        when = f" on or before {on_or_before}" if on_or_before is not None else ""
        reason = (
            f"no {MARKET_INDEX} prices{when}: load prices first (scripts/load_prices.py or "
            "scripts/demo_data.py)"
        )
        return PortfolioCorrelations(portfolio_id, None, window, 0, [], [], None, reason, [], 0)
    holdings = await _holdings(session, portfolio_id, day)
    left_out = [
        LeftOut(h, f"no price of {h.series} on or before {day} to weigh it")
        for h in holdings
        if h.weight is None
    ]
    weighed = sorted(
        (h for h in holdings if h.weight is not None),
        key=lambda h: (-abs(h.weight or 0.0), h.position.symbol, h.position.id),
    )
    chosen = weighed[:top]

    history = await load_price_history(
        session, {h.series for h in chosen}, start=day, end=day, rows_before_start=window
    )
    first_day = history.dates[max(0, len(history.dates) - window - 1)]
    panel = simple_returns(history.closes)[-window:, [history.column(h.series) for h in chosen]]
    for k, mixed in _mixed_columns(history.mixed_sources, chosen, first_day, day).items():
        panel[:, k] = np.nan  # a return across two sources' prices is no return
        left_out.append(LeftOut(chosen[k], mixed))
    mixed_out = {id(x.holding) for x in left_out}

    fit = holding_correlations(
        panel, np.array([h.weight for h in chosen], dtype=np.float64), needed=min_count(window)
    )
    for k, reason in sorted(fit.left_out.items()):
        if id(chosen[k]) not in mixed_out:
            left_out.append(LeftOut(chosen[k], reason))
    ratio_reason = fit.diversification_reason
    if not chosen:
        ratio_reason = f"no position with a price is held on {day}"
    return PortfolioCorrelations(
        portfolio_id=portfolio_id,
        as_of=day,
        window_days=window,
        observations=fit.observations,
        holdings=[
            Correlated(chosen[k], float(v) * float(np.sqrt(TRADING_DAYS_PER_YEAR)))
            for k, v in zip(fit.kept, fit.daily_vols, strict=True)
        ],
        matrix=fit.correlation.tolist(),
        diversification_ratio=fit.diversification_ratio,
        diversification_reason=ratio_reason,
        left_out=left_out,
        smaller_holdings=len(weighed) - len(chosen),
    )


def _mixed_columns(
    spans: Mapping[str, Sequence[SourceSpan]], chosen: list[Holding], start: date, end: date
) -> dict[int, str]:
    """Columns whose series' prices in [start, end] come from two sources, with why."""
    found = dict(mixed_in_window(spans, [h.series for h in chosen], start, end))
    return {
        k: "its prices in the window come from "
        + " and ".join(f"{s.source} ({s.first} .. {s.last})" for s in found[h.series])
        + ": keep one source per symbol (scripts/load_prices.py --replace-source)"
        for k, h in enumerate(chosen)
        if h.series in found
    }
