"""Request-scoped dependencies: the session boundary, the signed-in user and shared query
parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.responses import UNAUTHORIZED
from app.core.errors import NotAuthenticatedError
from app.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.core.security import TokenSigner
from app.users.repository import token_is_current

READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler returns, rolled back if it raises.

    This is the only place request work is committed; services only flush. GET and HEAD
    requests get a read-only session without a transaction (see create_read_sessionmaker).
    """
    maker: async_sessionmaker[AsyncSession] = (
        request.app.state.read_sessionmaker
        if request.method in READ_ONLY_METHODS
        else request.app.state.sessionmaker
    )
    async with request.app.state.connection_queue.slot(), maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def require_schema_at_head(request: Request) -> None:
    """503 (with what to run) while the database is known to be behind head."""
    await request.app.state.schema_gate.require_head()


# scope="function": commit before the response is sent, so a failed commit is a 5xx
# instead of a 200 for work that was lost.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# auto_error=False: a missing token is our NotAuthenticatedError (one message, one handler);
# the scheme still puts the bearer flow and /docs' Authorize button in the OpenAPI document.
_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, for routes open to everyone that
    tell a signed-in caller more."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class SignedInUser:
    """Who sent the request: the id of an existing, active user."""

    id: uuid.UUID


async def current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> SignedInUser:
    """The user the bearer token names, checked against the database on every request (one
    primary-key lookup): the tokens of a disabled or removed user, and those issued before
    the user's last password change or sign-out everywhere, stop working at once."""
    if not token:
        raise NotAuthenticatedError(
            "not signed in: send Authorization: Bearer <token> from POST /api/v1/auth/token"
        )
    signer: TokenSigner = request.app.state.token_signer
    claims = signer.verify(token)
    if not await token_is_current(session, claims):
        raise NotAuthenticatedError("invalid token: sign in again")
    return SignedInUser(claims.user_id)


CurrentUser = Annotated[SignedInUser, Depends(current_user)]

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, 1..{MAX_PAGE_SIZE}.")]
DEFAULT_LIMIT = DEFAULT_PAGE_SIZE

CursorParam = Annotated[
    str | None,
    Query(
        max_length=200,
        description="The next_cursor of the previous page; omit for the first page.",
    ),
]

AsOfDate = Annotated[
    date | None,
    Query(
        alias="date",
        description=(
            "YYYY-MM-DD, as of: the latest stored date on or before it (not only that exact "
            "date); default: the latest stored date."
        ),
    ),
]
"""The ``date`` query parameter, with one meaning on every endpoint that takes it."""


def signed_in_router(prefix: str, tag: str) -> APIRouter:
    """A router whose every route needs a signed-in user: the dependency sits on the router,
    so a route added later cannot forget sign-in (it runs once per request even when a
    handler also asks for the user)."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        dependencies=[Depends(current_user)],
        responses=UNAUTHORIZED,
    )
