"""A portfolio's denominator: its equity when that can divide, else None (the gross)."""

from __future__ import annotations

import math

import pytest

from app.formulas.exposure import equity_denominator


def test_a_positive_equity_is_the_denominator() -> None:
    assert equity_denominator(250_000.0) == 250_000.0


@pytest.mark.parametrize("equity", [None, 0.0, -5.0, math.nan, math.inf])
def test_an_equity_that_cannot_divide_leaves_the_gross_exposure(equity: float | None) -> None:
    assert equity_denominator(equity) is None
