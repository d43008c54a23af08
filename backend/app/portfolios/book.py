"""The owner's changes to a book, one at a time: portfolios created, changed and deleted,
positions added, corrected, closed and deleted (imports: app.portfolios.imports).

Each change locks its portfolio first (app.portfolios.store.lock_portfolio), checks the
rules (app.portfolios.rules), writes, and moves the portfolio's stale mark back to the
earliest date it touches, all in the caller's transaction (the request's, the CLI's).
Someone else's portfolio or position, or a deleted one, is not found, never forbidden.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Portfolio, PortfolioSnapshot, Position
from app.portfolios import store
from app.portfolios.market_data import (
    ENTRY_PRICE_LOOKBACK,
    data_statuses,
    entry_closes,
    load_hint,
)
from app.portfolios.occ import parse_occ
from app.portfolios.rejections import BookLimitError, BookRuleError, Rejection, rejections_of
from app.portfolios.repository import (
    POSITION_FIELD_COLUMNS,
    Owner,
    get_position,
    latest_snapshot_date,
    open_position_count,
)
from app.portfolios.rules import (
    MAX_POSITIONS,
    OPTION_FIELDS,
    SHORT_TYPES,
    PortfolioChanges,
    PortfolioIn,
    PositionChanges,
    PositionIn,
    book_context,
    stored_price,
)
from app.portfolios.schemas import DataStatus


@dataclass(frozen=True)
class PortfolioView:
    portfolio: Portfolio
    latest_snapshot_date: date | None


@dataclass(frozen=True)
class PositionView:
    position_id: uuid.UUID
    portfolio_id: uuid.UUID
    values: Mapping[str, Any]
    """The position's fields (app.portfolios.repository.POSITION_FIELD_COLUMNS)."""
    data_status: DataStatus | None
    data_hint: str | None


# --- portfolios -----------------------------------------------------------------------


async def create_portfolio(
    session: AsyncSession, owner_id: uuid.UUID, new: PortfolioIn
) -> PortfolioView:
    """A new portfolio of ``owner_id`` (409 for a name the owner uses already)."""
    portfolio = await store.insert_portfolio(session, {**new.model_dump(), "owner_id": owner_id})
    return PortfolioView(portfolio, None)


async def change_portfolio(
    session: AsyncSession, portfolio_id: uuid.UUID, changes: PortfolioChanges, *, owner: Owner
) -> PortfolioView:
    """Set the fields ``changes`` sends. A new equity balance changes the figures that
    divide by it: they are out of date from the first stored snapshot."""
    portfolio = await store.lock_portfolio(session, portfolio_id, owner=owner)
    values = changes.model_dump(exclude_unset=True)
    balance_moved = (
        "equity_balance" in values and values["equity_balance"] != portfolio.equity_balance
    )
    await store.update_portfolio(session, portfolio, values)
    if balance_moved:
        await store.mark_stale(
            session, portfolio_id, await _first_snapshot_date(session, portfolio_id)
        )
    await session.refresh(portfolio)
    return PortfolioView(portfolio, await latest_snapshot_date(session, portfolio_id))


async def delete_portfolio(session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner) -> None:
    """Soft-delete it: gone from every read; its positions and figures stay stored."""
    await store.lock_portfolio(session, portfolio_id, owner=owner)
    await store.delete_portfolio(session, portfolio_id)


async def portfolio_view(session: AsyncSession, portfolio: Portfolio) -> PortfolioView:
    return PortfolioView(portfolio, await latest_snapshot_date(session, portfolio.id))


async def _first_snapshot_date(session: AsyncSession, portfolio_id: uuid.UUID) -> date | None:
    s = PortfolioSnapshot
    return await session.scalar(
        select(func.min(s.calculation_date)).where(s.portfolio_id == portfolio_id)
    )


# --- positions ------------------------------------------------------------------------


assert tuple(PositionIn.model_fields) == POSITION_FIELD_COLUMNS


def position_values(position: PositionIn) -> dict[str, Any]:
    """The stored columns of a checked position (its fields are the columns)."""
    return dict(position.__dict__)


def series_of(values: Mapping[str, Any]) -> str:
    """The price series a position moves with: an option's underlying, else its symbol."""
    return str(values.get("underlying_symbol") or values["symbol"])


async def fill_entry_prices(
    session: AsyncSession, positions: Iterable[tuple[int | None, PositionIn]]
) -> list[Rejection]:
    """Give each position without an entry price the stored close of its symbol on its
    entry date (or the last before it, up to ENTRY_PRICE_LOOKBACK); a position with no
    such close is a Rejection of its line naming entry_price."""
    missing = [(line, p) for line, p in positions if p.entry_price is None]
    closes = await entry_closes(session, ((p.symbol, _entry(p)) for _, p in missing))
    problems = []
    for line, position in missing:
        close = closes.get((position.symbol, _entry(position)))
        if close is not None:
            position.fill_default("entry_price", stored_price(close))
            continue
        what = "the option's premium" if position.position_type not in {"LONG", "SHORT"} else ""
        problems.append(
            Rejection(
                line,
                "entry_price",
                f"no stored close of {position.symbol} on {_entry(position)} or the "
                f"{ENTRY_PRICE_LOOKBACK.days} days before it to take as entry_price: give "
                f"entry_price{f' ({what})' if what else ''}, or load its prices "
                f"(scripts/load_prices.py --fmp {position.symbol})",
            )
        )
    return problems


