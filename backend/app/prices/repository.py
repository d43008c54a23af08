"""Prices and security profiles: what the engine reads (prices on the market's calendar,
sectors) and the one place they are written (bulk upserts, whatever the source).
What a portfolio holds is read by app.portfolios.repository."""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    String,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import binary_copy
from app.core.errors import AppError
from app.core.repository import upsert
from app.formulas.returns import FloatArray
from app.models import DailyPrice, SecurityProfile
from app.models.reference_data import PRICE_SOURCES
from app.prices.actions import ActionRow, actions_of
from app.prices.sources import SourceSpan, StoredRows, take_over_symbols

MARKET_INDEX = "SPY"
"""The market series betas regress on and whose trading days form the calendar."""


class MissingMarketDataError(AppError, LookupError):
    """No market-index prices for the dates asked: nothing can be computed."""

    http_status = 404


@dataclass(frozen=True)
class PriceHistory:
    """Closes on the market's trading days: rows = ``dates`` (ascending), columns = ``symbols``.

    The closes are the total-return ones (``adjusted_close``), so that consecutive closes
    give returns true across splits and dividends. A symbol's close on a day the market
    did not trade is not used; a missing close is NaN.
    """

    dates: list[date]
    symbols: list[str]
    closes: FloatArray
    market: FloatArray
    mixed_sources: Mapping[str, tuple[SourceSpan, ...]] = field(default_factory=dict)
    """The series (the market index's under MARKET_INDEX) whose loaded prices come from
    more than one source, with each source's first and last date: the engine refuses a
    window that reads two of them (app.prices.sources)."""
    traded: FloatArray | None = None
    """The closes as traded (``close``), shaped as ``closes``: what a share held that day
    was worth. None: the same as ``closes`` (a source with no splits or dividends)."""
    splits: Mapping[str, tuple[ActionRow, ...]] = field(default_factory=dict)
    """The recorded splits of the series that have any (app.prices.actions.split_factor
    turns a stored quantity into the quantity held on a past date)."""

    @property
    def traded_closes(self) -> FloatArray:
        return self.closes if self.traded is None else self.traded

    def column(self, symbol: str) -> int:
        return self.symbols.index(symbol)


_PRICE_FIELDS = (
    ("column", ">i4"),
    ("day", ">i4"),
    ("close", ">f8"),
    ("traded", ">f8"),
    ("source", ">i2"),
)
"""The (column, day, total-return close, traded close, source) records of the price COPY
(source: its position in PRICE_SOURCES, from 1): none is NULL, so all one size."""
assert len(PRICE_SOURCES) == 3, "the panel's COPY codes each source in a CASE arm"


async def trading_days(session: AsyncSession, start: date, end: date) -> list[date]:
    """The market's trading days in [start, end] (days with a market-index price)."""
    rows = await session.scalars(
        select(DailyPrice.date)
        .where(DailyPrice.symbol == MARKET_INDEX, DailyPrice.date.between(start, end))
        .order_by(DailyPrice.date)
    )
    return list(rows)


async def last_trading_day(session: AsyncSession, on_or_before: date | None = None) -> date | None:
    """The date of the market index's last stored price, on or before ``on_or_before``
    when given (None: no such price)."""
    stmt = select(func.max(DailyPrice.date)).where(DailyPrice.symbol == MARKET_INDEX)
    if on_or_before is not None:
        stmt = stmt.where(DailyPrice.date <= on_or_before)
    return await session.scalar(stmt)


def market_day_on_or_before(day: ColumnElement[date] | date) -> ScalarSelect[date]:
    """The market index's last price date on or before ``day`` (a column or a value), as
    a scalar subquery: the prices a snapshot of ``day`` was computed on (an index probe)."""
    return (
        select(func.max(DailyPrice.date))
        .where(DailyPrice.symbol == MARKET_INDEX, DailyPrice.date <= day)
        .scalar_subquery()
    )


