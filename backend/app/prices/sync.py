"""Bringing symbols' prices, corporate actions and profiles current from FMP: the service a
scheduled refresh calls after the close.

    day = await last_completed_trading_day(client)            # 1 request (SPY)
    plan = await plan_sync(session, client, symbols, through=day)
    async for outcome in run_sync(session, client, plan):      # ~1 request per symbol
        await session.commit()                                 # the caller's boundary
    profiles = await fetch_missing_profiles(session, client, symbols)

Per symbol, from what is stored:
- none stored: its full history (enough for the engine's longest window), both closes,
  and its splits and dividends (``loaded``);
- its last stored day is ``through``: nothing is asked (``current``; also when FMP has no
  day after the last stored one);
- else the total-return series from ``overlap_days`` stored days back (``updated``): when
  those days agree with what is stored, the new days are added, their close as traded
  being the same number (no action came after them); when they disagree (FMP rescaled
  the past after a new split or dividend), or the calendars name an action since the last
  stored day, the whole history is asked again and replaces the stored one
  (``reloaded``, with the earliest day whose prices changed).

Splits and dividends of the days being added come from FMP's two calendars (one request
each, every symbol at once), or, where the plan refuses a calendar (402), it overflows or
it keeps failing, from one request per symbol. A symbol FMP does not know (``[]``) is
``unknown``; one outside the FMP plan ``restricted``; any other error of a symbol (404, a
bad payload, a timeout or 429 after the client's retries) is ``failed`` and leaves the
others alone. Only an invalid key stops everything (FmpAuthError). Services flush;
callers commit.

One symbol's prices come from one source (app.prices.sources): a symbol whose stored
prices come from another (the demo's, a CSV's) is not asked for and not written
(``other_source``, with the reason; a re-run does not change it), unless the caller asks
``replace_source``: then its whole history is loaded from FMP in place of those rows.
A symbol that has a profile, of any source, keeps it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.formulas.har import HAR_HISTORY_DAYS
from app.integrations.fmp.actions import (
    DIVIDENDS_CALENDAR_PATH,
    SPLITS_CALENDAR_PATH,
    dividends,
    dividends_calendar,
    splits,
    splits_calendar,
)
from app.integrations.fmp.client import (
    FmpAuthError,
    FmpBadResponseError,
    FmpClient,
    FmpError,
    FmpPlanError,
)
from app.integrations.fmp.prices import profile, total_return_closes
from app.models import DailyPrice, SecurityProfile
from app.prices.actions import ActionRow, upsert_actions
from app.prices.history import actions_from_fmp, fetch_history, replace_history, same_price
from app.prices.loaders import profile_row
from app.prices.repository import (
    MARKET_INDEX,
    PriceRow,
    StoredTail,
    price_tails,
    upsert_prices,
    upsert_profiles,
)
from app.prices.sources import OtherSourceError, StoredRows, other_source_rows

logger = logging.getLogger(__name__)

SOURCE = "FMP"
HISTORY_SPAN = timedelta(days=math.ceil((HAR_HISTORY_DAYS + 1) * 365.25 / 252) + 14)
"""Calendar days of a new symbol's history: the engine's longest window (the HAR fit's
HAR_HISTORY_DAYS returns, so one price more) at 252 trading days a year, two weeks over."""

NEW_YORK = ZoneInfo("America/New_York")
EOD_READY = time(16, 30)
"""New York time after which the day's close counts as complete (the close is at 16:00)."""

SyncStatus = Literal[
    "current", "updated", "reloaded", "loaded", "unknown", "restricted", "failed", "other_source"
]
Mode = Literal["current", "append", "reload", "load", "other_source"]


# --- the market's calendar ---------------------------------------------------------------


def last_completed_session_date(now: datetime) -> date:
    """The New York date whose session is over at ``now`` (timezone-aware): today after
    EOD_READY, else yesterday (a weekend or holiday date too: FMP's prices say which
    days traded)."""
    local = now.astimezone(NEW_YORK)
    return local.date() if local.time() >= EOD_READY else local.date() - timedelta(days=1)