def priced_series(positions: Iterable[tuple[int | None, PositionIn]]) -> set[str]:
    """The price series known to have a stored close: the stocks whose entry price
    :func:`fill_entry_prices` took from one (an option's came from the option's own
    symbol, not its underlying's series)."""
    return {
        p.symbol
        for _, p in positions
        if p.underlying_symbol is None
        and p.entry_price is not None
        and "entry_price" not in p.given
    }


def _entry(position: PositionIn) -> date:
    assert position.entry_date is not None  # set by the rules' validation
    return position.entry_date


async def require_room(session: AsyncSession, portfolio_id: uuid.UUID, adding: int) -> None:
    """BookLimitError when ``adding`` open positions would take the portfolio past
    MAX_POSITIONS."""
    held = await open_position_count(session, portfolio_id)
    if held + adding > MAX_POSITIONS:
        raise BookLimitError(
            f"the portfolio holds {held:,} open positions; {adding:,} more would pass the "
            f"limit of {MAX_POSITIONS:,} open positions per portfolio: nothing written"
        )


async def add_position(
    session: AsyncSession, portfolio_id: uuid.UUID, new: PositionIn, *, owner: Owner
) -> PositionView:
    """Add a checked position (its entry price defaults to the stored close)."""
    await store.lock_portfolio(session, portfolio_id, owner=owner)
    if problems := await fill_entry_prices(session, [(None, new)]):
        raise BookRuleError(problems)
    await require_room(session, portfolio_id, 1)
    values = position_values(new)
    (position_id,) = await store.insert_positions(session, portfolio_id, [values])
    await store.mark_stale(session, portfolio_id, _entry(new))
    return await _view(session, position_id, portfolio_id, values)


async def _locked_position(
    session: AsyncSession, position_id: uuid.UUID, *, owner: Owner
) -> Position:
    """The visible position, read again after its portfolio is locked (a write that went
    first may have changed or deleted it)."""
    position = await get_position(session, position_id, owner=owner)
    await store.lock_portfolio(session, position.portfolio_id, owner=owner)
    session.expire(position)  # the next read refills it from the row as it is now
    return await get_position(session, position_id, owner=owner)


async def change_position(
    session: AsyncSession,
    position_id: uuid.UUID,
    changes: PositionChanges,
    *,
    owner: Owner,
    today: date | None = None,
) -> PositionView:
    """Correct fields, or close the position (exit_date, exit_price): the position that
    results is checked as a new one is. A new OCC symbol brings its own type (keeping the
    direction), underlying, strike and expiration unless the change gives them."""
    position = await _locked_position(session, position_id, owner=owner)
    stored = {name: getattr(position, name) for name in POSITION_FIELD_COLUMNS}
    sent = changes.model_dump(exclude_unset=True)
    merged = {**stored, **sent}
    new_symbol = sent.get("symbol", stored["symbol"])
    if new_symbol != stored["symbol"] and parse_occ(new_symbol) is not None:
        for field in OPTION_FIELDS:
            if field not in sent:
                merged[field] = None
        if "position_type" not in sent:
            merged["position_type"] = "SHORT" if stored["position_type"] in SHORT_TYPES else None
    try:
        checked = PositionIn.model_validate(
            {k: v for k, v in merged.items() if v is not None}, context=book_context(today=today)
        )
    except ValidationError as exc:
        raise BookRuleError(rejections_of(exc, None)) from None
    values = position_values(checked)
    changed = {k: v for k, v in values.items() if not _same(v, stored[k])}
    if changed:
        await store.update_position(session, position_id, changed)
        await store.mark_stale(session, position.portfolio_id, touched_from(stored, values))
    return await _view(session, position_id, position.portfolio_id, values)


async def delete_position(session: AsyncSession, position_id: uuid.UUID, *, owner: Owner) -> None:
    """Soft-delete it (an entry made by mistake): gone from every read."""
    position = await _locked_position(session, position_id, owner=owner)
    await store.delete_position(session, position_id)
    await store.mark_stale(session, position.portfolio_id, position.entry_date)


def _same(new: Any, old: Any) -> bool:
    if isinstance(new, Decimal) and isinstance(old, Decimal):
        return new == old  # 100 and 100.000000 are one quantity
    return bool(new == old)


_DATE_FIELDS = ("entry_date", "exit_date", "expiration_date")


def touched_from(old: Mapping[str, Any], new: Mapping[str, Any]) -> date | None:
    """The earliest date whose figures a change from ``old`` to ``new`` can alter: a
    changed date field touches its old and new dates; any other changed field touches
    the position from its (old and new) entry date. None: nothing changed."""
    days: list[date] = []
    for field in new:
        if _same(new[field], old.get(field)):
            continue
        if field in _DATE_FIELDS:
            days += [d for d in (old.get(field), new[field]) if d is not None]
        else:
            days += [old["entry_date"], new["entry_date"]]
    return min(days, default=None)


async def _view(
    session: AsyncSession, position_id: uuid.UUID, portfolio_id: uuid.UUID, values: dict[str, Any]
) -> PositionView:
    series = series_of(values)
    status = (await data_statuses(session, [series]))[series]
    return PositionView(
        position_id, portfolio_id, values, status, load_hint([series]) if status else None
    )
