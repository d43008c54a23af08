"""The daily refresh: prices, corporate actions, profiles, benchmark weights and figures,
brought current in one idempotent run (scripts/refresh.py).

    async with FmpClient.from_settings(...) as client:
        report = RefreshReport()
        await refresh(engine, client, report)

1. One refresh at a time (app.refresh.lock): a second one raises RefreshRunningError.
2. The market decides what is due: FMP's last completed trading day of SPY (one request).
   When the stored SPY prices already reach it, nothing else is asked of FMP (a weekend
   or holiday run makes that one request), unless ``catch_up``.
3. Otherwise every price series the live books hold (a stock, an option's underlying),
   and SPY, is brought current by app.prices.sync: a new symbol gets its whole history,
   the others the days since their last one (with PRICE_OVERLAP_DAYS asked again; a
   symbol whose past FMP rescaled is reloaded whole), splits and dividends from the two
   calendars. One symbol's failure is its own; each symbol is committed on its own.
4. Where the stored prices of a symbol changed or were added on or before days already
   computed (a reload, a symbol that was missing), the portfolios holding it are marked
   stale from that day (app.portfolios.store.mark_stale).
5. Profiles of the series without one; the benchmark's sector weights when the stored
   ones are older than BENCHMARK_WEIGHTS_MAX_AGE_DAYS (app.benchmarks.sources).
6. The figures of every live portfolio, through the last SPY price (app.refresh.figures).

Everything the run did, and what failed, goes into the caller's :class:`RefreshReport`
as it happens, so that an interrupted run can say what it stored.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.benchmarks.repository import upsert_sector_weights, weights_on_or_before
from app.benchmarks.sources import fetch_sector_weights
from app.benchmarks.weights import BenchmarkDataError
from app.config import get_settings
from app.core.errors import EXIT_DATA_ERROR, EXIT_INTERRUPTED, EXIT_OK, ConfigurationError
from app.core.types import DEFAULT_BENCHMARK
from app.factors.definitions import factor_symbols
from app.formulas.book import DEFAULT_BETA_WINDOW
from app.integrations.fmp.client import FmpAuthError, FmpClient, FmpError
from app.models import DailyPrice
from app.portfolios.market_data import data_statuses
from app.portfolios.repository import figures_resting_on, held_series, latest_figures_date
from app.portfolios.store import mark_stale
from app.prices.repository import MARKET_INDEX, last_trading_day
from app.prices.sources import other_source_rows
from app.prices.sync import (
    NEW_YORK,
    SOURCE,
    ProfileSync,
    SymbolSync,
    fetch_missing_profiles,
    last_completed_session_date,
    last_completed_trading_day,
    plan_sync,
    run_sync,
)
from app.refresh.figures import FiguresOutcome, bring_figures_current
from app.refresh.lock import refresh_lock
from app.risk_metrics import runs

logger = logging.getLogger(__name__)

FAILED_STATUSES = frozenset({"failed", "restricted"})
"""Symbol outcomes that leave the run partial (``unknown`` and ``other_source`` are
reported, but no re-run changes them)."""

PRICED_STATUSES = frozenset({"current", "updated", "reloaded", "loaded"})


@dataclass(frozen=True)
class WeightsOutcome:
    status: str
    """``current``, ``seeded`` or ``failed``."""
    asof: date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MarkedStale:
    portfolio_name: str
    symbol: str
    stale_from: date


@dataclass
class RefreshReport:
    """What a refresh did, filled as it goes."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    market_day: date | None = None
    """FMP's last completed trading day of SPY."""
    stored_market_day: date | None = None
    """SPY's last stored day before the run."""
    fetched: bool = False
    """Whether symbols were asked for (SPY had a new day, or ``catch_up``)."""
    symbols: list[SymbolSync] = field(default_factory=list)
    symbols_planned: int = 0
    profiles: list[ProfileSync] = field(default_factory=list)
    weights: WeightsOutcome | None = None
    marked: list[MarkedStale] = field(default_factory=list)
    figures: FiguresOutcome = field(default_factory=FiguresOutcome)
    no_prices: list[str] = field(default_factory=list)
    """Series held by a live position with no stored price after the run."""
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Failures outside one symbol or portfolio (the market's day, the weights)."""
    requests: int = 0
    """Requests sent to FMP by this run, retries included."""
    interrupted: bool = False
    """Set by the caller (Ctrl-C) to stop after the symbol or chunk in flight; set by the
    figures' run when it stopped there."""

    def failures(self) -> list[str]:
        """What failed, one line each: what a re-run is to finish."""
        out = list(self.errors)
        out += [f"{s.symbol}: {s.reason}" for s in self.symbols if s.status in FAILED_STATUSES]
        out += [f"profile of {p.symbol}: {p.reason}" for p in self.profiles if p.status == "failed"]
        if self.weights is not None and self.weights.status == "failed":
            out.append(f"{DEFAULT_BENCHMARK} sector weights: {self.weights.reason}")
        out += [f"{name} {day}: {why}" for name, day, why in self.figures.run.failures]
        return out

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_DATA_ERROR if self.failures() else EXIT_OK


Stage = Callable[[str, int | None], None]
"""Told a stage's description and its number of steps (None: unknown)."""
Step = Callable[[str], None]
"""Told one step of the stage done, with what it was about."""


@dataclass
class RefreshProgress:
    stage: Stage = lambda description, total: None
    step: Step = lambda what: None


def _cutoff_now(through: date | None) -> datetime | None:
    """The moment whose last completed session is ``through`` (None: now)."""
    if through is None:
        return None
    return datetime.combine(through, time(23, 59), NEW_YORK)


def refuse_future(through: date, now: datetime | None = None) -> None:
    """ConfigurationError when ``through`` is after the last completed New York session."""
    last = last_completed_session_date(now or datetime.now(NEW_YORK))
    if through > last:
        raise ConfigurationError(
            f"--through {through} is after the last completed session ({last}): its "
            "prices are not final yet; nothing was done"
        )


async def refresh(
    engine: AsyncEngine,
    client: FmpClient,
    report: RefreshReport,
    *,
    through: date | None = None,
    catch_up: bool = False,
    beta_window: int = DEFAULT_BETA_WINDOW,
    progress: RefreshProgress | None = None,
    factor_etfs: Sequence[str] | None = None,
) -> None:
    """Bring everything current (see the module docstring) into ``report``. ``through``:
    the last day to bring current (default: the last completed session). ``factor_etfs``:
    the ETFs brought beside the held series (default: those of the factor file). Raises
    RefreshRunningError, ConfigurationError (SPY stored from another source) and
    FmpAuthError (the key) before anything is written. Setting ``report.interrupted``
    (a Ctrl-C handler) stops it after the symbol or profile in flight, and the figures'
    runs stop on Ctrl-C after the chunk in flight: what is stored is whole."""
    progress = progress or RefreshProgress()
    etfs = factor_symbols() if factor_etfs is None else tuple(factor_etfs)
    sent_before = client.request_count
    async with refresh_lock(engine, report.started):
        try:
            await _prices(engine, client, report, through, catch_up, progress, etfs)
        finally:
            report.requests = client.request_count - sent_before
        if report.interrupted:
            return
        await bring_figures_current(
            engine,
            report.figures,
            beta_window=beta_window,
            planned=lambda due, days: progress.stage(f"figures: {due.name}", days),
            progress=_settled(progress),
        )
        report.interrupted |= report.figures.run.interrupted
        async with AsyncSession(engine) as session:
            series = await _held(session, ())
            statuses = await data_statuses(session, series)
        report.no_prices = sorted(s for s, status in statuses.items() if status == "no_prices")


def _settled(progress: RefreshProgress) -> runs.Progress:
    def settled(name: str, day: date | None, count: int) -> None:
        for _ in range(count):
            progress.step(name)

    return settled


async def _held(session: AsyncSession, factor_etfs: Sequence[str]) -> list[str]:
    """Every series a live position holds, the market index, and ``factor_etfs`` (the
    style factors' ETFs the engine regresses every position on)."""
    ids = [p for p, _ in await runs.portfolios_to_run(session)]
    held = await held_series(session, ids) if ids else []
    return sorted({*held, MARKET_INDEX, *factor_etfs})


async def _prices(
    engine: AsyncEngine,
    client: FmpClient,
    report: RefreshReport,
    through: date | None,
    catch_up: bool,
    progress: RefreshProgress,
    factor_etfs: Sequence[str],
) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        symbols = await _held(session, factor_etfs)
        others = await other_source_rows(session, DailyPrice, [MARKET_INDEX], SOURCE)
        if others:
            raise ConfigurationError(
                f"the market index's prices come from another source ({others[0]}): the "
                "refresh keeps FMP's. Replace them: scripts/load_prices.py --fmp "
                f"{MARKET_INDEX} --replace-source (or scripts/demo_data.py --remove); "
                "nothing was done"
            )
        report.stored_market_day = await last_trading_day(session)
        progress.stage(f"{MARKET_INDEX}'s last trading day", 1)
        try:
            day = await last_completed_trading_day(client, _cutoff_now(through))
        except FmpAuthError:
            raise
        except FmpError as exc:
            report.errors.append(f"the market's last trading day ({MARKET_INDEX}): {exc}")
            return
        progress.step(MARKET_INDEX)
        report.market_day = day
        if day is None:
            report.errors.append(
                f"FMP has no {MARKET_INDEX} price in the two weeks before the last session"
            )
            return
        stored = report.stored_market_day
        if stored is not None and stored >= day and not catch_up:
            report.notes.append(
                f"no trading day after {stored} ({MARKET_INDEX}'s last stored price): "
                "nothing else asked of FMP"
            )
            return
        report.fetched = True
        plan = await plan_sync(session, client, symbols, through=day)
        report.notes += plan.notes
        report.symbols_planned = len(plan.symbols)
        progress.stage("prices", len(plan.symbols))
        computed_through = await latest_figures_date(session)
        syncing = run_sync(session, client, plan)
        try:
            async for outcome in syncing:
                await session.commit()
                report.symbols.append(outcome)
                await _mark_stale(session, outcome, computed_through, report)
                progress.step(outcome.symbol)
                if report.interrupted:
                    return
        finally:
            if isinstance(syncing, AsyncGenerator):  # stopped early: its session work ends
                await syncing.aclose()
        # A profile is asked for a symbol priced now: one FMP has no prices of, or whose
        # request failed, would only fail again (its profile comes with its prices).
        unpriced = {s.symbol for s in report.symbols if s.status not in PRICED_STATUSES}
        wanted = [s for s in symbols if s not in unpriced]
        progress.stage("profiles", None)

        async def profile_done(result: ProfileSync) -> None:
            await session.commit()
            report.profiles.append(result)
            progress.step(result.symbol)
            if report.interrupted:
                raise _Stopped

        try:
            await fetch_missing_profiles(session, client, wanted, profile_done)
        except _Stopped:
            return
        await session.commit()
        report.weights = await _weights(session, client, day, progress)


class _Stopped(Exception):
    """Ctrl-C asked the run to stop after the step in flight."""


async def _mark_stale(
    session: AsyncSession, outcome: SymbolSync, computed_through: date | None, report: RefreshReport
) -> None:
    """Figures computed on or after the first day whose prices changed or arrived late
    read other prices than those stored now: their portfolios are stale from there. (A
    daily run's new day is after every stored figure: nothing to look up.)"""
    since = min(
        (d for d in (outcome.changed_from, outcome.new_from) if d is not None), default=None
    )
    if since is None or computed_through is None or since > computed_through:
        return
    for portfolio_id, name, first in await figures_resting_on(session, outcome.symbol, since):
        await mark_stale(session, portfolio_id, first)
        report.marked.append(MarkedStale(name, outcome.symbol, first))
    await session.commit()


async def _weights(
    session: AsyncSession, client: FmpClient, day: date, progress: RefreshProgress
) -> WeightsOutcome:
    """The benchmark's sector weights, seeded again when the stored ones are older than
    the setting (counted to the market's last trading day)."""
    latest = await weights_on_or_before(session, DEFAULT_BENCHMARK)
    max_age = timedelta(days=get_settings().benchmark_weights_max_age_days)
    if latest is not None and day - latest.asof_date <= max_age:
        return WeightsOutcome("current", latest.asof_date)
    progress.stage(f"{DEFAULT_BENCHMARK} sector weights", None)
    try:
        weights = await fetch_sector_weights(client, benchmark_code=DEFAULT_BENCHMARK)
        await upsert_sector_weights(session, weights)
        await session.commit()
    except FmpAuthError:
        raise
    except (FmpError, BenchmarkDataError) as exc:
        await session.rollback()
        return WeightsOutcome("failed", latest.asof_date if latest else None, str(exc))
    return WeightsOutcome("seeded", weights.asof_date)
