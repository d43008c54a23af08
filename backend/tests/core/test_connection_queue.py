"""The request queue for database connections: first come first served, bounded wait."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.core.db import ConnectionQueue
from app.core.errors import database_unavailable


async def test_waiting_requests_get_a_slot_in_arrival_order_even_against_newcomers() -> None:
    queue = ConnectionQueue(slots=1, timeout=5)
    served: list[int] = []

    async def request(number: int) -> None:
        async with queue.slot():
            served.append(number)
            await asyncio.sleep(0.01)

    first = asyncio.create_task(request(0))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(request(n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    # A newcomer arriving while others wait must not overtake them.
    late = asyncio.create_task(request(6))
    await asyncio.gather(first, *waiting, late)
    assert served == [0, 1, 2, 3, 4, 5, 6]


async def test_no_slot_within_the_timeout_is_the_pool_timeout_a_503_reason() -> None:
    queue = ConnectionQueue(slots=1, timeout=0.05)
    async with queue.slot():
        with pytest.raises(PoolTimeoutError) as raised:
            async with queue.slot():
                pass
    assert database_unavailable(raised.value) == (
        "no database connection became free in time (the server is busy)"
    )
    async with queue.slot():  # the slot came back
        pass
