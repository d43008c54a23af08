"""A symbol's price history from FMP, and replacing a stored history with a new one.

FMP gives the two kinds of close in two series (``app.integrations.fmp.prices``): the
close as traded and the total-return close, on FMP's scale of today. A history is both,
joined by date, with the splits and dividends FMP records for the symbol.

Replacing keeps what a new history does not cover true as well: stored rows before its
first day are rescaled to join it (their returns unchanged), and the earliest day whose
close as traded or whose return changed is reported, since figures from that day on
were computed from other prices. A rescale alone (a new dividend scales every earlier
total-return close by one factor) changes no return, so it changes nothing from then.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.fmp.actions import FmpDividend, FmpSplit, dividends, splits
from app.integrations.fmp.client import FmpBadResponseError, FmpClient
from app.integrations.fmp.prices import (
    TOTAL_RETURN_PATH,
    FmpDailyClose,
    total_return_closes,
    traded_closes,
)
from app.models import DailyPrice
from app.prices.actions import ActionRow, merged
from app.prices.repository import (
    PriceRow,
    StoredPrice,
    delete_prices,
    price_series,
    rescale_adjusted_closes,
    write_prices,
)
from app.prices.sources import StoredRows, take_over_symbols

STORED_STEP = Decimal("0.000001")
"""The stored scale of a price (NUMERIC(18, 6))."""
REVISION_TOLERANCE = Decimal("1e-6")
"""Relative difference below which two prices (or two returns) of a day count as the same.
A provider's unchanged history repeats its numbers to the stored scale; the smallest
rescale that matters, a dividend of 0.01 %, is a hundred times larger."""


def same_price(a: Decimal, b: Decimal) -> bool:
    """Whether two closes of a day agree, to the stored scale and the tolerance."""
    return abs(a - b) <= max(STORED_STEP, REVISION_TOLERANCE * max(abs(a), abs(b)))


def same_return(old: tuple[Decimal, Decimal], new: tuple[Decimal, Decimal]) -> bool:
    """Whether the return between two days is the same in two series: ``old`` and ``new``
    are (earlier, later) total-return closes. Rounding each close to the stored scale
    moves a return by up to half a step over the close, so that much is allowed too."""
    ratio_old, ratio_new = old[1] / old[0], new[1] / new[0]
    rounding = STORED_STEP * (sum(1 / v for v in (*old, *new))) / 2
    return abs(ratio_old - ratio_new) <= ratio_new * (REVISION_TOLERANCE + rounding)


@dataclass(frozen=True)
class SymbolHistory:
    symbol: str
    rows: list[PriceRow]
    """Both closes per day, oldest first (empty: FMP has no prices for it)."""
    actions: list[ActionRow]
    """Splits and dividends with an ex-date up to the history's end (empty unless asked)."""


def actions_from_fmp(
    found_splits: Sequence[FmpSplit], found_dividends: Sequence[FmpDividend], end: date
) -> list[ActionRow]:
    """FMP's splits and dividends as action rows, those with an ex-date after ``end``
    (announced, not yet in the prices) left out; a zero dividend is none."""
    rows = [
        ActionRow.split(s.symbol, s.ex_date, s.numerator, s.denominator)
        for s in found_splits
        if s.ex_date <= end
    ]
    rows += [
        ActionRow.dividend(d.symbol, d.ex_date, d.amount)
        for d in found_dividends
        if d.ex_date <= end and d.amount > 0
    ]
    return merged(rows)


def joined(
    symbol: str, traded: Sequence[FmpDailyClose], total_return: Sequence[FmpDailyClose]
) -> list[PriceRow]:
    """One row per day that both series price (a day in one only is not used)."""
    as_traded = {r.date: r for r in traded}
    rows = [
        PriceRow(symbol, r.date, as_traded[r.date].close, r.close, r.volume)
        for r in total_return
        if r.date in as_traded
    ]
    if traded and total_return and not rows:
        raise FmpBadResponseError(
            f"FMP's traded and total-return prices of {symbol} share no day",
            path=TOTAL_RETURN_PATH,
        )
    return rows


