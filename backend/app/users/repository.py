"""Reading and writing user rows. Emails match whatever their case: the lookups compare
lower(email) on both sides, which is the expression the unique index is built on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.security import TokenClaims
from app.models import User


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == func.lower(email)))


async def get_active(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user if it exists and is not disabled."""
    return await session.scalar(select(User).where(User.id == user_id, User.is_active))


_users = User.__table__.c
# Built once: run on every signed-in request, it skips statement building and cache-key
# generation (a statement object remembers its key). One primary-key lookup answers both
# "is the user active" and "is this token still current".
_TOKEN_IS_CURRENT = select(_users.id).where(
    _users.id == bindparam("user_id"),
    _users.is_active,
    _users.token_version == bindparam("version"),
)


async def token_is_current(db: AsyncSession | AsyncConnection, claims: TokenClaims) -> bool:
    """Whether the token's user exists, is not disabled and has not revoked the tokens
    issued at the token's version: one Core query (no ORM object)."""
    params = {"user_id": claims.user_id, "version": claims.version}
    return (await db.scalar(_TOKEN_IS_CURRENT, params)) is not None


async def revoke_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    """End every token issued to the user so far (their ``ver`` no longer matches). Done in
    SQL, so two revocations at once both count."""
    await session.execute(
        update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
    )


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(func.lower(User.email)))).all()


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete the user row for good (its portfolios lose their owner: the foreign key sets
    it NULL; remove them first to take them out too)."""
    await session.execute(delete(User).where(User.id == user_id))