async def last_completed_trading_day(
    client: FmpClient, now: datetime | None = None, *, market: str = MARKET_INDEX
) -> date | None:
    """The market's last completed trading day per FMP: the newest day of ``market``'s
    prices up to the last completed session (one request; None: FMP has none in the two
    weeks before). Ask it first: when it is the last stored day, nothing else is due."""
    cutoff = last_completed_session_date(now or datetime.now(NEW_YORK))
    rows = await total_return_closes(client, market, cutoff - timedelta(days=14), cutoff)
    return rows[-1].date if rows else None


# --- the plan ----------------------------------------------------------------------------


@dataclass
class SymbolPlan:
    symbol: str
    mode: Mode
    start: date
    """The first day asked for."""
    stored: StoredTail | None
    actions: list[ActionRow] = field(default_factory=list)
    """Actions of the days to add, from the calendars or asked per symbol."""
    actions_known: bool = False
    """Whether the days to add were searched for actions (calendar or per symbol)."""
    error: str | None = None
    """Why the symbol cannot be brought current (its prices come from another source, or
    a per-symbol action request failed)."""
    replace_source: bool = False
    """Whether another source's stored prices of the symbol are to be replaced."""


@dataclass
class SyncPlan:
    through: date
    symbols: list[SymbolPlan]
    notes: list[str] = field(default_factory=list)
    """What was done differently, for the summary (a calendar outside the plan, ...)."""


async def plan_sync(
    session: AsyncSession,
    client: FmpClient,
    symbols: Sequence[str],
    *,
    through: date,
    overlap_days: int | None = None,
    replace_source: bool = False,
) -> SyncPlan:
    """What each symbol needs to be current through ``through``, and the actions of the
    days to add: at most the two calendar requests (or per-symbol ones on a 402).
    ``overlap_days``: the stored days asked again (default: PRICE_OVERLAP_DAYS). A symbol
    whose prices come from another source is ``other_source``, or with ``replace_source``
    loaded whole in place of them."""
    if overlap_days is None:
        overlap_days = get_settings().price_overlap_days
    if overlap_days < 1:
        raise ValueError("overlap_days must be at least 1")
    tails = await price_tails(session, symbols, overlap_days)
    others: dict[str, list[StoredRows]] = {}
    for found in await other_source_rows(session, DailyPrice, symbols, SOURCE):
        others.setdefault(found.symbol, []).append(found)
    plans: list[SymbolPlan] = []
    for symbol in sorted(set(symbols)):
        tail = tails.get(symbol)
        if symbol in others and not replace_source:
            why = str(OtherSourceError(DailyPrice, SOURCE, others[symbol]))
            plans.append(SymbolPlan(symbol, "other_source", through, tail, error=why))
        elif symbol in others:
            start = through - HISTORY_SPAN
            plans.append(SymbolPlan(symbol, "load", start, None, replace_source=True))
        elif tail is None:
            plans.append(SymbolPlan(symbol, "load", through - HISTORY_SPAN, None))
        elif tail.last >= through:
            plans.append(SymbolPlan(symbol, "current", through, tail))
        else:
            plans.append(SymbolPlan(symbol, "append", tail.last_rows[0].date, tail))
    plan = SyncPlan(through, plans)
    appending = [p for p in plans if p.mode == "append"]
    if appending:
        await _find_actions(client, plan, appending)
    return plan


async def _find_actions(client: FmpClient, plan: SyncPlan, appending: list[SymbolPlan]) -> None:
    """The splits and dividends of the days each appending symbol is to get; a symbol with
    one since its last stored day is reloaded (its stored history is rescaled)."""
    start = min(p.stored.last for p in appending if p.stored) + timedelta(days=1)
    through, names = plan.through, [p.symbol for p in appending]

    async def calendar_splits() -> list[ActionRow]:
        return actions_from_fmp(await splits_calendar(client, start, through, names), [], through)

    async def symbol_splits(symbol: str) -> list[ActionRow]:
        return actions_from_fmp(await splits(client, symbol), [], through)

    async def calendar_dividends() -> list[ActionRow]:
        found = await dividends_calendar(client, start, through, names)
        return actions_from_fmp([], found, through)

    async def symbol_dividends(symbol: str) -> list[ActionRow]:
        return actions_from_fmp([], await dividends(client, symbol), through)

    found = [
        *await _calendar_or_each(
            plan, appending, SPLITS_CALENDAR_PATH, calendar_splits, symbol_splits
        ),
        *await _calendar_or_each(
            plan, appending, DIVIDENDS_CALENDAR_PATH, calendar_dividends, symbol_dividends
        ),
    ]
    for p in appending:
        assert p.stored is not None
        last = p.stored.last
        p.actions = [a for a in found if a.symbol == p.symbol and a.ex_date > last]
        p.actions_known = True
        if p.actions:
            p.mode = "reload"


