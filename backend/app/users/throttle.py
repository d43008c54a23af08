"""Limits on failed sign-ins, kept in PostgreSQL (table sign_in_failures) so that every
worker and host counts the same failures, and a restart forgets nothing.

Failures are counted per source (the client's address; IPv6 by its /64, the block one
subscriber gets) and per account from that source, never per account alone: only the place
a password is guessed from is slowed down. A correct password from a source without recent
failures therefore always gets in, whatever other sources did to the account, so nobody can
lock a user out. Emails are counted by their normalised form (Unicode NFKC, surrounding
whitespace dropped, case folded), so spelling an address differently counts the same.

Past its free failures a key waits before its next attempt, and the wait doubles with each
further failure (FIRST_DELAY_SECONDS, twice that, ... up to MAX_DELAY_SECONDS). An attempt
made while its source or account-and-source waits is refused (429 with Retry-After) before
the password is checked, and is not counted. A key's failures are forgotten
FORGET_AFTER_SECONDS after its last one.

An attempt counts as a failure before the password is checked, in a short transaction of
its own that locks its two rows: concurrent guesses are counted one after the other and
cannot all slip in before the first fails. A success gives its count back and forgets the
account-and-source failures; so does (the count only) an error that is not a wrong password.
A request cancelled between the two keeps its count.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address, ip_network

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotAuthenticatedError, TooManyAttemptsError
from app.models.sign_in import SOURCE_MAX_LENGTH

logger = logging.getLogger(__name__)

ACCOUNT_FREE_FAILURES = 5
"""Failed sign-ins for one account from one source before the waits start."""
SOURCE_FREE_FAILURES = 20
"""Failed sign-ins from one source (any accounts) before the waits start."""
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 15 * 60
FORGET_AFTER_SECONDS = 60 * 60
"""Longer than the longest wait: a guesser who always waits it out keeps the count."""
PURGE_EVERY_SECONDS = 60
"""How often (per process, at most) forgotten rows are deleted."""
PURGE_BATCH = 1000

IPV6_SOURCE_PREFIX = 64
UNKNOWN_SOURCE = "unknown"
SOURCE_ROW = b""
"""The ``account`` of a source's own row (its failures for every account together)."""
TOO_MANY = "too many failed sign-ins: try again later"


@dataclass(frozen=True)
class ThrottlePolicy:
    account_free: int = ACCOUNT_FREE_FAILURES
    source_free: int = SOURCE_FREE_FAILURES
    first_delay: float = FIRST_DELAY_SECONDS
    max_delay: float = MAX_DELAY_SECONDS
    forget_after: float = FORGET_AFTER_SECONDS

    def wait(self, failures: int, free: int) -> float:
        """Seconds a key with ``failures`` recent failures waits after its last one."""
        if failures < free:
            return 0.0
        return min(self.first_delay * 2.0 ** min(failures - free, 32), self.max_delay)


def normalised_email(email: str) -> str:
    """The form an email is counted under: NFKC, stripped, case-folded."""
    return unicodedata.normalize("NFKC", email).strip().casefold()


def account_digest(email: str) -> bytes:
    """The ``account`` key of ``email`` (SHA-256 of its normalised form)."""
    return hashlib.sha256(normalised_email(email).encode("utf-8", "surrogatepass")).digest()


