"""The freshness rule: which positions a date's figures may rest on.

A position is priced on a calculation date when its series (an option's underlying) has a
close on one of the market's trading days at most ``max_age`` trading days before the
date (``STALE_PRICE_TRADING_DAYS``, default 3; counted on the market index's calendar,
the rows of the engine's price panel). Otherwise it is excluded: it gets no beta or
volatility of its own, takes no part in the portfolio's return series, and its exposure
counts as uncovered in every coverage and concentration figure (app.formulas.book), so
none of them can read 100% while a position was left out. Each excluded position is
named with one of :data:`EXCLUSION_REASONS`.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
from numpy.typing import NDArray

ExclusionReason = Literal["no_price", "stale_price"]
EXCLUSION_REASONS: tuple[ExclusionReason, ...] = ("no_price", "stale_price")
"""no_price: no close of its series on or before the date; stale_price: the last one is
more than the limit's trading days before it."""


def fresh_prices(last_priced_row: NDArray[np.intp], row: int, max_age: int) -> NDArray[np.bool_]:
    """Per position, whether its last priced row (-1: none) is at most ``max_age`` rows
    (trading days) before ``row``, the calculation date's."""
    last = np.asarray(last_priced_row, dtype=np.intp)
    return (last >= 0) & (row - last <= max_age)


def exclusion_detail(
    series: str, calc_date: date, last_price: date | None, age: int, max_age: int
) -> tuple[ExclusionReason, str]:
    """The reason code and its sentence for a position excluded on ``calc_date`` (``age``:
    trading days from ``last_price`` to it)."""
    if last_price is None:
        return "no_price", f"no {series} price on or before {calc_date}: no figures"
    return (
        "stale_price",
        f"last {series} price is of {last_price}, {age} trading days before {calc_date} "
        f"(more than {max_age}): no figures until its prices are loaded",
    )
