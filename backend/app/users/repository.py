"""Reading and writing user rows. Emails match whatever their case: the lookups compare
lower(email) on both sides, which is the expression the unique index is built on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == func.lower(email)))


async def get_active(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user if it exists and is not disabled."""
    return await session.scalar(select(User).where(User.id == user_id, User.is_active))


_users = User.__table__.c
# Built once: run on every signed-in request, it skips statement building and cache-key
# generation (a statement object remembers its key).
_IS_ACTIVE = select(_users.id).where(_users.id == bindparam("user_id"), _users.is_active)


async def is_active(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user exists and is not disabled: one Core query (no ORM object)."""
    return (await session.scalar(_IS_ACTIVE, {"user_id": user_id})) is not None


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(func.lower(User.email)))).all()
