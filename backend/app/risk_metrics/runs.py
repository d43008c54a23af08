"""Runs of the risk engine over many portfolio-dates (scripts/calculate_risk_metrics.py).

Which portfolio-dates a run covers (:func:`plan_run`): every live portfolio or one, on a
date as asked or on the market's trading days of a range, never a date after the market
index's last stored price (:func:`refuse_dates_after_last_price`: its figures would be
old prices stored as new); or each portfolio from a day of its own, sharing one price
load (:func:`plan_ranges`, the daily refresh's; :func:`plan_stale`). Then how they run
(:func:`run_plan`): a single date portfolio by portfolio, each in its own transaction; a
range through app.risk_metrics.backfill, portfolio after portfolio or in worker
processes, stopped by Ctrl-C after the chunk being stored. The caller passes the engine;
each worker process builds its own. A stale mark is cleared by ``--stale`` and by a range
that covers it whole, the same way.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import uuid
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

from app.core.db import create_engine_for, create_sessionmaker
from app.core.errors import AppError
from app.factors.store import delete_factor_figures
from app.portfolios.repository import (
    ANY_OWNER,
    PortfolioNotFoundError,
    StaleMark,
    get_portfolio,
    list_portfolios,
    stale_marks,
)
from app.portfolios.store import clear_stale_mark
from app.prices.repository import (
    MARKET_INDEX,
    MissingMarketDataError,
    PriceHistory,
    last_trading_day,
    trading_days,
)
from app.prices.sources import MixedPriceSourcesError
from app.risk_metrics import store
from app.risk_metrics.backfill import ChunkStored, backfill_portfolio
from app.risk_metrics.calculation import (
    PortfolioRiskSummary,
    calculate_portfolio_risk,
    shared_history,
)


class DateAfterLastPriceError(AppError):
    """A date to compute is after the market index's last stored price: nothing is run."""


class NothingToRunError(AppError):
    """No portfolio, or no trading day in the range: nothing is run."""


# --- which portfolio-dates ----------------------------------------------------------