async def load_price_history(
    session: AsyncSession,
    symbols: Iterable[str],
    *,
    start: date,
    end: date,
    rows_before_start: int,
) -> PriceHistory:
    """Closes of ``symbols`` on the market's trading days from ``rows_before_start`` days
    before ``start`` through ``end`` (two queries, whatever the number of symbols)."""
    market_rows = (
        await session.execute(
            select(DailyPrice.date, DailyPrice.adjusted_close, DailyPrice.source)
            .where(DailyPrice.symbol == MARKET_INDEX, DailyPrice.date <= end)
            .order_by(DailyPrice.date)
        )
    ).all()
    if not market_rows:
        raise MissingMarketDataError(
            f"no {MARKET_INDEX} prices on or before {end}: load prices first "
            "(scripts/load_prices.py or scripts/demo_data.py)"
        )
    all_dates = [r[0] for r in market_rows]
    first = max(0, bisect_right(all_dates, start) - 1 - rows_before_start)
    # bisect_right(start) - 1 is the last day <= start; keep rows_before_start before it.
    dates = all_dates[first:]
    market = np.array([float(r[1]) for r in market_rows[first:]], dtype=np.float64)

    mixed = _mixed_market_sources([(r[0], r[2]) for r in market_rows[first:]])

    names = sorted(set(symbols))
    closes = np.full((len(dates), len(names)), np.nan)
    traded = np.full((len(dates), len(names)), np.nan)
    splits: dict[str, tuple[ActionRow, ...]] = {}
    if names:
        # Fetched as PostgreSQL's binary COPY of (column, day, close, source) in fixed-size
        # records, read by numpy in one step: a panel of thousands of series x hundreds of
        # days costs no Python object per price.
        buffer = io.BytesIO()
        connection = await session.connection()
        pg: Any = (await connection.get_raw_connection()).driver_connection
        await pg.copy_from_query(
            "SELECT w.i::int4, (p.date - $2::date)::int4,"
            " p.adjusted_close::float8, p.close::float8,"
            " (CASE p.source::text WHEN $4 THEN 1 WHEN $5 THEN 2 WHEN $6 THEN 3 ELSE 0 END)::int2"
            " FROM daily_prices p JOIN unnest($1::text[]) WITH ORDINALITY w(symbol, i)"
            " ON p.symbol = w.symbol WHERE p.date BETWEEN $2 AND $3",
            names,
            dates[0],
            dates[-1],
            *PRICE_SOURCES,
            output=buffer,
            format="binary",
        )
        records = binary_copy.decode(buffer.getvalue(), _PRICE_FIELDS)
        offsets = np.array([(d - dates[0]).days for d in dates], dtype=np.int64)
        day = records["day"].astype(np.int64)
        row = np.searchsorted(offsets, day)
        on_calendar = (row < len(dates)) & (offsets[np.minimum(row, len(dates) - 1)] == day)
        cells = (row[on_calendar], records["column"][on_calendar] - 1)
        closes[cells] = records["close"][on_calendar]
        traded[cells] = records["traded"][on_calendar]
        mixed |= _mixed_series_sources(records, names, dates[0])
        found = await actions_of(session, names, "split")
        splits = {symbol: tuple(rows) for symbol, rows in found.items() if rows}
    return PriceHistory(dates, names, closes, market, mixed, traded, splits)


def _mixed_market_sources(rows: list[tuple[date, str]]) -> dict[str, tuple[SourceSpan, ...]]:
    spans: dict[str, SourceSpan] = {}
    for day, source in rows:
        known = spans.get(source)
        spans[source] = SourceSpan(source, known.first if known else day, day)
    return {MARKET_INDEX: tuple(spans.values())} if len(spans) > 1 else {}


def _mixed_series_sources(
    records: np.ndarray, names: list[str], first_day: date
) -> dict[str, tuple[SourceSpan, ...]]:
    """Each series of the COPY records with more than one source, and each source's span.
    A bitmask of the sources seen per column finds them in one pass; the spans are worked
    out for those columns only (none, where every series has one source)."""
    column = records["column"].astype(np.intp) - 1
    code = records["source"].astype(np.intp)
    seen = np.zeros(len(names), dtype=np.int64)
    np.bitwise_or.at(seen, column, np.left_shift(1, code))
    mixed_columns = np.flatnonzero(np.bitwise_count(seen) > 1)
    out: dict[str, tuple[SourceSpan, ...]] = {}
    for j in mixed_columns.tolist():
        mine = column == j
        days, codes = records["day"][mine], code[mine]
        spans = []
        for c in np.unique(codes).tolist():
            these = days[codes == c]
            spans.append(
                SourceSpan(
                    PRICE_SOURCES[c - 1] if c > 0 else "unknown",
                    first_day + timedelta(days=int(these.min())),
                    first_day + timedelta(days=int(these.max())),
                )
            )
        out[names[j]] = tuple(sorted(spans, key=lambda s: s.first))
    return out


