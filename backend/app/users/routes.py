"""Sign-in (OAuth2 password flow), signing out everywhere, and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from app.api.deps import CurrentUser, SessionDep
from app.api.responses import TOO_MANY_ATTEMPTS, UNAUTHORIZED
from app.core.errors import NotAuthenticatedError
from app.core.security import PASSWORD_MAX_LENGTH, TokenSigner
from app.models.user import EMAIL_MAX_LENGTH
from app.users import service
from app.users.repository import get_active, revoke_tokens
from app.users.schemas import TokenResponse, UserRead
from app.users.throttle import SignInThrottle

router = APIRouter(tags=["auth"])

# RFC 6749 section 5.1: a response carrying a token must not be stored by any cache.
TOKEN_RESPONSE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Sign in: exchange email (as `username`) and password for a bearer token",
    responses=UNAUTHORIZED | TOO_MANY_ATTEMPTS,
)
async def issue_token(
    request: Request,
    response: Response,
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
    email and a wrong password get the same 401 after the same work. Repeated failures from
    one address (for one account, or for any) get 429 with Retry-After, waits that double;
    a correct password from another address is never held back."""
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    signer: TokenSigner = request.app.state.token_signer
    host = request.client.host if request.client else None
    async with throttle.attempt(session, username, host):
        user = await service.authenticate(session, username, password)
    token = signer.issue(user.id, user.token_version)
    response.headers.update(TOKEN_RESPONSE_HEADERS)
    return TokenResponse(access_token=token.token, expires_in=int(token.lifetime.total_seconds()))


@router.post(
    "/auth/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Sign out everywhere: every token of the signed-in user stops working",
    responses=UNAUTHORIZED,
)
async def logout_all(user: CurrentUser, session: SessionDep) -> None:
    """Ends every token issued to the signed-in user so far, this one included; signing in
    again gives a new one."""
    await revoke_tokens(session, user.id)


@router.get("/me", response_model=UserRead, summary="The signed-in user", responses=UNAUTHORIZED)
async def me(user: CurrentUser, session: SessionDep) -> UserRead:
    found = await get_active(session, user.id)
    if found is None:  # disabled or removed since the sign-in check of this request
        raise NotAuthenticatedError("invalid token: sign in again")
    return UserRead.model_validate(found)
