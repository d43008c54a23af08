"""Writing a portfolio and its positions by id: created, then updated in place."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Portfolio, Position
from app.portfolios.repository import ANY_OWNER, PortfolioNotFoundError, get_portfolio
from app.portfolios.store import (
    PortfolioFields,
    PositionFields,
    PositionOfAnotherPortfolioError,
    put_portfolio,
    put_positions,
)
from tests.support.factories import make_user

DAY = date(2025, 1, 2)


def _lot(symbol: str, quantity: str) -> PositionFields:
    return PositionFields(
        symbol=symbol,
        position_type="LONG",
        quantity=Decimal(quantity),
        entry_price=Decimal("10.5000"),
        entry_date=DAY,
    )


async def _positions(session: AsyncSession, portfolio_id: uuid.UUID) -> list[tuple[str, Decimal]]:
    rows = await session.execute(
        select(Position.symbol, Position.quantity)
        .where(Position.portfolio_id == portfolio_id)
        .order_by(Position.symbol)
        .execution_options(populate_existing=True)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_portfolio_is_created_then_its_fields_set_by_id(session: AsyncSession) -> None:
    owner = await make_user(session, "ann@example.com")
    portfolio_id = uuid.uuid4()
    await put_portfolio(session, portfolio_id, PortfolioFields(name="Draft"))
    await put_portfolio(
        session,
        portfolio_id,
        PortfolioFields(name="Book", equity_balance=Decimal("1000.00"), owner_id=owner.id),
    )
    stored = await get_portfolio(session, portfolio_id, owner=owner.id)
    await session.refresh(stored)
    assert (stored.name, stored.equity_balance, stored.currency) == (
        "Book",
        Decimal("1000.00"),
        "USD",
    )


async def test_a_soft_deleted_portfolio_stays_deleted_when_written_again(
    session: AsyncSession,
) -> None:
    portfolio_id = uuid.uuid4()
    await put_portfolio(session, portfolio_id, PortfolioFields(name="Gone"))
    gone = await session.get_one(Portfolio, portfolio_id)
    gone.deleted_at = datetime(2025, 1, 1, tzinfo=UTC)
    await session.flush()
    await put_portfolio(session, portfolio_id, PortfolioFields(name="Back?"))
    with pytest.raises(PortfolioNotFoundError):
        await get_portfolio(session, portfolio_id, owner=ANY_OWNER)


async def test_positions_are_created_then_updated_by_id_and_others_are_kept(
    session: AsyncSession,
) -> None:
    portfolio_id = uuid.uuid4()
    await put_portfolio(session, portfolio_id, PortfolioFields(name="Book"))
    aaa, bbb = uuid.uuid4(), uuid.uuid4()
    await put_positions(session, portfolio_id, {aaa: _lot("AAA", "5"), bbb: _lot("BBB", "7")})
    await put_positions(session, portfolio_id, {aaa: _lot("AAA", "6")})
    assert await _positions(session, portfolio_id) == [
        ("AAA", Decimal("6.000000")),
        ("BBB", Decimal("7.000000")),
    ]


async def test_another_portfolios_position_is_refused_and_nothing_is_written(
    session: AsyncSession,
) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await put_portfolio(session, mine, PortfolioFields(name="Mine"))
    await put_portfolio(session, theirs, PortfolioFields(name="Theirs"))
    taken = uuid.uuid4()
    await put_positions(session, theirs, {taken: _lot("AAA", "5")})
    with pytest.raises(PositionOfAnotherPortfolioError, match=str(taken)):
        await put_positions(
            session, mine, {uuid.uuid4(): _lot("BBB", "1"), taken: _lot("AAA", "9")}
        )
    assert await _positions(session, mine) == []
    assert await _positions(session, theirs) == [("AAA", Decimal("5.000000"))]