async def portfolios_to_run(
    session: AsyncSession, only: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of every live portfolio, whoever owns it (an operator run), or of ``only``
    (PortfolioNotFoundError if it is unknown or deleted)."""
    if only is not None:
        portfolios = [await get_portfolio(session, only, owner=ANY_OWNER)]
    else:
        portfolios = await list_portfolios(session, owner=ANY_OWNER)
    return [(p.id, p.name) for p in portfolios]


async def dates_to_run(
    session: AsyncSession, start: date, end: date, *, single: bool
) -> list[date]:
    """``[start]`` for a single date (as asked, trading day or not), else the market's
    trading days in [start, end]."""
    if single:
        return [start]
    return await trading_days(session, start, end)


def refuse_dates_after_last_price(
    last_price: date | None, start: date, end: date, *, names: tuple[str, str]
) -> None:
    """DateAfterLastPriceError when [start, end] reaches past ``last_price``, the market
    index's last stored price (None: no price at all, which the price load reports).
    ``names`` are what the caller calls the two ends, so the message speaks its language."""
    if last_price is None or end <= last_price:
        return
    name, day = (names[0], start) if start > last_price else (names[1], end)
    raise DateAfterLastPriceError(
        f"{name} {day} is after the last {MARKET_INDEX} price ({last_price}): load its "
        "prices first; nothing written"
    )


@dataclass(frozen=True)
class RunPlan:
    """The portfolio-dates of a run and the prices they share."""

    portfolios: list[tuple[uuid.UUID, str]]
    """(id, name), by name."""
    dates: list[date]
    single: bool
    """One date as asked (else the trading days of a range)."""
    history: PriceHistory
    marks: list[StaleMark] = field(default_factory=list)
    """Stale marks of its portfolios that a range covers whole (:func:`covers_mark`):
    cleared after the run by :func:`clear_covered_marks`."""


def covers_mark(history_dates: Sequence[date], dates: Sequence[date], mark: StaleMark) -> bool:
    """Whether a range run of ``dates`` (through the last price) computes every trading day
    from ``mark`` on (``history_dates``: the run's prices, from before ``dates[0]``)."""
    before = history_dates[: bisect_left(history_dates, dates[0])]
    return not before or mark.stale_from > before[-1]


async def plan_run(
    engine: AsyncEngine,
    start: date,
    end: date,
    *,
    single: bool,
    only: uuid.UUID | None = None,
    names: tuple[str, str] = ("'from'", "'to'"),
) -> RunPlan:
    """What a run of [start, end] (``single``: the one date ``start``) computes, of every
    live portfolio or ``only``. Refused, before anything is written: an unknown portfolio
    (PortfolioNotFoundError), a date after the last market price, no portfolio or no
    trading day (NothingToRunError), no prices (MissingMarketDataError)."""
    async with AsyncSession(engine) as session:
        portfolios = await portfolios_to_run(session, only)
        last = await last_trading_day(session)
        refuse_dates_after_last_price(last, start, end, names=names)
        if not portfolios:
            raise NothingToRunError("no portfolios: load some first (scripts/demo_data.py)")
        dates = await dates_to_run(session, start, end, single=single)
        if not dates:
            raise NothingToRunError(
                f"no trading days ({MARKET_INDEX} prices) between {start} and {end}"
            )
        history = await shared_history(session, [p for p, _ in portfolios], start, end)
        marks = []
        if not single and dates[-1] == last:
            marks = [
                m for m in await stale_marks(session, only) if covers_mark(history.dates, dates, m)
            ]
    return RunPlan(portfolios, dates, single, history, marks)


async def trading_days_from(
    session: AsyncSession, starts: Mapping[uuid.UUID, date], end: date
) -> dict[uuid.UUID, list[date]]:
    """Each portfolio's trading days from its start in ``starts`` through ``end``: one
    query from the earliest start, sliced."""
    if not starts:
        return {}
    days = await trading_days(session, min(starts.values()), end)
    return {pid: days[bisect_left(days, start) :] for pid, start in starts.items()}


async def plan_ranges(
    engine: AsyncEngine, starts: Sequence[tuple[uuid.UUID, str, date]], end: date
) -> list[RunPlan]:
    """A range run per portfolio of ``starts`` ((id, name, its first day)), of its trading
    days through ``end``, in that order; one without a trading day has none. They share
    one price history, from the earliest of them (a date's figures read only its own
    window of it, app.risk_metrics.calculation), one trading-days query and one read of
    the stale marks: a run through the market index's last price clears the mark of its
    portfolio that it covers whole (:func:`covers_mark`). A day after the last market price
    is refused (as :func:`plan_run`). The statements it sends do not depend on the number
    of portfolios."""
    if not starts:
        return []
    async with AsyncSession(engine) as session:
        last = await last_trading_day(session)
        refuse_dates_after_last_price(
            last, min(start for _, _, start in starts), end, names=("start", "end")
        )
        days = await trading_days_from(session, {p: start for p, _, start in starts}, end)
        running = [(p, name, days[p]) for p, name, _ in starts if days[p]]
        if not running:
            return []
        first = min(dates[0] for _, _, dates in running)
        history = await shared_history(session, [p for p, _, _ in running], first, end)
        marks = {m.portfolio_id: m for m in await stale_marks(session)}
    plans = []
    for portfolio_id, name, dates in running:
        mark = marks.get(portfolio_id)
        covered = []
        if mark is not None and dates[-1] == last and covers_mark(history.dates, dates, mark):
            covered.append(mark)
        plans.append(RunPlan([(portfolio_id, name)], dates, False, history, covered))
    return plans


async def delete_figures(
    engine: AsyncEngine, start: date, end: date, only: uuid.UUID | None = None
) -> store.RemovedFigures:
    """Remove the figures of [start, end] (of ``only``, if given: PortfolioNotFoundError if
    it is unknown or deleted), all of them or none (one transaction)."""
    async with AsyncSession(engine) as session, session.begin():
        portfolio_ids = None
        if only is not None:
            portfolio_ids = [p for p, _ in await portfolios_to_run(session, only)]
        await delete_factor_figures(session, start, end, portfolio_ids)
        return await store.delete_risk_figures(session, start, end, portfolio_ids)


# --- running them ---------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run stored so far (filled as it goes, so an interrupted run can say it)."""

    summaries: list[PortfolioRiskSummary] = field(default_factory=list)
    failures: list[tuple[str, date, str]] = field(default_factory=list)
    """(portfolio name, date, why) of each portfolio-date not stored."""
    failed_portfolios: set[uuid.UUID] = field(default_factory=set)
    """The portfolios of those portfolio-dates."""
    interrupted: bool = False
    """Ctrl-C came: the run stopped after the chunk being stored."""

    def add(self, chunk: ChunkStored) -> int:
        """Record a stored chunk; the number of portfolio-dates it settled."""
        self.summaries.extend(chunk.summaries)
        self.failures.extend((chunk.portfolio_name, d, m) for d, m in chunk.failures)
        if chunk.failures:
            self.failed_portfolios.add(chunk.portfolio_id)
        return len(chunk.summaries) + len(chunk.failures)


Progress = Callable[[str, date | None, int], None]
"""Told (portfolio name, its date on a single-date run, portfolio-dates just settled)."""


def _no_progress(name: str, day: date | None, settled: int) -> None:
    pass


async def run_plan(
    engine: AsyncEngine,
    plan: RunPlan,
    result: RunResult,
    *,
    beta_window: int,
    jobs: int = 1,
    chunk_dates: int | None = None,
    progress: Progress = _no_progress,
) -> None:
    """Compute and store ``plan`` into ``result``: a single date portfolio by portfolio
    (each in its own transaction), a range by :func:`backfill_portfolio` in this process
    (``jobs`` 1) or in ``jobs`` worker processes. Ctrl-C during a range run sets
    ``result.interrupted`` and stops after the chunks being stored."""
    if plan.single:
        sessions = create_sessionmaker(engine)
        (day,) = plan.dates
        for portfolio_id, name in plan.portfolios:
            progress(name, day, 0)
            try:
                async with sessions() as session, session.begin():
                    summary = await calculate_portfolio_risk(
                        session, portfolio_id, day, history=plan.history, beta_window=beta_window
                    )
                result.summaries.append(summary)
            except (MissingMarketDataError, MixedPriceSourcesError, PortfolioNotFoundError) as exc:
                result.failures.append((name, day, str(exc)))
                result.failed_portfolios.add(portfolio_id)
            progress(name, day, 1)
        return

    def stored(chunk: ChunkStored) -> None:
        progress(chunk.portfolio_name, None, result.add(chunk))

    if jobs > 1:
        await _in_workers(plan, result, beta_window, jobs, chunk_dates, stored)
        return
    # Ctrl-C sets a flag that the loop reads after each stored chunk.
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: setattr(result, "interrupted", True))
    try:
        for portfolio_id, _ in plan.portfolios:
            await backfill_portfolio(
                engine,
                portfolio_id,
                plan.dates,
                plan.history,
                beta_window,
                chunk_dates=chunk_dates,
                on_chunk=stored,
                stop=lambda: result.interrupted,
            )
            if result.interrupted:
                break
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _in_workers(
    plan: RunPlan,
    result: RunResult,
    beta_window: int,
    jobs: int,
    chunk_dates: int | None,
    stored: Callable[[ChunkStored], None],
) -> None:
    """Portfolios in ``jobs`` worker processes; each stores its chunks as one process does.
    Ctrl-C starts no more portfolios and makes the running ones stop after their chunk."""
    context = multiprocessing.get_context("spawn")  # a fresh engine per worker, no shared pool
    stop_event = context.Event()
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=worker_initializer, initargs=(stop_event,)
    ) as pool:
        futures = [
            pool.submit(
                backfill_in_worker, portfolio_id, plan.dates, plan.history, beta_window, chunk_dates
            )
            for portfolio_id, _ in plan.portfolios
        ]

        def stop() -> None:
            result.interrupted = True
            stop_event.set()
            for future in futures:
                future.cancel()  # those not started; the running ones stop after a chunk

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop)
        try:
            for next_done in asyncio.as_completed([asyncio.wrap_future(f) for f in futures]):
                try:
                    chunks = await next_done
                except (asyncio.CancelledError, CancelledError):
                    continue
                for chunk in chunks:
                    stored(chunk)
        finally:
            loop.remove_signal_handler(signal.SIGINT)


