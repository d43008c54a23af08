"""Failed sign-ins per account and per client, in a sliding window (a fake clock)."""

from __future__ import annotations

import pytest

from app.core.errors import NotAuthenticatedError, TooManyAttemptsError
from app.users import throttle as throttle_module
from app.users.throttle import LoginThrottle, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: LoginThrottle, account: str, client: str = "10.0.0.1") -> None:
    with pytest.raises(NotAuthenticatedError), throttle.attempt(account, client):
        raise NotAuthenticatedError("wrong email or password")


def _succeed(throttle: LoginThrottle, account: str, client: str = "10.0.0.1") -> None:
    with throttle.attempt(account, client):
        pass


def _limited(throttle: LoginThrottle, account: str, client: str = "10.0.0.1") -> int:
    with pytest.raises(TooManyAttemptsError) as raised, throttle.attempt(account, client):
        raise AssertionError("the password must not be checked once limited")
    return raised.value.retry_after


def test_an_account_is_limited_after_its_failures_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(account_limit=3, client_limit=100, window_seconds=60, clock=clock)
    for step in range(3):
        clock.now += 10 * step
        _fail(throttle, "ann@example.com")
    # Failures at t=1000, 1010, 1030: the first leaves the window at 1060.
    clock.now = 1031.5
    assert _limited(throttle, "ann@example.com") == 29
    assert _limited(throttle, "ann@example.com", client="10.9.9.9") == 29  # any client
    _fail(throttle, "bob@example.com")  # other accounts are not affected
    clock.now = 1060.0
    _fail(throttle, "ann@example.com")
    assert _limited(throttle, "ann@example.com") == 10  # now the second (1010) must leave


def test_a_client_is_limited_across_accounts() -> None:
    clock = Clock()
    throttle = LoginThrottle(account_limit=100, client_limit=4, window_seconds=60, clock=clock)
    for i in range(4):
        _fail(throttle, f"user{i}@example.com", client="10.0.0.7")
    assert _limited(throttle, "someone@example.com", client="10.0.0.7") == 60
    _succeed(throttle, "someone@example.com", client="10.0.0.8")


def test_a_success_does_not_count_and_forgets_the_accounts_failures() -> None:
    throttle = LoginThrottle(account_limit=3, client_limit=4, window_seconds=60, clock=Clock())
    _fail(throttle, "ann@example.com")
    _fail(throttle, "ann@example.com")
    for _ in range(5):
        _succeed(throttle, "ann@example.com")
    _fail(throttle, "ann@example.com")
    _fail(throttle, "ann@example.com")
    # The account was forgiven by the successes (2 failures since, under its 3); the client
    # still counts all four failures.
    assert throttle.accounts.retry_after("ann@example.com") is None
    assert _limited(throttle, "ann@example.com") == 60


def test_an_error_that_is_not_a_failed_sign_in_gives_the_slot_back() -> None:
    throttle = LoginThrottle(account_limit=1, client_limit=1, window_seconds=60, clock=Clock())
    with pytest.raises(ConnectionError), throttle.attempt("ann@example.com", "10.0.0.1"):
        raise ConnectionError("database went away")
    _fail(throttle, "ann@example.com")
    assert _limited(throttle, "ann@example.com") == 60


def test_slots_are_taken_before_the_check_so_concurrent_attempts_cannot_all_pass() -> None:
    throttle = LoginThrottle(account_limit=2, client_limit=100, window_seconds=60, clock=Clock())
    first = throttle.attempt("ann@example.com", "10.0.0.1")
    second = throttle.attempt("ann@example.com", "10.0.0.2")
    first.__enter__()
    second.__enter__()  # both in flight, neither has failed yet
    _limited(throttle, "ann@example.com", client="10.0.0.3")
    failure = NotAuthenticatedError("wrong email or password")
    for attempt in (first, second):
        assert attempt.__exit__(NotAuthenticatedError, failure, None) is False  # re-raised
    _limited(throttle, "ann@example.com")


def test_memory_stays_bounded_whatever_the_number_of_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(throttle_module, "MAX_KEYS", 10)
    clock = Clock()
    window = SlidingWindow(limit=5, window=60, clock=clock)
    for i in range(25):
        window.take(f"made-up-{i}@example.com")
    assert len(window._events) <= 10
    clock.now += 61  # all expired: dropped before anything older is evicted
    window.take("new@example.com")
    assert list(window._events) == ["new@example.com"]
