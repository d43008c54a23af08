"""Signed-in users for API tests: real argon2 hashes, tokens signed with the tests' key.

``TEST_SIGNING_KEY`` is what conftest puts in AUTH_SECRET_KEY for the whole run (and so
for child processes); tokens made here are the ones the app under test accepts.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import TokenSigner, hash_password
from app.models import User

TEST_SIGNING_KEY = "tests-only-signing-key-0f9c2d7e5b3a41c8a6e4d2b0f8c6a4e2"
PASSWORD = "correct horse battery staple"
_SIGNER = TokenSigner(SecretStr(TEST_SIGNING_KEY), minutes=60)


async def make_signed_in_user(
    session: AsyncSession, email: str, *, password: str = PASSWORD, active: bool = True
) -> User:
    """A user who can sign in with ``password`` (flushed; the caller commits)."""
    user = User(email=email, password_hash=hash_password(password), is_active=active)
    session.add(user)
    await session.flush()
    return user


def token_for(
    user_id: uuid.UUID,
    *,
    key: str = TEST_SIGNING_KEY,
    now: datetime | None = None,
    version: int = 0,
) -> str:
    """A token for ``user_id`` at token ``version`` (a user's first, until it revokes)."""
    signer = _SIGNER if key == TEST_SIGNING_KEY else TokenSigner(SecretStr(key), minutes=60)
    return signer.issue(user_id, version, now=now).token


def bearer(
    user_id: uuid.UUID,
    *,
    key: str = TEST_SIGNING_KEY,
    now: datetime | None = None,
    version: int = 0,
) -> dict[str, str]:
    """The ``Authorization`` header of a token for ``user_id``."""
    return {"Authorization": f"Bearer {token_for(user_id, key=key, now=now, version=version)}"}