@dataclass(frozen=True)
class LastClose:
    """A symbol's last close as traded on or before a day, and its date."""

    date: date
    close: Decimal


async def last_closes(
    session: AsyncSession, symbols: Iterable[str], day: date
) -> dict[str, LastClose]:
    """Each symbol's last close as traded on or before ``day``, with its date (what a
    share held that day was worth); symbols without one are absent. One query: a
    backward index step per symbol, however long the price history."""
    names = sorted(set(symbols))
    if not names:
        return {}
    wanted = (
        func.unnest(literal(names, ARRAY(String))).table_valued("symbol").render_derived("wanted")
    )
    last = (
        select(DailyPrice.date.label("date"), DailyPrice.close.label("close"))
        .where(DailyPrice.symbol == wanted.c.symbol, DailyPrice.date <= day)
        .order_by(DailyPrice.date.desc())
        .limit(1)
        .lateral("last")
    )
    rows = await session.execute(
        select(wanted.c.symbol, last.c.date, last.c.close).join(last, true())
    )
    return {symbol: LastClose(day, close) for symbol, day, close in rows}


@dataclass(frozen=True)
class StoredPrice:
    date: date
    close: Decimal
    adjusted_close: Decimal


@dataclass(frozen=True)
class StoredTail:
    """What a symbol's stored prices are: its first date and its last rows, oldest first."""

    first: date
    last_rows: list[StoredPrice]

    @property
    def last(self) -> date:
        return self.last_rows[-1].date


async def price_tails(
    session: AsyncSession, symbols: Iterable[str], rows: int
) -> dict[str, StoredTail]:
    """The first date and the last ``rows`` prices of each symbol that has any (absent:
    none stored). One query: index steps per symbol, however long the histories."""
    names = sorted(set(symbols))
    if not names:
        return {}
    wanted = (
        func.unnest(literal(names, ARRAY(String))).table_valued("symbol").render_derived("wanted")
    )
    tail = (
        select(DailyPrice.date, DailyPrice.close, DailyPrice.adjusted_close)
        .where(DailyPrice.symbol == wanted.c.symbol)
        .order_by(DailyPrice.date.desc())
        .limit(rows)
        .lateral("tail")
    )
    first = (
        select(func.min(DailyPrice.date))
        .where(DailyPrice.symbol == wanted.c.symbol)
        .scalar_subquery()
    )
    result = await session.execute(
        select(wanted.c.symbol, first, tail.c.date, tail.c.close, tail.c.adjusted_close)
        .join(tail, true())
        .order_by(wanted.c.symbol, tail.c.date)
    )
    found: dict[str, StoredTail] = {}
    for symbol, first_day, day, close, adjusted in result:
        found.setdefault(symbol, StoredTail(first_day, [])).last_rows.append(
            StoredPrice(day, close, adjusted)
        )
    return found


async def price_series(session: AsyncSession, symbol: str) -> list[StoredPrice]:
    """Every stored price of ``symbol``, oldest first."""
    rows = await session.execute(
        select(DailyPrice.date, DailyPrice.close, DailyPrice.adjusted_close)
        .where(DailyPrice.symbol == symbol)
        .order_by(DailyPrice.date)
    )
    return [StoredPrice(*row) for row in rows]


async def sectors_of(session: AsyncSession, symbols: Sequence[str]) -> dict[str, str | None]:
    """GICS sector per symbol from security_profiles (None: ETF, unclassified or unknown)."""
    rows = await session.execute(
        select(SecurityProfile.symbol, SecurityProfile.sector).where(
            SecurityProfile.symbol.in_(list(symbols))
        )
    )
    found: dict[str, str | None] = {symbol: sector for symbol, sector in rows}
    return {s: found.get(s) for s in symbols}


