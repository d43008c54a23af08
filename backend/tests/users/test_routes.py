"""POST /api/v1/auth/token, POST /api/v1/auth/logout-all and GET /api/v1/me: sign-in, its
limits, its timing, its secrets, and signing out everywhere."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from argon2 import Parameters, extract_parameters
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SignInFailure, User
from app.users.throttle import (
    ACCOUNT_FREE_FAILURES,
    SOURCE_FREE_FAILURES,
    SignInThrottle,
    ThrottlePolicy,
)
from tests.support.auth import PASSWORD, TEST_SIGNING_KEY, make_signed_in_user

TOKEN_URL = "/api/v1/auth/token"


@dataclass(frozen=True)
class Users:
    ann: User
    bob: User
    disabled: User


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def users(seed_session: AsyncSession) -> Users:
    db = seed_session
    found = Users(
        await make_signed_in_user(db, "Ann@Example.com"),
        await make_signed_in_user(db, "bob@example.com"),
        await make_signed_in_user(db, "off@example.com", active=False),
    )
    await db.commit()
    return found


FIRST_WAIT = 60.0
"""The wait after the free failures, long enough for a test to meet it however slow."""


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def fresh_throttle(app: FastAPI, seed_session: AsyncSession) -> None:
    """Each test starts with no failed sign-ins counted."""
    await seed_session.execute(delete(SignInFailure))
    await seed_session.commit()
    app.state.sign_in_throttle = SignInThrottle(ThrottlePolicy(first_delay=FIRST_WAIT))


@pytest_asyncio.fixture(loop_scope="session")
async def elsewhere(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from another address."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"username": email, "password": password})


async def test_sign_in_gives_a_bearer_token_for_me(client: httpx.AsyncClient, users: Users) -> None:
    response = await _sign_in(client, "ann@EXAMPLE.com", PASSWORD)  # any case
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == str(users.ann.id)
    assert me.json()["email"] == "Ann@Example.com"
    assert me.json()["is_active"] is True
    assert set(me.json()) == {"id", "email", "is_active", "created_at"}


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nobody@example.com", PASSWORD),
        ("ann@example.com", "a wrong password"),
        ("off@example.com", PASSWORD),
        ("not even an email", PASSWORD),
    ],
    ids=["unknown email", "wrong password", "disabled user", "not an email"],
)
async def test_every_failed_sign_in_is_the_same_401(
    client: httpx.AsyncClient, users: Users, email: str, password: str
) -> None:
    response = await _sign_in(client, email, password)
    assert response.status_code == 401
    assert response.json() == {"detail": "wrong email or password"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("form", "location"),
    [
        ({"username": "ann@example.com"}, "body.password"),
        ({"password": PASSWORD}, "body.username"),
        (
            {
                "username": "ann@example.com",
                "password": PASSWORD,
                "grant_type": "client_credentials",
            },
            "body.grant_type",
        ),
        ({"username": "a" * 321, "password": PASSWORD}, "body.username"),
        ({"username": "owner\x00@example.com", "password": PASSWORD}, "body.username"),
    ],
)
async def test_a_malformed_sign_in_is_422(
    client: httpx.AsyncClient, form: dict[str, str], location: str
) -> None:
    response = await client.post(TOKEN_URL, data=form)
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == [location]


@pytest.mark.parametrize("field", ["username", "email"])
async def test_a_json_body_signs_in_as_the_form_does(
    client: httpx.AsyncClient, users: Users, field: str
) -> None:
    response = await client.post(TOKEN_URL, json={field: "ann@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()["access_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == str(users.ann.id)
    wrong = await client.post(TOKEN_URL, json={field: "ann@example.com", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "wrong email or password"}


@pytest.mark.parametrize(
    ("body", "location", "message"),
    [
        ({"email": "ann@example.com"}, "body.password", "Field required"),
        ({"password": PASSWORD}, "body", "give the account's email as username or email"),
        (
            {"username": "ann@example.com", "email": "bob@example.com", "password": PASSWORD},
            "body",
            "username and email differ",
        ),
        ({"email": "ann@example.com", "password": 12345678}, "body.password", "string"),
        ({"email": "ann@example.com", "password": PASSWORD, "pwd": "x"}, "body.pwd", "Extra"),
        (["ann@example.com", PASSWORD], "body", "valid dictionary"),
    ],
)
async def test_a_malformed_json_sign_in_is_422_naming_the_field(
    client: httpx.AsyncClient, body: object, location: str, message: str
) -> None:
    response = await client.post(TOKEN_URL, json=body)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["location"] == location and message in error["message"]


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b'{"email": "ann@example.com",', "application/json", "body: not valid JSON"),
        (
            b"--b\r\nJ\xc3\x8d[\xf2\xa5--b--\r\n",
            "multipart/form-data; boundary=b",
            "body: not valid form data",
        ),
        (
            b"ann@example.com:secret",
            "text/plain",
            "body: sign in with form fields username (the email) and password, or a JSON "
            'body {"username" or "email": ..., "password": ...}',
        ),
    ],
)
async def test_a_body_neither_form_nor_json_says_what_sign_in_takes(
    client: httpx.AsyncClient, content: bytes, content_type: str, message: str
) -> None:
    response = await client.post(TOKEN_URL, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert response.json()["detail"] == f"Invalid request: {message}"


def test_openapi_documents_both_bodies_of_sign_in(app: FastAPI) -> None:
    body = app.openapi()["paths"][TOKEN_URL]["post"]["requestBody"]
    assert set(body["content"]) == {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/json",
    }
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["username", "password"]
    assert set(body["content"]["application/json"]["schema"]["properties"]) == {
        "username",
        "email",
        "password",
        "grant_type",
    }


async def test_repeated_failures_for_one_account_make_that_address_wait(
    client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, users: Users
) -> None:
    for _ in range(ACCOUNT_FREE_FAILURES):
        assert (await _sign_in(client, "ann@example.com", "a wrong password")).status_code == 401
    # Now even the right password waits, from that address: its guesses are slowed down.
    limited = await _sign_in(client, "ANN@example.com", PASSWORD)
    assert limited.status_code == 429
    assert limited.json() == {"detail": "too many failed sign-ins: try again later"}
    assert 0 < int(limited.headers["Retry-After"]) <= FIRST_WAIT
    # The account itself is not locked: its owner, elsewhere, signs in.
    assert (await _sign_in(elsewhere, "ann@example.com", PASSWORD)).status_code == 200
    # Other accounts from the same address are not affected.
    assert (await _sign_in(client, "bob@example.com", PASSWORD)).status_code == 200


async def test_a_success_forgives_the_accounts_earlier_failures(
    client: httpx.AsyncClient, users: Users
) -> None:
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        assert (await _sign_in(client, "bob@example.com", "a wrong password")).status_code == 401
    assert (await _sign_in(client, "bob@example.com", PASSWORD)).status_code == 200
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        assert (await _sign_in(client, "bob@example.com", "a wrong password")).status_code == 401
    assert (await _sign_in(client, "bob@example.com", PASSWORD)).status_code == 200


async def test_repeated_failures_from_one_address_are_429_for_any_account(
    client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, users: Users
) -> None:
    for i in range(SOURCE_FREE_FAILURES):
        response = await _sign_in(client, f"guess{i}@example.com", "a wrong password")
        assert response.status_code == 401
    limited = await _sign_in(client, "bob@example.com", PASSWORD)
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    assert (await _sign_in(elsewhere, "bob@example.com", PASSWORD)).status_code == 200


async def test_a_disabled_users_token_stops_working(
    client: httpx.AsyncClient, users: Users, seed_session: AsyncSession
) -> None:
    token = (await _sign_in(client, "bob@example.com", PASSWORD)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    await seed_session.execute(update(User).where(User.id == users.bob.id).values(is_active=False))
    await seed_session.commit()
    try:
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    finally:
        await seed_session.execute(
            update(User).where(User.id == users.bob.id).values(is_active=True)
        )
        await seed_session.commit()


async def test_the_token_response_is_never_cached(client: httpx.AsyncClient, users: Users) -> None:
    response = await _sign_in(client, "bob@example.com", PASSWORD)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


async def test_logout_all_ends_every_earlier_token_and_a_new_sign_in_works(
    client: httpx.AsyncClient, seed_session: AsyncSession
) -> None:
    await make_signed_in_user(seed_session, "cat@example.com")
    await seed_session.commit()
    tokens = [
        (await _sign_in(client, "cat@example.com", PASSWORD)).json()["access_token"]
        for _ in range(2)
    ]
    first, second = ({"Authorization": f"Bearer {token}"} for token in tokens)
    assert (await client.get("/api/v1/me", headers=second)).status_code == 200

    out = await client.post("/api/v1/auth/logout-all", headers=first)
    assert out.status_code == 204
    assert out.content == b""
    for headers in (first, second):
        refused = await client.get("/api/v1/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json() == {"detail": "invalid token: sign in again"}
    assert (await client.post("/api/v1/auth/logout-all", headers=first)).status_code == 401

    token = (await _sign_in(client, "cat@example.com", PASSWORD)).json()["access_token"]
    again = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200


async def test_logout_all_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/logout-all")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_wrong_email_costs_the_same_argon2_work_as_a_wrong_password(
    client: httpx.AsyncClient, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So the two cannot be told apart by timing: an unknown email is checked against a
    stand-in hash made with the stored hashes' parameters. Skipping the check would make it
    ~20x faster than one argon2 verification at production cost."""
    checked: list[Parameters] = []
    verify = Argon2Hasher.verify

    def counted(hasher: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        checked.append(extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return verify(hasher, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", counted)
    work: dict[str, list[Parameters]] = {}
    for case, email in (("email", "nobody@example.com"), ("password", "ann@example.com")):
        checked.clear()
        assert (await _sign_in(client, email, "a wrong password")).status_code == 401
        work[case] = list(checked)
    assert len(work["password"]) == 1
    assert work["email"] == work["password"]


async def test_no_password_token_or_key_reaches_logs_or_output(
    client: httpx.AsyncClient,
    users: Users,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "a-wrong-password-7d1e"
    with caplog.at_level(logging.DEBUG):
        ok = await _sign_in(client, "ann@example.com", PASSWORD)
        token = ok.json()["access_token"]
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"})
        failed = await _sign_in(client, "ann@example.com", wrong)
        for _ in range(ACCOUNT_FREE_FAILURES):
            limited = await _sign_in(client, "ann@example.com", wrong)
    captured = capsys.readouterr()
    seen = caplog.text + captured.out + captured.err + failed.text + limited.text
    assert limited.status_code == 429
    for secret in (PASSWORD, wrong, token, TEST_SIGNING_KEY):
        assert secret not in seen
