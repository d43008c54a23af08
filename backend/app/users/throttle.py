"""Limits on failed sign-ins, per account and per client address, in this process.

A sliding window per key: at most ``limit`` failed attempts in the last ``window``
seconds. An attempt takes its slot before the password is checked (so concurrent guesses
cannot all slip in before the first one fails) and gives it back if it succeeds; a
success also forgets the account's earlier failures. Unknown emails are counted exactly
like known ones, so the limit tells nothing about which accounts exist.

Per process: each uvicorn worker (or replica) counts on its own, and a restart forgets.
Hand-written rather than a rate-limit library: the ones at hand (limits, slowapi) count
hits without a way to give one back, which would mean either counting successful
sign-ins as failures or checking after the password, which concurrent requests race.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.core.errors import NotAuthenticatedError, TooManyAttemptsError

ACCOUNT_LIMIT = 5
"""Failed sign-ins per account per window."""
CLIENT_LIMIT = 20
"""Failed sign-ins per client address per window (any accounts)."""
WINDOW_SECONDS = 15 * 60
MAX_KEYS = 100_000
"""Keys kept at most; past it, expired keys are dropped, then the oldest (bounded memory
whatever number of made-up emails is tried)."""


@dataclass
class SlidingWindow:
    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` has a free slot again, or None if it has one now."""
        now = self.clock()
        events = self._recent(key, now)
        if len(events) < self.limit:
            return None
        return events[len(events) - self.limit] + self.window - now

    def take(self, key: str) -> float:
        """Use a slot (call :meth:`retry_after` first); returns its stamp for :meth:`give_back`."""
        now = self.clock()
        if key not in self._events and len(self._events) >= MAX_KEYS:
            self._evict(now)
        self._events.setdefault(key, deque()).append(now)
        return now

    def give_back(self, key: str, stamp: float) -> None:
        events = self._events.get(key)
        if events is not None and stamp in events:
            events.remove(stamp)
            if not events:
                del self._events[key]

    def forget(self, key: str) -> None:
        self._events.pop(key, None)

    def _evict(self, now: float) -> None:
        for key in list(self._events):
            self._recent(key, now)
        while len(self._events) >= MAX_KEYS:
            del self._events[next(iter(self._events))]


class LoginThrottle:
    """The two windows a sign-in goes through: its account's and its client's."""

    def __init__(
        self,
        *,
        account_limit: int = ACCOUNT_LIMIT,
        client_limit: int = CLIENT_LIMIT,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = SlidingWindow(account_limit, window_seconds, clock)
        self.clients = SlidingWindow(client_limit, window_seconds, clock)

    @contextmanager
    def attempt(self, account: str, client: str) -> Iterator[None]:
        """Around one password check: TooManyAttemptsError (before any checking) when
        either window is full; the slots stay used only if the block raises
        NotAuthenticatedError (a failed sign-in)."""
        waits = [
            wait
            for wait in (self.accounts.retry_after(account), self.clients.retry_after(client))
            if wait is not None
        ]
        if waits:
            raise TooManyAttemptsError(
                "too many failed sign-ins: try again later",
                retry_after=max(1, math.ceil(max(waits))),
            )
        account_stamp = self.accounts.take(account)
        client_stamp = self.clients.take(client)
        try:
            yield
        except NotAuthenticatedError:
            raise
        except BaseException:
            # Not a wrong password (the database failed, the request was cancelled).
            self.accounts.give_back(account, account_stamp)
            self.clients.give_back(client, client_stamp)
            raise
        self.clients.give_back(client, client_stamp)
        self.accounts.forget(account)