# --- writes -------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceRow:
    """A day's price of a symbol: the close as traded and the total-return close (equal
    when no split or dividend came after the day, or the source knows of none)."""

    symbol: str
    date: date
    close: Decimal
    adjusted_close: Decimal
    volume: int | None = None


@dataclass(frozen=True)
class ProfileRow:
    symbol: str
    sector: str | None
    is_etf: bool = False
    name: str | None = None
    industry: str | None = None


_BATCH = 5_000


@dataclass(frozen=True)
class Written:
    """What a write did: rows written, and the other sources' rows it replaced."""

    rows: int
    replaced: list[StoredRows] = field(default_factory=list)


async def upsert_prices(
    session: AsyncSession, rows: Sequence[PriceRow], source: str, *, replace_source: bool = False
) -> Written:
    """Insert or replace (symbol, date) closes from ``source``. A symbol whose prices come
    from another source is refused before anything is written (OtherSourceError), or with
    ``replace_source`` its other rows are deleted first (app.prices.sources)."""
    replaced = await take_over_symbols(
        session, DailyPrice, {r.symbol for r in rows}, source, replace=replace_source
    )
    return Written(await write_prices(session, rows, source), replaced)


async def write_prices(session: AsyncSession, rows: Sequence[PriceRow], source: str) -> int:
    """Insert or replace the (symbol, date) closes of symbols already taken over by
    ``source`` (:func:`upsert_prices` checks that first); returns the rows written."""
    # Every value column is replaced: a re-load from another source leaves nothing stale.
    stmt = upsert(
        DailyPrice,
        constraint="uq_daily_prices_symbol_date",
        update=("close", "adjusted_close", "volume", "source"),
    )
    params = [
        {
            "symbol": r.symbol,
            "date": r.date,
            "close": r.close,
            "adjusted_close": r.adjusted_close,
            "volume": r.volume,
            "source": source,
        }
        for r in rows
    ]
    for i in range(0, len(params), _BATCH):
        await session.execute(stmt, params[i : i + _BATCH])
    await session.flush()
    return len(params)


async def delete_prices(session: AsyncSession, symbol: str, days: Sequence[date]) -> int:
    """Remove ``symbol``'s prices of ``days``; returns how many there were."""
    if not days:
        return 0
    result = await session.execute(
        delete(DailyPrice).where(DailyPrice.symbol == symbol, DailyPrice.date.in_(list(days)))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def rescale_adjusted_closes(
    session: AsyncSession, symbol: str, before: date, factor: Decimal
) -> int:
    """Multiply ``symbol``'s total-return closes before ``before`` by ``factor`` (to join
    them to a history rescaled from ``before`` on: their returns stay the same)."""
    result = await session.execute(
        update(DailyPrice)
        .where(DailyPrice.symbol == symbol, DailyPrice.date < before)
        .values(adjusted_close=func.round(DailyPrice.adjusted_close * factor, 6))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def upsert_profiles(
    session: AsyncSession,
    rows: Sequence[ProfileRow],
    source: str,
    *,
    replace_source: bool = False,
) -> Written:
    """Insert or replace one profile per symbol from ``source``; another source's profile
    of a symbol is refused or, with ``replace_source``, replaced (as :func:`upsert_prices`)."""
    if not rows:
        return Written(0)
    replaced = await take_over_symbols(
        session, SecurityProfile, {r.symbol for r in rows}, source, replace=replace_source
    )
    stmt = upsert(
        SecurityProfile,
        constraint="uq_security_profiles_symbol",
        update=("name", "sector", "industry", "is_etf", "source"),
    )
    await session.execute(
        stmt,
        [
            {
                "symbol": r.symbol,
                "name": r.name,
                "sector": r.sector,
                "industry": r.industry,
                "is_etf": r.is_etf,
                "source": source,
            }
            for r in rows
        ],
    )
    await session.flush()
    return Written(len(rows), replaced)
