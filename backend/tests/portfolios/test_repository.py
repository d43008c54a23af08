"""The one visibility rule: live, and owned by the caller (unless an operator asks)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Portfolio, User
from app.portfolios.repository import (
    ANY_OWNER,
    PortfolioNotFoundError,
    PositionNotFoundError,
    active_positions,
    get_portfolio,
    get_position,
    list_portfolios,
    positions_held_between,
)
from tests.support.factories import make_portfolio, make_position, make_user


async def _two_users(session: AsyncSession) -> tuple[User, User]:
    return await make_user(session, "ann@example.com"), await make_user(session, "bob@example.com")


async def test_owner_sees_their_live_portfolio_and_its_positions(session: AsyncSession) -> None:
    ann, _ = await _two_users(session)
    portfolio = await make_portfolio(session, "Ann's", owner=ann)
    position = await make_position(session, portfolio)
    assert (await get_portfolio(session, portfolio.id, owner=ann.id)).id == portfolio.id
    assert (await get_position(session, position.id, owner=ann.id)).id == position.id
    assert [p.id for p in await list_portfolios(session, owner=ann.id)] == [portfolio.id]


async def _invisible_to_ann(session: AsyncSession, ann: User, bob: User) -> dict[str, Portfolio]:
    gone = await make_portfolio(session, "Ann's deleted", owner=ann, deleted=True)
    return {
        "another user's": await make_portfolio(session, "Bob's", owner=bob),
        "ownerless": await make_portfolio(session, "Nobody's"),
        "deleted": gone,
    }


@pytest.mark.parametrize("which", ["missing", "another user's", "ownerless", "deleted"])
async def test_a_portfolio_the_caller_may_not_see_is_exactly_a_missing_one(
    session: AsyncSession, which: str
) -> None:
    ann, bob = await _two_users(session)
    found = await _invisible_to_ann(session, ann, bob)
    portfolio_id = uuid.uuid4() if which == "missing" else found[which].id
    with pytest.raises(PortfolioNotFoundError) as raised:
        await get_portfolio(session, portfolio_id, owner=ann.id)
    assert str(raised.value) == f"unknown portfolio {portfolio_id}"
    assert await list_portfolios(session, owner=ann.id) == []


@pytest.mark.parametrize(
    "which", ["missing", "another user's", "ownerless", "in a deleted portfolio", "deleted"]
)
async def test_a_position_the_caller_may_not_see_is_exactly_a_missing_one(
    session: AsyncSession, which: str
) -> None:
    ann, bob = await _two_users(session)
    found = await _invisible_to_ann(session, ann, bob)
    mine = await make_portfolio(session, "Ann's", owner=ann)
    positions = {
        "another user's": await make_position(session, found["another user's"]),
        "ownerless": await make_position(session, found["ownerless"]),
        "in a deleted portfolio": await make_position(session, found["deleted"]),
        "deleted": await make_position(session, mine, deleted=True),
    }
    position_id = uuid.uuid4() if which == "missing" else positions[which].id
    with pytest.raises(PositionNotFoundError) as raised:
        await get_position(session, position_id, owner=ann.id)
    assert str(raised.value) == f"unknown position {position_id}"


async def test_operators_see_every_live_portfolio_whoever_owns_it(session: AsyncSession) -> None:
    ann, bob = await _two_users(session)
    found = await _invisible_to_ann(session, ann, bob)
    names = [p.name for p in await list_portfolios(session, owner=ANY_OWNER)]
    assert names == ["Bob's", "Nobody's"]
    ownerless = await get_portfolio(session, found["ownerless"].id, owner=ANY_OWNER)
    assert ownerless.owner_id is None
    with pytest.raises(PortfolioNotFoundError):
        await get_portfolio(session, found["deleted"].id, owner=ANY_OWNER)


async def test_active_positions_are_those_held_at_the_close_of_the_day(
    session: AsyncSession,
) -> None:
    portfolio = await make_portfolio(session)
    day = date(2025, 3, 3)
    held = await make_position(session, portfolio, "AAPL")
    await make_position(session, portfolio, "MSFT", exit_date=day)  # sold
    await make_position(session, portfolio, "XOM", entry_date=date(2025, 3, 4))  # later
    await make_position(session, portfolio, "KO", deleted=True)
    option = await make_position(
        session,
        portfolio,
        "AAPL250321C00200000",
        "2",
        "LC",
        underlying_symbol="AAPL",
        entry_price=Decimal("1"),
        expiration_date=day,
    )
    found = await active_positions(session, portfolio.id, day)
    assert [(p.id, p.symbol, p.series_symbol) for p in found] == [
        (held.id, "AAPL", "AAPL"),
        (option.id, "AAPL250321C00200000", "AAPL"),
    ]


async def test_the_days_a_span_holds_are_the_days_each_single_day_read_holds(
    session: AsyncSession,
) -> None:
    # One statement of "held at the close of a day" serves the range read (a span's first
    # and last held day) and the single-day read: they agree on every day around each edge.
    portfolio = await make_portfolio(session)
    days = [date(2025, 3, d) for d in range(1, 15)]
    for symbol, entry, exit_, expiry in [
        ("HELD", 3, None, None),
        ("SOLD", 1, 5, None),  # sold on the 5th: held through the 4th
        ("EXPIRES", 2, None, 6),  # expires on the 6th: held that day
        ("BOTH", 2, 9, 7),
        ("LATER", 4, 8, 12),
        ("SAMEDAY", 10, 10, None),  # sold the day it was bought: never held at a close
        ("AFTER", 20, None, None),
    ]:
        position = await make_position(session, portfolio, symbol)
        position.entry_date = date(2025, 3, entry)
        position.exit_date = None if exit_ is None else date(2025, 3, exit_)
        position.expiration_date = None if expiry is None else date(2025, 3, expiry)
    await session.flush()
    spans = await positions_held_between(session, portfolio.id, days[0], days[-1])
    assert "AFTER" not in {s.position.symbol for s in spans}
    held: dict[int, set[str]] = {}
    for day in days:
        single = await active_positions(session, portfolio.id, day)
        assert [s.position for s in spans if s.held_on(day)] == single, day
        held[day.day] = {p.symbol for p in single}
    assert held[4] == {"HELD", "SOLD", "EXPIRES", "BOTH", "LATER"}
    assert held[5] == {"HELD", "EXPIRES", "BOTH", "LATER"}
    assert held[7] == {"HELD", "BOTH", "LATER"}
    assert held[8] == {"HELD"}
