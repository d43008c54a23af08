"""The order rows lie in a table's heap, against the order of its key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def heap_and_key_order(
    session: AsyncSession, select: str, key: str
) -> tuple[list[Any], list[Any]]:
    """The rows of ``select`` in heap order (as inserted, in a table nothing updated) and
    in ``key`` order."""
    heap = (await session.execute(text(f"{select} ORDER BY ctid"))).all()
    keyed = (await session.execute(text(f"{select} ORDER BY {key}"))).all()
    return heap, keyed
