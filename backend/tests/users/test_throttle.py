"""Failed sign-ins counted in PostgreSQL per source and per account-and-source: waits that
double, no lock-out of an account, counts shared by every connection (as by every worker).

Each attempt runs in a session of its own, committed for real, as a request's would be;
time passing is played by moving the rows' last failure back.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.errors import NotAuthenticatedError, TooManyAttemptsError
from app.models import SignInFailure
from app.users.throttle import (
    SOURCE_ROW,
    SignInThrottle,
    ThrottlePolicy,
    account_digest,
    normalised_email,
    source_of,
)

pytestmark = pytest.mark.usefixtures("clean_tables")

POLICY = ThrottlePolicy(
    account_free=3, source_free=6, first_delay=10, max_delay=60, forget_after=300
)
HERE = "203.0.113.1"
THERE = "198.51.100.7"


@pytest_asyncio.fixture(loop_scope="session")
async def throttle() -> SignInThrottle:
    return SignInThrottle(POLICY)


async def _fail(engine: AsyncEngine, throttle: SignInThrottle, email: str, host: str) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        with pytest.raises(NotAuthenticatedError):
            async with throttle.attempt(session, email, host):
                raise NotAuthenticatedError("wrong email or password")


async def _succeed(engine: AsyncEngine, throttle: SignInThrottle, email: str, host: str) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        async with throttle.attempt(session, email, host):
            pass
        await session.commit()  # as the request's boundary does


async def _waits(engine: AsyncEngine, throttle: SignInThrottle, email: str, host: str) -> int:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        with pytest.raises(TooManyAttemptsError) as raised:
            async with throttle.attempt(session, email, host):
                raise AssertionError("the password must not be checked while waiting")
    return raised.value.retry_after


async def _rows(engine: AsyncEngine) -> dict[tuple[str, bytes], int]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(SignInFailure.source, SignInFailure.account, SignInFailure.failures)
        )
        return {(source, bytes(account)): failures for source, account, failures in found}


async def _time_passes(engine: AsyncEngine, seconds: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE sign_in_failures "
                "SET last_failed_at = last_failed_at - make_interval(secs => :s)"
            ),
            {"s": seconds},
        )


async def test_an_account_from_one_source_waits_after_its_free_failures_and_the_wait_doubles(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    for _ in range(POLICY.account_free):
        await _fail(engine, throttle, "ann@example.com", HERE)
    assert 9 <= await _waits(engine, throttle, "ann@example.com", HERE) <= 10
    # Nobody is locked out: the same account from another source, another account here.
    await _succeed(engine, throttle, "ann@example.com", THERE)
    await _fail(engine, throttle, "bob@example.com", HERE)

    await _time_passes(engine, 10)
    await _fail(engine, throttle, "ann@example.com", HERE)  # the 4th: now 20 s
    assert 19 <= await _waits(engine, throttle, "ann@example.com", HERE) <= 20
    await _time_passes(engine, 20)
    await _fail(engine, throttle, "ann@example.com", HERE)  # the 5th: 40 s
    assert 39 <= await _waits(engine, throttle, "ann@example.com", HERE) <= 40
    await _time_passes(engine, 40)
    await _fail(engine, throttle, "ann@example.com", HERE)  # the 6th: capped at 60 s
    assert 59 <= await _waits(engine, throttle, "ann@example.com", HERE) <= 60


async def test_a_source_waits_after_its_free_failures_over_any_accounts(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    for i in range(POLICY.source_free):
        await _fail(engine, throttle, f"guess{i}@example.com", HERE)
    assert 9 <= await _waits(engine, throttle, "someone-new@example.com", HERE) <= 10
    await _succeed(engine, throttle, "someone-new@example.com", THERE)
    rows = await _rows(engine)
    assert rows[(HERE, SOURCE_ROW)] == POLICY.source_free
    assert (THERE, SOURCE_ROW) not in rows  # a success leaves no count behind


async def test_a_wait_refuses_without_counting_so_waiting_it_out_is_enough(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    for _ in range(POLICY.account_free):
        await _fail(engine, throttle, "ann@example.com", HERE)
    for _ in range(5):
        await _waits(engine, throttle, "ann@example.com", HERE)
    assert (await _rows(engine))[(HERE, account_digest("ann@example.com"))] == 3
    await _time_passes(engine, 10)
    await _succeed(engine, throttle, "ann@example.com", HERE)


async def test_a_success_forgets_the_accounts_failures_from_that_source_only(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    for _ in range(POLICY.account_free - 1):
        await _fail(engine, throttle, "ann@example.com", HERE)
    await _fail(engine, throttle, "ann@example.com", THERE)
    await _succeed(engine, throttle, "ann@example.com", HERE)
    rows = await _rows(engine)
    assert (HERE, account_digest("ann@example.com")) not in rows
    assert rows[(THERE, account_digest("ann@example.com"))] == 1
    # The source keeps the failures it made: a valid account cannot launder them.
    assert rows[(HERE, SOURCE_ROW)] == POLICY.account_free - 1


async def test_failures_are_forgotten_once_the_last_is_old_enough(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    for _ in range(POLICY.account_free):
        await _fail(engine, throttle, "ann@example.com", HERE)
    await _time_passes(engine, POLICY.forget_after)
    for _ in range(POLICY.account_free):  # free again
        await _fail(engine, throttle, "ann@example.com", HERE)
    await _waits(engine, throttle, "ann@example.com", HERE)


async def test_an_error_that_is_not_a_wrong_password_is_not_counted(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        with pytest.raises(ConnectionError):
            async with throttle.attempt(session, "ann@example.com", HERE):
                raise ConnectionError("database went away")
    assert await _rows(engine) == {}


async def test_concurrent_guesses_are_counted_one_after_the_other(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    """Twelve guesses at once for a fresh account-and-source: each is counted before its
    password check, so only the free ones get to a check; the rest wait."""
    in_check = asyncio.Event()

    async def guess() -> str:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            try:
                async with throttle.attempt(session, "ann@example.com", HERE):
                    await asyncio.wait_for(in_check.wait(), 10)
                    raise NotAuthenticatedError("wrong email or password")
            except NotAuthenticatedError:
                return "checked"
            except TooManyAttemptsError:
                return "waits"
        return "?"

    tasks = [asyncio.create_task(guess()) for _ in range(12)]
    await asyncio.sleep(0.5)  # every guess has been counted or refused, none has failed yet
    in_check.set()
    outcomes = await asyncio.gather(*tasks)
    assert sorted(outcomes) == ["checked"] * POLICY.account_free + ["waits"] * 9


async def test_old_rows_are_purged(engine: AsyncEngine, throttle: SignInThrottle) -> None:
    await _fail(engine, throttle, "ann@example.com", HERE)
    await _time_passes(engine, POLICY.forget_after + 1)
    fresh = SignInThrottle(POLICY)  # a new process: its first attempt purges
    await _fail(engine, fresh, "bob@example.com", THERE)
    assert set(await _rows(engine)) == {
        (THERE, SOURCE_ROW),
        (THERE, account_digest("bob@example.com")),
    }


@pytest.mark.parametrize(
    "spelling",
    ["Ann@Example.com", "  ann@example.com", "ANN@EXAMPLE.COM\t", "\u212aate@example.com"],
)
def test_an_email_is_counted_whatever_its_case_and_surrounding_whitespace(spelling: str) -> None:
    plain = "kate@example.com" if "\u212a" in spelling else "ann@example.com"
    assert normalised_email(spelling) == plain
    assert account_digest(spelling) == account_digest(plain)
    assert len(account_digest(spelling)) == 32


@pytest.mark.parametrize(
    ("host", "source"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::7", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_a_source_is_an_ipv4_address_or_an_ipv6_64(host: str | None, source: str) -> None:
    assert source_of(host) == source


async def test_nothing_identifying_an_email_is_stored(
    engine: AsyncEngine, throttle: SignInThrottle
) -> None:
    await _fail(engine, throttle, "ann@example.com", HERE)
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(func.string_agg(func.encode(SignInFailure.account, "escape"), ""))
        )
    assert "ann" not in (stored or "")
