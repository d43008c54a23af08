"""Sign-in (OAuth2 password flow), signing out everywhere, and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from app.api.deps import CurrentUser, SessionDep
from app.api.responses import TOO_MANY_ATTEMPTS, UNAUTHORIZED
from app.core.errors import NotAuthenticatedError
from app.core.security import TokenSigner
from app.users import service
from app.users.repository import get_active, revoke_tokens
from app.users.schemas import SignInForm, SignInJson, TokenResponse, UserRead
from app.users.throttle import SignInThrottle

router = APIRouter(tags=["auth"])

# RFC 6749 section 5.1: a response carrying a token must not be stored by any cache.
TOKEN_RESPONSE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


_SIGN_IN_TYPES: dict[str, type[SignInForm] | type[SignInJson]] = {
    "application/x-www-form-urlencoded": SignInForm,
    "multipart/form-data": SignInForm,
    "application/json": SignInJson,
}
_SIGN_IN_HELP = (
    "sign in with form fields username (the email) and password, or a JSON body "
    '{"username" or "email": ..., "password": ...}'
)


async def sign_in_credentials(request: Request) -> tuple[str, str]:
    """(email, password) of a sign-in sent as form fields or as JSON; a 422 naming the
    field otherwise, as any request validation error is."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    model = _SIGN_IN_TYPES.get(content_type)
    if model is None:
        raise RequestValidationError(
            [{"type": "content_type", "loc": ("body",), "msg": _SIGN_IN_HELP, "input": None}]
        )
    if model is SignInJson:
        try:
            data: object = await request.json()
        except ValueError:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "not valid JSON", "input": None}]
            ) from None
    else:
        try:
            data = dict(await request.form())
        except (MultiPartException, StarletteHTTPException) as exc:
            # Starlette answers a malformed multipart body with a bare 400; say it as the
            # JSON branch does, naming the body. Any other refusal (413) stands.
            if isinstance(exc, StarletteHTTPException) and exc.status_code != 400:
                raise
            raise RequestValidationError(
                [
                    {
                        "type": "form_invalid",
                        "loc": ("body",),
                        "msg": "not valid form data",
                        "input": None,
                    }
                ]
            ) from None
    try:
        if model is SignInJson:
            json_body = SignInJson.model_validate(data)
            return json_body.account, json_body.password
        form = SignInForm.model_validate(data)
        return form.username, form.password
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Sign in: exchange email (as `username`) and password for a bearer token",
    responses=UNAUTHORIZED | TOO_MANY_ATTEMPTS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": model.model_json_schema()}
                for kind, model in _SIGN_IN_TYPES.items()
            },
        }
    },
)
async def issue_token(
    request: Request,
    response: Response,
    session: SessionDep,
    credentials: Annotated[tuple[str, str], Depends(sign_in_credentials)],
) -> TokenResponse:
    """OAuth2 password flow: form fields, as /docs' Authorize button sends them, or a JSON
    body with the email as ``username`` or ``email``. A wrong email and a wrong password get
    the same 401 after the same work. Repeated failures from one address (for one account,
    or for any) get 429 with Retry-After, waits that double; a correct password from
    another address is never held back."""
    username, password = credentials
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