async def _calendar_or_each(
    plan: SyncPlan,
    appending: list[SymbolPlan],
    path: str,
    from_calendar: Callable[[], Awaitable[list[ActionRow]]],
    of_symbol: Callable[[str], Awaitable[list[ActionRow]]],
) -> list[ActionRow]:
    """The calendar's actions (one request), or, when the plan refuses it (402), it
    overflows or it fails, each symbol's (one request each; a symbol whose request fails
    is marked failed)."""
    try:
        return await from_calendar()
    except FmpAuthError:
        raise
    except FmpError as exc:  # outside the plan (402), overflowing, or failing after retries
        why = "not in your FMP plan (HTTP 402)" if isinstance(exc, FmpPlanError) else str(exc)
        plan.notes.append(f"/{path}: {why}; asked per symbol instead")
    found: list[ActionRow] = []
    for p in appending:
        if p.error is not None:
            continue
        try:
            found += await of_symbol(p.symbol)
        except FmpAuthError:
            raise
        except FmpError as exc:
            p.error = _reason(exc, p.symbol)
    return found


# --- running it --------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolSync:
    """What bringing one symbol current did."""

    symbol: str
    status: SyncStatus
    last_date: date | None = None
    """Its last stored day afterwards."""
    rows_written: int = 0
    new_from: date | None = None
    """The first day added after the last stored one."""
    changed_from: date | None = None
    """The earliest stored day whose close as traded or return changed (a reload): the
    figures of portfolios holding it are stale from there."""
    actions_written: int = 0
    requests: int = 0
    reason: str | None = None
    """Why it is unknown, restricted, failed or other_source."""
    replaced: tuple[StoredRows, ...] = ()
    """Another source's prices of it, deleted first (``replace_source``)."""


def _reason(exc: FmpError, symbol: str) -> str:
    if isinstance(exc, FmpBadResponseError) and exc.status == 404:
        return f"FMP answered 404 (not found) for {symbol} on /{exc.path}"
    return str(exc)


async def run_sync(
    session: AsyncSession, client: FmpClient, plan: SyncPlan
) -> AsyncIterator[SymbolSync]:
    """Bring each symbol of ``plan`` current, one at a time, yielding what was done. Each
    symbol's rows are written in a savepoint (a failing write loses that symbol only);
    commit after each, or at the end."""
    for symbol_plan in plan.symbols:
        before = client.request_count
        outcome = await _sync_one(session, client, plan.through, symbol_plan)
        yield replace(outcome, requests=client.request_count - before)


async def _sync_one(
    session: AsyncSession, client: FmpClient, through: date, p: SymbolPlan
) -> SymbolSync:
    last = p.stored.last if p.stored else None
    if p.mode == "other_source":
        return SymbolSync(p.symbol, "other_source", last, reason=p.error)
    if p.error is not None:
        return SymbolSync(p.symbol, "failed", last, reason=p.error)
    if p.mode == "current":
        return SymbolSync(p.symbol, "current", last)
    try:
        if p.mode == "append":
            return await _append(session, client, through, p)
        # A reload the calendars called for has its new actions; a new symbol needs all.
        return await _reload(session, client, through, p, with_actions=not p.actions_known)
    except FmpAuthError:
        raise
    except FmpPlanError as exc:
        return SymbolSync(p.symbol, "restricted", last, reason=str(exc))
    except FmpError as exc:
        return SymbolSync(p.symbol, "failed", last, reason=_reason(exc, p.symbol))
    except OtherSourceError as exc:  # another source's rows written since the plan
        return SymbolSync(p.symbol, "other_source", last, reason=str(exc))
    except SQLAlchemyError as exc:
        logger.exception("storing %s failed", p.symbol)
        return SymbolSync(p.symbol, "failed", last, reason=f"storing its prices failed: {exc}")


