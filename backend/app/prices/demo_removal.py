"""Taking the synthetic demo out again (``scripts/demo_data.py --remove``): every row it
wrote, and nothing of any other source, in the caller's one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.benchmarks.files import load_sector_weights_file
from app.benchmarks.repository import delete_sector_weights
from app.core.types import DEFAULT_BENCHMARK
from app.portfolios.repository import owned_portfolio_ids
from app.portfolios.store import RemovedPortfolio, remove_portfolios
from app.prices.demo import DEMO_BENCHMARK_WEIGHTS, DEMO_EMAIL, demo_portfolio_ids
from app.prices.sources import DEMO_SOURCE, remove_source
from app.users.repository import delete_user, find_by_email


@dataclass(frozen=True)
class DemoRemoved:
    """What :func:`remove_demo_data` took out."""

    prices: int
    profiles: int
    benchmark_weights: int
    portfolios: list[RemovedPortfolio]
    user: str | None
    """The demo user's email, when it existed."""

    @property
    def nothing(self) -> bool:
        return not (
            self.prices or self.profiles or self.benchmark_weights or self.portfolios or self.user
        )


async def remove_demo_data(session: AsyncSession) -> DemoRemoved:
    """Take every demo row out: prices and profiles of source DEMO, the demo's synthetic
    benchmark weights (its data_source, every date), the portfolios of the demo user and
    the demo's own portfolios whoever owns them now (for good, with their positions and
    figures), and the demo user. Rows of other sources stay. Nothing commits: the caller's
    one transaction takes all of it or none."""
    user = await find_by_email(session, DEMO_EMAIL)
    portfolio_ids = demo_portfolio_ids()
    if user is not None:
        portfolio_ids |= set(await owned_portfolio_ids(session, user.id))
    portfolios = await remove_portfolios(session, portfolio_ids)
    if user is not None:
        await delete_user(session, user.id)
    prices, profiles = await remove_source(session, DEMO_SOURCE)
    weights = load_sector_weights_file(DEMO_BENCHMARK_WEIGHTS, benchmark_code=DEFAULT_BENCHMARK)
    benchmark_rows = await delete_sector_weights(
        session, weights.benchmark_code, weights.data_source
    )
    await session.flush()
    return DemoRemoved(
        prices=prices,
        profiles=profiles,
        benchmark_weights=benchmark_rows,
        portfolios=portfolios,
        user=None if user is None else user.email,
    )
