"""Sign-in (OAuth2 password flow) and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from app.api.deps import CurrentUser, SessionDep
from app.api.responses import TOO_MANY_ATTEMPTS, UNAUTHORIZED
from app.core.errors import NotAuthenticatedError
from app.core.security import PASSWORD_MAX_LENGTH, TokenSigner
from app.models.user import EMAIL_MAX_LENGTH
from app.users import service
from app.users.repository import get_active
from app.users.schemas import TokenResponse, UserRead
from app.users.throttle import LoginThrottle

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Sign in: exchange email (as `username`) and password for a bearer token",
    responses=UNAUTHORIZED | TOO_MANY_ATTEMPTS,
)
async def issue_token(
    request: Request,
    session: SessionDep,
    username: Annotated[
        str,
        # No NUL: PostgreSQL text cannot hold one, so the lookup would fail with a 500.
        Form(
            min_length=1,
            max_length=EMAIL_MAX_LENGTH,
            pattern=r"^[^\x00]*$",
            description="The account's email.",
        ),
    ],
    password: Annotated[str, Form(min_length=1, max_length=PASSWORD_MAX_LENGTH)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenResponse:
    """OAuth2 password flow (form-encoded, as /docs' Authorize button sends it). A wrong
    email and a wrong password get the same 401 after the same work; repeated failures
    for one account or from one address get 429 with Retry-After."""
    throttle: LoginThrottle = request.app.state.login_throttle
    signer: TokenSigner = request.app.state.token_signer
    client = request.client.host if request.client else "unknown"
    with throttle.attempt(username.strip().lower(), client):
        user = await service.authenticate(session, username, password)
    token = signer.issue(user.id)
    return TokenResponse(access_token=token.token, expires_in=int(token.lifetime.total_seconds()))


@router.get("/me", response_model=UserRead, summary="The signed-in user", responses=UNAUTHORIZED)
async def me(user: CurrentUser, session: SessionDep) -> UserRead:
    found = await get_active(session, user.id)
    if found is None:  # disabled or removed since the sign-in check of this request
        raise NotAuthenticatedError("invalid token: sign in again")
    return UserRead.model_validate(found)
