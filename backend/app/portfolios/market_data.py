"""What a book needs of the stored market data: whether each symbol has prices and a
profile yet (never a reason to refuse a position: it is named, with the command that
loads it), and the close an entry price defaults to."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Date, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.portfolios.schemas import DataStatus

ENTRY_PRICE_LOOKBACK = timedelta(days=6)
"""An entry date without a close (a weekend, a holiday) takes the last close before it,
up to this long before; further back is no price to take."""

# Only the symbols missing something come back: a book whose data is loaded reads nothing.
# A symbol known to be priced (``priced``) skips its price probe: with a realistic price
# history each probe costs a descent of the (symbol, date) index, whose comparisons go
# through the collation.
_STATUS = (
    "SELECT w.symbol, w.priced OR EXISTS (SELECT 1 FROM daily_prices p WHERE p.symbol = w.symbol)"
    " FROM unnest($1::text[], $2::boolean[]) AS w(symbol, priced)"
    " WHERE NOT EXISTS (SELECT 1 FROM security_profiles s WHERE s.symbol = w.symbol)"
    " OR NOT (w.priced OR EXISTS (SELECT 1 FROM daily_prices p WHERE p.symbol = w.symbol))"
)

_CLOSES = text(
    "SELECT w.symbol, w.day, c.close"
    " FROM unnest(:symbols, :days) AS w(symbol, day)"
    " JOIN LATERAL (SELECT p.close FROM daily_prices p"
    "   WHERE p.symbol = w.symbol AND p.date <= w.day"
    "   AND p.date >= w.day - CAST(:lookback AS integer)"
    "   ORDER BY p.date DESC LIMIT 1) AS c ON true"
).bindparams(
    bindparam("symbols", type_=ARRAY(String)),
    bindparam("days", type_=ARRAY(Date)),
)


async def data_statuses(
    session: AsyncSession, series: Iterable[str], *, priced: Collection[str] = ()
) -> dict[str, DataStatus | None]:
    """Per price series (a stock, an option's underlying): ``no_prices``, ``no_profile``
    or None (both stored). One query, an index probe per symbol (two unless it is among
    ``priced``, the series known to have a stored close)."""
    return await (await statuses_ahead(session, series, priced=priced))


async def statuses_ahead(
    session: AsyncSession, series: Iterable[str], *, priced: Collection[str] = ()
) -> asyncio.Future[dict[str, DataStatus | None]]:
    """:func:`data_statuses`, asked now and answered when awaited: on a connection that
    ran it before, the query is sent before this returns, so the database probes while
    the caller works without the session (checking a file's rows). Await it before the
    session's next statement: the connection answers one at a time."""
    names = sorted(set(series))
    statuses: dict[str, DataStatus | None] = dict.fromkeys(names)
    connection = await session.connection()

    async def answer() -> dict[str, DataStatus | None]:
        if names:
            known = [name in priced for name in names]
            result = await connection.exec_driver_sql(_STATUS, (names, known))
            for symbol, has_prices in cast("list[tuple[str, bool]]", result.all()):
                statuses[symbol] = "no_profile" if has_prices else "no_prices"
        return statuses

    asked = asyncio.ensure_future(answer())
    await asyncio.sleep(0)  # the task runs to its first wait: the query is on its way
    return asked


def load_hint(symbols: Iterable[str]) -> str | None:
    """The command that loads prices and profiles of ``symbols`` (None: no symbol)."""
    names = sorted(set(symbols))
    if not names:
        return None
    return (
        f"no prices or profile yet for {', '.join(names)}: load them with `cd backend && "
        f"uv run python scripts/load_prices.py --fmp {' '.join(names)}` (or --csv / "
        "--profiles-csv files), then scripts/calculate_risk_metrics.py --stale"
    )


async def entry_closes(
    session: AsyncSession, wanted: Iterable[tuple[str, date]]
) -> dict[tuple[str, date], Decimal]:
    """The stored close of each (symbol, entry date): that day's, else the last one up to
    :data:`ENTRY_PRICE_LOOKBACK` before; pairs without one are absent. One query."""
    pairs = sorted(set(wanted))
    if not pairs:
        return {}
    rows = await session.execute(
        _CLOSES,
        {
            "symbols": [symbol for symbol, _ in pairs],
            "days": [day for _, day in pairs],
            "lookback": ENTRY_PRICE_LOOKBACK.days,
        },
    )
    return {(symbol, day): close for symbol, day, close in rows}
