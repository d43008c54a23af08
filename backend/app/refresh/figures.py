"""Bringing every live portfolio's figures current, through the engine's own runs
(app.risk_metrics.runs): from the day after its last stored snapshot (its earliest
position's entry date when it has none), or from its stale mark when that is earlier,
through the market index's last stored price. A portfolio already current is not run; a
run that covers its mark clears it (compare-and-clear, as ``--stale`` does)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.portfolios.repository import (
    PortfolioNotFoundError,
    first_entry_date,
    latest_snapshot_date,
    stale_marks,
)
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


async def due_portfolios(engine: AsyncEngine) -> tuple[date | None, list[DuePortfolio]]:
    """The market index's last price, and each live portfolio with days to compute up to
    it (none without prices)."""
    async with AsyncSession(engine) as session:
        last = await last_trading_day(session)
        if last is None:
            return None, []
        marks = {m.portfolio_id: m.stale_from for m in await stale_marks(session)}
        due = []
        for portfolio_id, name in await runs.portfolios_to_run(session):
            latest = await latest_snapshot_date(session, portfolio_id)
            start = (
                latest + timedelta(days=1)
                if latest is not None
                else await first_entry_date(session, portfolio_id)
            )
            if portfolio_id in marks:
                start = min(d for d in (start, marks[portfolio_id]) if d is not None)
            if start is not None and start <= last:
                due.append(DuePortfolio(portfolio_id, name, start))
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
    for due in outcome.due:
        try:
            plan = await runs.plan_run(
                engine, due.start, outcome.through, single=False, only=due.portfolio_id
            )
        except (runs.NothingToRunError, PortfolioNotFoundError):
            continue  # no trading day from its start (a holiday), or deleted meanwhile
        planned(due, len(plan.dates))
        await runs.run_plan(engine, plan, outcome.run, beta_window=beta_window, progress=progress)
        if outcome.run.interrupted:
            return
        cleared = await runs.clear_covered_marks(engine, plan, outcome.run)
        outcome.marks_cleared += len(cleared.cleared)
        outcome.marks_kept += len(cleared.kept)