def source_of(host: str | None) -> str:
    """The ``source`` key of a client address: IPv4 as is (also when mapped into IPv6), IPv6
    as its /64 network (one subscriber's block: rotating within it changes nothing)."""
    if not host:
        return UNKNOWN_SOURCE
    try:
        address = ip_address(host.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:  # not an address (a Unix socket, a test client's name)
        return host[:SOURCE_MAX_LENGTH]
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/{IPV6_SOURCE_PREFIX}", strict=False))
    return str(address)


@dataclass(frozen=True)
class SignInAttempt:
    source: str
    account: bytes


_ENSURE_ROWS = text(
    "INSERT INTO sign_in_failures (source, account, failures, last_failed_at) "
    "VALUES (:source, ''::bytea, 0, now()), (:source, :account, 0, now()) "
    "ON CONFLICT DO NOTHING"
)
# Ordered, so that two attempts from one source lock their shared row first: no deadlock.
_LOCK_ROWS = text(
    "SELECT account, failures, extract(epoch FROM now() - last_failed_at)::float8 "
    "FROM sign_in_failures WHERE source = :source AND account IN (''::bytea, :account) "
    "ORDER BY account FOR UPDATE"
)
_COUNT_FAILURE = text(
    "UPDATE sign_in_failures SET failures = :failures, last_failed_at = now() "
    "WHERE source = :source AND account = :account"
)
_FORGET = text("DELETE FROM sign_in_failures WHERE source = :source AND account = :account")
_GIVE_BACK = text(
    "UPDATE sign_in_failures SET failures = failures - 1 "
    "WHERE source = :source AND account = :account AND failures > 0"
)
_DROP_EMPTY = text(
    "DELETE FROM sign_in_failures WHERE source = :source AND account = :account AND failures = 0"
)
# SKIP LOCKED: never waits behind an attempt in flight (whose row is being renewed anyway).
_PURGE = text(
    "DELETE FROM sign_in_failures WHERE ctid IN ("
    "SELECT ctid FROM sign_in_failures "
    "WHERE last_failed_at < now() - make_interval(secs => :forget_after) "
    "LIMIT :batch FOR UPDATE SKIP LOCKED)"
)


class SignInThrottle:
    """The failed sign-in counts of the ``sign_in_failures`` table, under ``policy``."""

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self._next_purge = 0.0

    @asynccontextmanager
    async def attempt(
        self, session: AsyncSession, email: str, host: str | None
    ) -> AsyncIterator[None]:
        """Around one password check in ``session`` (a request's, nothing pending):
        TooManyAttemptsError (before any checking) while the source or the account from
        it must wait; otherwise the attempt is counted (committed) before the block runs
        and stays counted only if the block raises NotAuthenticatedError."""
        attempt = SignInAttempt(source_of(host), account_digest(email))
        await self._count(session, attempt)
        try:
            yield
        except NotAuthenticatedError:
            raise
        except Exception:
            await self._give_back_after_error(session, attempt)
            raise
        # Flushed into the request's transaction, committed with it.
        await session.execute(_FORGET, {"source": attempt.source, "account": attempt.account})
        await self._give_back(session, attempt.source, [SOURCE_ROW])

    async def _count(self, session: AsyncSession, attempt: SignInAttempt) -> None:
        keys = {"source": attempt.source, "account": attempt.account}
        await session.execute(_ENSURE_ROWS, keys)
        rows = (await session.execute(_LOCK_ROWS, keys)).all()
        waits: list[float] = []
        counted: list[dict[str, object]] = []
        for account, failures, age in rows:
            if age >= self.policy.forget_after:
                failures = 0
            free = self.policy.source_free if account == SOURCE_ROW else self.policy.account_free
            wait = self.policy.wait(failures, free)
            if wait > 0 and wait > age:
                waits.append(wait - age)
            counted.append({"source": attempt.source, "account": account, "failures": failures + 1})
        if waits:
            await session.rollback()  # nothing counted, the rows made above dropped
            raise TooManyAttemptsError(TOO_MANY, retry_after=max(1, math.ceil(max(waits))))
        await session.execute(_COUNT_FAILURE, counted)
        await session.commit()
        await self._purge_if_due(session)

    async def _give_back(self, session: AsyncSession, source: str, accounts: list[bytes]) -> None:
        keys = [{"source": source, "account": account} for account in accounts]
        await session.execute(_GIVE_BACK, keys)
        await session.execute(_DROP_EMPTY, keys)

    async def _give_back_after_error(self, session: AsyncSession, attempt: SignInAttempt) -> None:
        """Not a wrong password (the database failed, a bug): the attempt is not a failure.
        Best effort: if the database cannot take it back either, the count stays."""
        try:
            await session.rollback()
            await self._give_back(session, attempt.source, [SOURCE_ROW, attempt.account])
            await session.commit()
        except Exception as exc:
            logger.warning("a sign-in attempt stays counted: %s", type(exc).__name__)

    async def _purge_if_due(self, session: AsyncSession) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        params = {"forget_after": self.policy.forget_after, "batch": PURGE_BATCH}
        try:
            await session.execute(_PURGE, params)
            await session.commit()
        except Exception as exc:  # housekeeping: the sign-in goes on, the next purge retries
            await session.rollback()
            logger.warning("purging old sign-in failures failed: %s", type(exc).__name__)
