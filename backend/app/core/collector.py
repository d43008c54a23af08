"""Python's cyclic garbage collector held off while a bulk job builds its objects.

A job that builds tens of thousands of objects it keeps to its end (an import of 10,000
positions: the parsed rows, the checked positions, the records it writes) makes the
collector run its full collection, which walks every object of the process (the libraries'
hundreds of thousands among them): for such a job that walk cost about as much as its
whole write. Those objects hold no reference cycles and are freed by reference counting
when the job ends, so pausing the collector for its duration loses nothing; it resumes
where it left off. The pause is the process's: other requests served meanwhile run without
cyclic collection too, for as long as the job (an import: under a second). Pauses nest
(concurrent jobs): the collector runs again when the last one ends, unless it was off
before the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0
_was_enabled = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """No automatic cyclic collection inside the block (nor inside other blocks open)."""
    global _paused, _was_enabled
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
