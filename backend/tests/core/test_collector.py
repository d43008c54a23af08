"""Pausing Python's cyclic garbage collector for a bulk job: it runs again when the last
pause ends, and stays off if it was off before."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.core.collector import collection_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_runs_again_when_the_last_of_nested_pauses_ends() -> None:
    gc.enable()
    outer = collection_paused()
    outer.__enter__()
    assert not gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the outer job is still running
    outer.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_ends_when_its_job_fails() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("the job failed")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
