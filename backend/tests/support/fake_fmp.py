"""The fake FMP of devtools.fake_fmp (shared with the benchmarks), and its fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.fake_fmp import *  # noqa: F403  (the tests' import path)
from devtools.fake_fmp import FakeFmp


@pytest.fixture
def fake_fmp() -> Iterator[FakeFmp]:
    """A running fake FMP, fresh for each test."""
    with FakeFmp() as fake:
        yield fake
