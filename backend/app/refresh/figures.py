"""Bringing every live portfolio's figures current, through the engine's own runs
(app.risk_metrics.runs): from the day after its last stored snapshot (its earliest
position's entry date when it has none), or from its stale mark when that is earlier,
through the market index's last stored price. A portfolio already current is not run; a
run that covers its mark clears it (compare-and-clear, as ``--stale`` does). The due
portfolios are planned together (app.risk_metrics.runs.plan_ranges: one price load for
all of them), then run one after another."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.portfolios.repository import FiguresExtent, PortfolioNotFoundError, figures_extents
from app.prices.repository import last_trading_day
from app.risk_metrics import runs


@dataclass(frozen=True)
class DuePortfolio:
    portfolio_id: uuid.UUID
    name: str
    start: date
    """The first day to compute."""


@dataclass
class FiguresOutcome:
    through: date | None = None
    """The market index's last stored price: the last day computed."""
    due: list[DuePortfolio] = field(default_factory=list)
    run: runs.RunResult = field(default_factory=runs.RunResult)
    marks_cleared: int = 0
    marks_kept: int = 0


def first_due_day(extent: FiguresExtent) -> date | None:
    """The day after its last snapshot (its first entry date without one), or its stale
    mark when earlier; None: nothing to compute (no snapshot, no position, no mark)."""
    latest = extent.latest_snapshot_date
    start = latest + timedelta(days=1) if latest is not None else extent.first_entry_date
    if extent.stale_from is not None:
        start = extent.stale_from if start is None else min(start, extent.stale_from)
    return start


async def due_portfolios(engine: AsyncEngine) -> tuple[date | None, list[DuePortfolio]]:
    """The market index's last price, and each live portfolio with days to compute up to
    it (none without prices), by name: two queries, whatever their number."""
    async with AsyncSession(engine) as session:
        last = await last_trading_day(session)
        if last is None:
            return None, []
        extents = await figures_extents(session)
    due = []
    for extent in extents:
        start = first_due_day(extent)
        if start is not None and start <= last:
            due.append(DuePortfolio(extent.portfolio_id, extent.name, start))
    return last, due


Planned = Callable[[DuePortfolio, int], None]
"""Told each portfolio about to run and its number of trading days."""


async def bring_figures_current(
    engine: AsyncEngine,
    outcome: FiguresOutcome,
    *,
    beta_window: int,
    planned: Planned = lambda due, days: None,
    progress: runs.Progress = lambda name, day, settled: None,
) -> None:
    """Compute and store the due days of every live portfolio into ``outcome`` (filled as
    it goes); Ctrl-C stops after the chunk being stored (``outcome.run.interrupted``)."""
    outcome.through, outcome.due = await due_portfolios(engine)
    if outcome.through is None:
        return
    due_of = {due.portfolio_id: due for due in outcome.due}
    starts = [(due.portfolio_id, due.name, due.start) for due in outcome.due]
    # A portfolio without a trading day from its start (a holiday) has no plan.
    for plan in await runs.plan_ranges(engine, starts, outcome.through):
        ((portfolio_id, _),) = plan.portfolios
        planned(due_of[portfolio_id], len(plan.dates))
        try:
            await runs.run_plan(
                engine, plan, outcome.run, beta_window=beta_window, progress=progress
            )
        except PortfolioNotFoundError:
            continue  # deleted meanwhile: its run stopped before storing anything
        if outcome.run.interrupted:
            return
        cleared = await runs.clear_covered_marks(engine, plan, outcome.run)
        outcome.marks_cleared += len(cleared.cleared)
        outcome.marks_kept += len(cleared.kept)