async def fetch_history(
    client: FmpClient, symbol: str, start: date, end: date, *, with_actions: bool = True
) -> SymbolHistory:
    """``symbol``'s prices in [start, end] (the total-return series first: when FMP has
    none, nothing else is asked) and, with ``with_actions``, its splits and dividends."""
    total_return = await total_return_closes(client, symbol, start, end)
    if not total_return:
        return SymbolHistory(symbol, [], [])
    traded = await traded_closes(client, symbol, start, end)
    rows = joined(symbol, traded, total_return)
    actions: list[ActionRow] = []
    if with_actions:
        actions = actions_from_fmp(
            await splits(client, symbol), await dividends(client, symbol), end
        )
    return SymbolHistory(symbol, rows, actions)


@dataclass(frozen=True)
class Replaced:
    rows_written: int
    rows_deleted: int
    new_from: date | None
    """The first day after the last stored one (None: nothing later than before)."""
    changed_from: date | None
    """The earliest stored day whose close as traded or whose return changed, or that
    was added or removed before the last stored day (None: none); with another source's
    rows replaced, at the latest the first of them."""
    replaced: list[StoredRows] = field(default_factory=list)
    """Another source's rows of the symbol, deleted first (``replace_source``)."""


def _earliest_change(stored: Sequence[StoredPrice], rows: Sequence[PriceRow]) -> date | None:
    """The earliest day of ``rows``' span, up to the last stored day, whose presence,
    close as traded or return differs from ``stored``."""
    if not stored or not rows:
        return None
    old = {p.date: p for p in stored}
    new = {r.date: r for r in rows}
    last_stored = stored[-1].date
    days = sorted(d for d in old.keys() | new.keys() if rows[0].date <= d <= last_stored)
    for previous, day in zip([None, *days], days, strict=False):
        before, after = old.get(day), new.get(day)
        if before is None or after is None or not same_price(before.close, after.close):
            return day
        if previous is None or previous not in old or previous not in new:
            continue
        if not same_return(
            (old[previous].adjusted_close, before.adjusted_close),
            (new[previous].adjusted_close, after.adjusted_close),
        ):
            return day
    return None


async def replace_history(
    session: AsyncSession, rows: Sequence[PriceRow], source: str, *, replace_source: bool = False
) -> Replaced:
    """Store ``rows`` (one symbol's, oldest first) in place of what is stored in their
    span: stored days they lack are removed; stored days before them are rescaled to join
    them. The symbol's rows of another source are refused first (OtherSourceError), or
    with ``replace_source`` deleted (app.prices.sources), so only ``source``'s own rows
    are rescaled and compared. Flushes; the caller commits."""
    if not rows:
        return Replaced(0, 0, None, None)
    symbol = rows[0].symbol
    taken_over = await take_over_symbols(
        session, DailyPrice, [symbol], source, replace=replace_source
    )
    stored = await price_series(session, symbol)
    first, last = rows[0].date, rows[-1].date
    new = {r.date: r for r in rows}
    # Join the older rows at the first day both histories price (the first stored day
    # from ``first`` on that ``rows`` has): one factor keeps their returns.
    older = [p for p in stored if p.date < first]
    if older:
        start = bisect_left([p.date for p in stored], first)
        common = next((p for p in stored[start:] if p.date in new), None)
        if common is not None and not same_price(
            common.adjusted_close, new[common.date].adjusted_close
        ):
            factor = new[common.date].adjusted_close / common.adjusted_close
            await rescale_adjusted_closes(session, symbol, first, factor)
    changed_from = _earliest_change(stored, rows)
    # Figures computed from the deleted source's prices change from its first day.
    changes = [d for d in (changed_from, *(r.first for r in taken_over)) if d is not None]
    gone = [p.date for p in stored if first <= p.date <= last and p.date not in new]
    deleted = await delete_prices(session, symbol, gone)
    written = await write_prices(session, rows, source)  # taken over above
    last_stored = stored[-1].date if stored else None
    new_from = next((r.date for r in rows if last_stored is None or r.date > last_stored), None)
    return Replaced(written, deleted, new_from, min(changes, default=None), list(taken_over))