_stop_event: Any = None
"""The parent's stop flag (a multiprocessing Event), in a worker process."""


def worker_initializer(stop_event: Any = None) -> None:
    """Set up a worker: Ctrl-C is the parent's to handle (it sets ``stop_event``)."""
    global _stop_event
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_event = stop_event


def backfill_in_worker(
    portfolio_id: uuid.UUID,
    dates: Sequence[date],
    history: PriceHistory,
    beta_window: int,
    chunk_dates: int | None = None,
) -> list[ChunkStored]:
    """:func:`backfill_portfolio` in a worker process, over an engine of its own (in its
    own event loop); it stops after the chunk being stored once the parent sets the stop
    event."""
    chunks: list[ChunkStored] = []
    event = _stop_event

    async def run() -> None:
        # NullPool: the loop ends with asyncio.run(); pooled connections would outlive it.
        engine = create_engine_for(poolclass=NullPool)
        try:
            await backfill_portfolio(
                engine,
                portfolio_id,
                dates,
                history,
                beta_window,
                chunk_dates=chunk_dates,
                on_chunk=chunks.append,
                stop=lambda: event is not None and event.is_set(),
            )
        finally:
            await engine.dispose()

    asyncio.run(run())
    return chunks


# --- stale marks: the portfolio-dates a change of a book made out of date --------------


