"""Portfolios beyond single rows: what a portfolio holds on a date, valued (for the API),
and changing who owns portfolios (operator tools; the API only reads)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.formulas.exposure import signed_exposure
from app.models import Portfolio, Position, User
from app.portfolios.repository import (
    ANY_OWNER,
    HeldPosition,
    Owner,
    first_entry_date,
    get_portfolio,
    held_positions,
    latest_snapshot_date,
)
from app.prices.actions import actions_of, shares_held
from app.prices.repository import LastClose, last_closes, last_trading_day
from app.risk_metrics.queries import (
    excluded_positions_on,
    position_betas_on,
    position_volatility_on,
)

CENTS = Decimal("0.01")
WEIGHT_SCALE = Decimal("0.000001")


@dataclass(frozen=True)
class ValuedPosition:
    position: Position
    market_value: Decimal | None
    weight: Decimal | None
    beta: Decimal | None
    r_squared: Decimal | None
    realized_vol_21d: Decimal | None
    vol_trend: str | None
    price_date: date | None
    """The date of the close it is valued at (its series' last on or before the date)."""
    excluded: dict[str, Any] | None
    """The snapshot's excluded_positions item naming it, when it was left out."""


@dataclass(frozen=True)
class PortfolioHoldings:
    portfolio_id: uuid.UUID
    as_of: date | None
    positions: list[ValuedPosition]
    first_entry_date: date | None
    """Without a snapshot: the earliest entry of the book (closed positions too), where a
    calculation of its figures starts."""
    last_price_date: date | None
    """Without a snapshot: the market index's last price, where that calculation ends."""


# Room for any quantity x price the columns can hold (default precision 28 could overflow).
_WIDE = Context(prec=60)


def _decimal(value: float, scale: Decimal) -> Decimal:
    return Decimal(repr(value)).quantize(scale, context=_WIDE)


async def portfolio_holdings(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner, on_or_before: date | None
) -> PortfolioHoldings:
    """:func:`holdings_of` the portfolio; PortfolioNotFoundError unless ``owner`` may see
    it."""
    portfolio = await get_portfolio(session, portfolio_id, owner=owner)
    return await holdings_of(session, portfolio, on_or_before=on_or_before)


async def holdings_of(
    session: AsyncSession, portfolio: Portfolio, *, on_or_before: date | None
) -> PortfolioHoldings:
    """The positions of ``portfolio`` (read owner-scoped by the caller:
    app.portfolios.repository.get_portfolio) held on ``as_of`` (the latest snapshot date
    on or before ``on_or_before``, latest overall if None), each valued as
    :func:`position_exposures` values it at as_of, weighted by gross exposure, with the
    beta and volatility stored for it on as_of and, when the snapshot left it out for want
    of a fresh price, why.

    Without such a snapshot, as_of is None: today's positions, with no figures but their
    last price date, and the range a calculation of the book would cover (its first entry
    date to the market index's last price). One query per table, whatever the number of
    positions.
    """
    portfolio_id = portfolio.id
    as_of = await latest_snapshot_date(session, portfolio_id, on_or_before)
    day = as_of or datetime.now(UTC).date()
    held = await held_positions(session, portfolio_id, day)
    closes = await last_closes(session, {h.series_symbol for _, h in held}, day)
    if as_of is None:
        return PortfolioHoldings(
            portfolio_id,
            None,
            [
                ValuedPosition(p, *(None,) * 6, _price_date(closes.get(h.series_symbol)), None)
                for p, h in held
            ],
            await first_entry_date(session, portfolio_id),
            await last_trading_day(session),
        )

    betas = await position_betas_on(session, portfolio_id, as_of)
    vols = await position_volatility_on(session, [p.id for p, _ in held], as_of)
    excluded = await excluded_positions_on(session, portfolio_id, as_of)
    exposures = await position_exposures(session, [h for _, h in held], closes)
    # A position the figures left out without a close to value it at still counts in the
    # gross, as it does in their concentration: at the exposure they counted as uncovered.
    unpriced = sum(
        float(e["uncovered_exposure"])
        for pid, e in excluded.items()
        if pid not in exposures and e.get("uncovered_exposure") is not None
    )
    gross = sum(abs(e) for e in exposures.values()) + unpriced

    valued = []
    for p, h in held:
        exposure = exposures.get(p.id)
        beta, vol = betas.get(p.id), vols.get(p.id)
        valued.append(
            ValuedPosition(
                p,
                None if exposure is None else _decimal(exposure, CENTS),
                None
                if exposure is None or gross == 0
                else _decimal(exposure / gross, WEIGHT_SCALE),
                None if beta is None else beta.beta,
                None if beta is None else beta.r_squared,
                None if vol is None else vol.realized_vol_21d,
                None if vol is None else vol.vol_trend,
                _price_date(closes.get(h.series_symbol)),
                excluded.get(p.id),
            )
        )
    return PortfolioHoldings(portfolio_id, as_of, valued, None, None)


async def position_exposures(
    session: AsyncSession, positions: Sequence[HeldPosition], closes: Mapping[str, LastClose]
) -> dict[uuid.UUID, float]:
    """Each position's signed exposure at its series' last close as traded (``closes``,
    app.prices.repository.last_closes): that close times the shares held on its day
    (app.prices.actions.shares_held), signed by the position's type. Positions without
    a close are absent. One query (the splits of the series)."""
    splits = await actions_of(session, sorted({p.series_symbol for p in positions}), "split")
    exposures: dict[uuid.UUID, float] = {}
    for p in positions:
        last = closes.get(p.series_symbol)
        if last is not None and last.close.is_finite():  # NUMERIC may hold 'NaN'
            per_share = shares_held(splits[p.series_symbol], p.quantity_date, last.date)
            shares = p.quantity * float(per_share)
            exposures[p.id] = signed_exposure(p.position_type, shares, float(last.close))
    return exposures


def _price_date(last: LastClose | None) -> date | None:
    return None if last is None else last.date


async def assign_owner(
    session: AsyncSession, portfolio_ids: Sequence[uuid.UUID], owner: User
) -> list[Portfolio]:
    """Give every portfolio in ``portfolio_ids`` to ``owner``. Each must be a live portfolio
    (PortfolioNotFoundError otherwise, before anything changes); flushes, the caller commits."""
    portfolios = [await get_portfolio(session, pid, owner=ANY_OWNER) for pid in portfolio_ids]
    for portfolio in portfolios:
        portfolio.owner_id = owner.id
    await session.flush()
    return portfolios
