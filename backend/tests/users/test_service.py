"""Accounts: creating, changing, disabling, and the sign-in check."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.core.errors import NotAuthenticatedError
from app.core.security import PASSWORD_HASH_PROFILES, WeakPasswordError
from app.users import service
from app.users.repository import find_by_email, get_active


async def test_create_generates_a_password_when_none_is_given(session: AsyncSession) -> None:
    created = await service.create_user(session, "  Ann@Example.com ")
    assert created.user.email == "Ann@Example.com"  # trimmed, case kept
    assert created.user.is_active
    password = created.generated_password
    assert password is not None and len(password) >= 20
    assert password not in created.user.password_hash
    assert (await service.authenticate(session, "ann@example.com", password)).id == created.user.id


async def test_create_with_a_chosen_password_shows_none(session: AsyncSession) -> None:
    created = await service.create_user(session, "bob@example.com", "a long passphrase")
    assert created.generated_password is None
    await service.authenticate(session, "BOB@example.com", "a long passphrase")


async def test_an_email_exists_whatever_its_case(session: AsyncSession) -> None:
    await service.create_user(session, "carol@example.com", "a long passphrase")
    with pytest.raises(service.UserExistsError):
        await service.create_user(session, "CAROL@Example.COM", "another passphrase")


@pytest.mark.parametrize(
    "email", ["", "carol", "carol@", "@example.com", "ca rol@example.com", "a@b@example.com"]
)
async def test_an_address_that_is_not_one_is_refused(session: AsyncSession, email: str) -> None:
    with pytest.raises(service.InvalidEmailError):
        await service.create_user(session, email, "a long passphrase")


async def test_ensure_user_creates_once(session: AsyncSession) -> None:
    first = await service.ensure_user(session, "demo@example.com")
    again = await service.ensure_user(session, "Demo@example.com")
    assert first.generated_password is not None
    assert again.generated_password is None and again.user.id == first.user.id


async def test_a_new_password_replaces_the_old_one(session: AsyncSession) -> None:
    await service.create_user(session, "dan@example.com", "the first passphrase")
    changed = await service.set_password(session, "DAN@example.com", "the second passphrase")
    assert changed.generated_password is None
    with pytest.raises(NotAuthenticatedError):
        await service.authenticate(session, "dan@example.com", "the first passphrase")
    await service.authenticate(session, "dan@example.com", "the second passphrase")
    with pytest.raises(WeakPasswordError):
        await service.set_password(session, "dan@example.com", "short")
    generated = await service.set_password(session, "dan@example.com")
    assert generated.generated_password is not None
    await service.authenticate(session, "dan@example.com", generated.generated_password)


async def test_changing_an_unknown_user_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(service.UnknownUserError, match=r"no user with email eve@example\.com"):
        await service.set_active(session, "eve@example.com", False)


@pytest.mark.parametrize("case", ["unknown email", "wrong password", "disabled"])
async def test_every_failed_sign_in_is_the_same_error(session: AsyncSession, case: str) -> None:
    await service.create_user(session, "fay@example.com", "the right passphrase")
    if case == "disabled":
        user = await service.set_active(session, "fay@example.com", False)
        assert await get_active(session, user.id) is None
    email = "nobody@example.com" if case == "unknown email" else "fay@example.com"
    password = "a wrong passphrase" if case == "wrong password" else "the right passphrase"
    with pytest.raises(NotAuthenticatedError) as raised:
        await service.authenticate(session, email, password)
    assert str(raised.value) == "wrong email or password"


async def test_sign_in_upgrades_a_hash_made_with_older_parameters(session: AsyncSession) -> None:
    created = await service.create_user(session, "gus@example.com", "the right passphrase")
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),))
    created.user.password_hash = weak.hash("the right passphrase")
    await session.flush()
    await service.authenticate(session, "gus@example.com", "the right passphrase")
    found = await find_by_email(session, "gus@example.com")
    assert found is not None
    current = PASSWORD_HASH_PROFILES[get_settings().password_hash_profile]
    assert extract_parameters(found.password_hash) == current