async def _append(
    session: AsyncSession, client: FmpClient, through: date, p: SymbolPlan
) -> SymbolSync:
    assert p.stored is not None
    stored = p.stored
    fetched = await total_return_closes(client, p.symbol, p.start, through)
    if not fetched:
        return SymbolSync(
            p.symbol,
            "unknown",
            stored.last,
            reason=f"FMP has no prices for {p.symbol} from {p.start}",
        )
    by_day = {r.date: r for r in fetched}
    overlap = [r.date for r in fetched if r.date <= stored.last]
    agrees = overlap == [s.date for s in stored.last_rows] and all(
        same_price(s.adjusted_close, by_day[s.date].close) for s in stored.last_rows
    )
    if not agrees:
        # Something the calendars did not name rescaled the past: ask for its actions too.
        logger.info("%s: FMP's prices of stored days changed; reloading its history", p.symbol)
        return await _reload(session, client, through, p, with_actions=True)
    rows = [
        PriceRow(p.symbol, r.date, r.close, r.close, r.volume)
        for r in fetched
        if r.date > stored.last
    ]
    if not rows:
        return SymbolSync(p.symbol, "current", stored.last)
    async with session.begin_nested():
        written = (await upsert_prices(session, rows, SOURCE)).rows
        actions = await upsert_actions(session, p.actions, SOURCE)
    return SymbolSync(p.symbol, "updated", rows[-1].date, written, rows[0].date, None, actions)


async def _reload(
    session: AsyncSession, client: FmpClient, through: date, p: SymbolPlan, *, with_actions: bool
) -> SymbolSync:
    """The symbol's whole history (at least HISTORY_SPAN, from its first stored day if
    earlier), in place of the stored one; its splits and dividends with ``with_actions``."""
    start = through - HISTORY_SPAN
    if p.stored is not None:
        start = min(start, p.stored.first)
    history = await fetch_history(client, p.symbol, start, through, with_actions=with_actions)
    if not history.rows:
        last = p.stored.last if p.stored else None
        return SymbolSync(p.symbol, "unknown", last, reason=f"FMP has no prices for {p.symbol}")
    async with session.begin_nested():
        replaced = await replace_history(
            session, history.rows, SOURCE, replace_source=p.replace_source
        )
        actions = await upsert_actions(session, [*history.actions, *p.actions], SOURCE)
    return SymbolSync(
        p.symbol,
        "loaded" if p.stored is None else "reloaded",
        history.rows[-1].date,
        replaced.rows_written,
        replaced.new_from,
        replaced.changed_from,
        actions,
        replaced=tuple(replaced.replaced),
    )


# --- profiles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileSync:
    symbol: str
    status: Literal["loaded", "unknown", "restricted", "failed"]
    reason: str | None = None


async def fetch_missing_profiles(
    session: AsyncSession,
    client: FmpClient,
    symbols: Sequence[str],
    on_symbol: Callable[[ProfileSync], Awaitable[None]] | None = None,
) -> list[ProfileSync]:
    """The profile of each of ``symbols`` that has none stored (one request each)."""
    have = set(
        await session.scalars(
            select(SecurityProfile.symbol).where(SecurityProfile.symbol.in_(list(symbols)))
        )
    )
    out: list[ProfileSync] = []
    for symbol in sorted(set(symbols) - have):
        try:
            found = await profile(client, symbol)
        except FmpAuthError:
            raise
        except FmpPlanError as exc:
            result = ProfileSync(symbol, "restricted", str(exc))
        except FmpError as exc:
            result = ProfileSync(symbol, "failed", _reason(exc, symbol))
        else:
            if found is None:
                result = ProfileSync(symbol, "unknown", f"FMP has no profile for {symbol}")
            else:
                await upsert_profiles(session, [profile_row(found)], SOURCE)
                result = ProfileSync(symbol, "loaded")
        out.append(result)
        if on_symbol is not None:
            await on_symbol(result)
    return out