@dataclass(frozen=True)
class StalePlan:
    """The portfolio-dates a change of a book made out of date: per marked portfolio, the
    trading days from its mark through the market index's last price (none when the mark
    is after it: no stored figure can be out of date then)."""

    marks: list[tuple[StaleMark, list[date]]]
    history: PriceHistory | None
    """Prices shared by the runs (None: no date to compute)."""


async def plan_stale(engine: AsyncEngine, only: uuid.UUID | None = None) -> StalePlan:
    """What ``--stale`` recomputes, of every marked live portfolio or ``only`` (an unknown
    one is PortfolioNotFoundError); no marks when every figure is current."""
    async with AsyncSession(engine) as session:
        if only is not None:
            await get_portfolio(session, only, owner=ANY_OWNER)
        marks = await stale_marks(session, only)
        if not marks:
            return StalePlan([], None)
        last = await last_trading_day(session)
        if last is None:
            raise MissingMarketDataError(
                f"no {MARKET_INDEX} prices: load prices first (scripts/load_prices.py)"
            )
        starts = {mark.portfolio_id: mark.stale_from for mark in marks}
        days_of = await trading_days_from(session, starts, last)
        planned = [(mark, days_of[mark.portfolio_id]) for mark in marks]
        with_dates = [(mark, days) for mark, days in planned if days]
        history = None
        if with_dates:
            start = min(days[0] for _, days in with_dates)
            ids = [mark.portfolio_id for mark, _ in with_dates]
            history = await shared_history(session, ids, start, last)
    return StalePlan(planned, history)


@dataclass
class StaleOutcome:
    cleared: list[StaleMark] = field(default_factory=list)
    kept: list[StaleMark] = field(default_factory=list)
    """Marks a change moved while the run computed (or whose dates failed): still stale."""


async def run_stale(
    engine: AsyncEngine,
    plan: StalePlan,
    result: RunResult,
    *,
    beta_window: int,
    jobs: int = 1,
    chunk_dates: int | None = None,
    progress: Progress | None = None,
) -> StaleOutcome:
    """Recompute each marked portfolio's dates, then clear its mark if every date was
    stored and the book did not change meanwhile (compare-and-clear)."""
    outcome = StaleOutcome()
    for mark, dates in plan.marks:
        if dates:
            assert plan.history is not None
            one = RunPlan([(mark.portfolio_id, mark.name)], dates, False, plan.history)
            await run_plan(
                engine,
                one,
                result,
                beta_window=beta_window,
                jobs=jobs,
                chunk_dates=chunk_dates,
                progress=progress or _no_progress,
            )
        if result.interrupted:
            break
        await _clear(engine, mark, result, outcome)
    return outcome


async def clear_covered_marks(
    engine: AsyncEngine, plan: RunPlan, result: RunResult
) -> StaleOutcome:
    """After a range run, clear the marks it covered whole as :func:`run_stale` does."""
    outcome = StaleOutcome()
    for mark in [] if result.interrupted else plan.marks:
        await _clear(engine, mark, result, outcome)
    return outcome


async def _clear(
    engine: AsyncEngine, mark: StaleMark, result: RunResult, outcome: StaleOutcome
) -> None:
    """Clear ``mark`` if every date of its portfolio was stored and the book did not change
    since the mark was read (compare-and-clear); record which it was."""
    cleared = False
    if mark.portfolio_id not in result.failed_portfolios:
        async with AsyncSession(engine) as session, session.begin():
            cleared = await clear_stale_mark(session, mark.portfolio_id, mark)
    (outcome.cleared if cleared else outcome.kept).append(mark)
