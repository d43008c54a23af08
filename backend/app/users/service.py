"""Accounts: create, change password, disable, sign out everywhere, and the sign-in check.

Services flush; the caller (the request dependency, a script's entry point) commits.
Argon2 work runs in a worker thread so the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import EXIT_USAGE_ERROR, AppError, NotAuthenticatedError, NotFoundError
from app.core.security import (
    check_new_password,
    generate_password,
    hash_password,
    verify_password,
)
from app.models import User
from app.models.user import EMAIL_MAX_LENGTH
from app.users.repository import find_by_email, revoke_tokens

# One '@' between a non-empty local part and a domain with a dot; no spaces or controls.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")

WRONG_CREDENTIALS = "wrong email or password"


class InvalidEmailError(AppError, ValueError):
    http_status = 422
    exit_code = EXIT_USAGE_ERROR


class UserExistsError(AppError):
    """An account with this email (in any case) exists already."""

    http_status = 409


class UnknownUserError(NotFoundError):
    pass


def normalise_email(email: str) -> str:
    """The address as given, trimmed; InvalidEmailError if it is not one."""
    email = email.strip()
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL.fullmatch(email):
        raise InvalidEmailError(f"not an email address: {email[:80]!r}")
    return email


@dataclass(frozen=True)
class Account:
    """A user just created or given a password."""

    user: User
    generated_password: str | None
    """Set when the password was generated: show it once, store it nowhere."""


async def create_user(session: AsyncSession, email: str, password: str | None = None) -> Account:
    """A new active account; the password is generated when not given."""
    email = normalise_email(email)
    if await find_by_email(session, email) is not None:
        raise UserExistsError(f"a user with email {email} exists already")
    generated = generate_password() if password is None else None
    chosen = generated or password
    assert chosen is not None
    check_new_password(chosen)
    user = User(email=email, password_hash=await asyncio.to_thread(hash_password, chosen))
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # created concurrently since the check above
        if "uq_users_email_lower" in str(exc.orig):
            raise UserExistsError(f"a user with email {email} exists already") from None
        raise
    return Account(user, generated)


async def ensure_user(session: AsyncSession, email: str) -> Account:
    """The account for ``email``, created with a generated password when missing
    (``generated_password`` is None when it existed)."""
    found = await find_by_email(session, normalise_email(email))
    if found is not None:
        return Account(found, None)
    return await create_user(session, email)


async def require_user(session: AsyncSession, email: str) -> User:
    """The account for ``email``, or UnknownUserError."""
    user = await find_by_email(session, normalise_email(email))
    if user is None:
        raise UnknownUserError(f"no user with email {email.strip()}")
    return user


async def set_password(session: AsyncSession, email: str, password: str | None = None) -> Account:
    """Replace the user's password (generated when not given) and end every token issued
    before: whoever held the old password loses the access it gave."""
    generated = generate_password() if password is None else None
    chosen = generated or password
    assert chosen is not None
    check_new_password(chosen)
    user = await require_user(session, email)
    user.password_hash = await asyncio.to_thread(hash_password, chosen)
    await session.flush()
    await revoke_tokens(session, user.id)
    return Account(user, generated)


async def set_active(session: AsyncSession, email: str, active: bool) -> User:
    """Disable (or enable again) an account. Disabling ends every token the user holds for
    good: enabling again does not revive them (the user signs in anew)."""
    user = await require_user(session, email)
    user.is_active = active
    await session.flush()
    if not active:
        await revoke_tokens(session, user.id)
    return user


async def sign_out_everywhere(session: AsyncSession, email: str) -> User:
    """End every token the user holds (``manage_users.py revoke``); the user may sign in again."""
    user = await require_user(session, email)
    await revoke_tokens(session, user.id)
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with this email and password, or NotAuthenticatedError.

    Wrong email, wrong password and a disabled account fail alike, after the same argon2
    work (an unknown email is checked against a stand-in hash).
    """
    user = await find_by_email(session, email.strip())
    matches, new_hash = await asyncio.to_thread(
        verify_password, password, None if user is None else user.password_hash
    )
    if user is None or not matches or not user.is_active:
        raise NotAuthenticatedError(WRONG_CREDENTIALS)
    if new_hash is not None:  # hashed with older parameters: upgrade it now
        user.password_hash = new_hash
        await session.flush()
    return user
