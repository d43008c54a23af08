"""Finding 1 (ASVS V3.3): a token issued before ``manage_users.py set-password`` stayed
valid until it expired, and tokens from before ``disable`` worked again after ``enable``.

Replayed against the app on a real PostgreSQL, with the users CLI run as a child process
the way an operator runs it. Each test has a user of its own.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.auth import PASSWORD, make_signed_in_user

NEW_PASSWORD = "a brand new passphrase"


@pytest_asyncio.fixture(loop_scope="session")
async def email(seed_session: AsyncSession) -> str:
    address = f"user-{uuid.uuid4().hex[:12]}@example.com"
    await make_signed_in_user(seed_session, address)
    await seed_session.commit()
    return address


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})


async def _bearer(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    response = await _sign_in(client, email, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await client.get("/api/v1/me", headers=headers)).status_code


def _manage_users(database: TestDatabase, *args: str, stdin: str | None = None) -> str:
    result = run_python(
        ["scripts/manage_users.py", *args],
        subprocess_env(database, AUTH_SECRET_KEY=""),
        stdin=stdin,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow  # the users CLI as a child process
async def test_a_password_change_ends_every_token_issued_before(
    client: httpx.AsyncClient, database: TestDatabase, email: str
) -> None:
    before = [await _bearer(client, email) for _ in range(2)]
    assert [await _me(client, headers) for headers in before] == [200, 200]

    _manage_users(database, "set-password", email, "--password-stdin", stdin=NEW_PASSWORD)

    assert [await _me(client, headers) for headers in before] == [401, 401]
    assert (await _sign_in(client, email, PASSWORD)).status_code == 401
    assert await _me(client, await _bearer(client, email, NEW_PASSWORD)) == 200


@pytest.mark.slow
async def test_tokens_ended_by_disable_stay_ended_after_enable(
    client: httpx.AsyncClient, database: TestDatabase, email: str
) -> None:
    before = await _bearer(client, email)
    _manage_users(database, "disable", email)
    assert await _me(client, before) == 401
    assert (await _sign_in(client, email, PASSWORD)).status_code == 401

    _manage_users(database, "enable", email)
    assert await _me(client, before) == 401  # not revived
    assert await _me(client, await _bearer(client, email)) == 200  # a new sign-in works


@pytest.mark.slow
async def test_revoke_from_the_cli_signs_the_user_out_everywhere(
    client: httpx.AsyncClient, database: TestDatabase, email: str
) -> None:
    before = [await _bearer(client, email) for _ in range(2)]
    output = _manage_users(database, "revoke", email)
    assert output.strip() == f"signed out {email} everywhere: earlier tokens are refused"
    assert [await _me(client, headers) for headers in before] == [401, 401]
    assert await _me(client, await _bearer(client, email)) == 200


async def test_logout_all_ends_every_earlier_token_of_the_caller_only(
    client: httpx.AsyncClient, seed_session: AsyncSession, email: str
) -> None:
    other = f"other-{uuid.uuid4().hex[:12]}@example.com"
    await make_signed_in_user(seed_session, other)
    await seed_session.commit()
    mine = [await _bearer(client, email) for _ in range(2)]
    theirs = await _bearer(client, other)

    response = await client.post("/api/v1/auth/logout-all", headers=mine[0])
    assert response.status_code == 204

    assert [await _me(client, headers) for headers in mine] == [401, 401]
    assert await _me(client, theirs) == 200
    assert await _me(client, await _bearer(client, email)) == 200
