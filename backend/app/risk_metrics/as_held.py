"""The book as it was held each day, from the stored positions and prices: the engine's
input to app.formulas.as_held (the direct beta and the realized drawdown).

Date T's figures read the price rows T - :func:`as_held_rows` .. T only, so a
single-date run and a range run store the same numbers."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

import numpy as np

from app.formulas.as_held import AsHeldBook, AsHeldResult, as_held_at
from app.formulas.exposure import exposure_factor
from app.formulas.tail_risk import PERFORMANCE_WINDOW
from app.portfolios.repository import HeldSpan
from app.prices.repository import PriceHistory


def as_held_rows(beta_window: int) -> int:
    """Price rows before a date that its as-held figures read."""
    return max(beta_window, PERFORMANCE_WINDOW)


def as_held_figures(
    history: PriceHistory,
    spans: Sequence[HeldSpan],
    ends: Sequence[int],
    equity: float | None,
    beta_window: int,
) -> AsHeldResult:
    """The as-held figures of the book ``spans`` (every position held on some day up to
    the last date; others are ignored) at each row of ``history`` in ``ends`` (ascending,
    each >= 0)."""
    lo = max(0, int(min(ends)) - as_held_rows(beta_window))
    hi = int(max(ends)) + 1
    dates = history.dates[lo:hi]
    column_of = {s: j for j, s in enumerate(history.symbols)}
    used = [s for s in spans if s.position.series_symbol in column_of]
    series = sorted({s.position.series_symbol for s in used})
    local = {s: j for j, s in enumerate(series)}
    book = AsHeldBook(
        series=np.array([local[s.position.series_symbol] for s in used], dtype=np.intp),
        size=np.array(
            [exposure_factor(s.position.position_type) * s.position.quantity for s in used],
            dtype=np.float64,
        ),
        first_row=np.array([bisect_left(dates, s.first_day) for s in used], dtype=np.intp),
        last_row=np.array(
            [
                len(dates) - 1 if s.last_day is None else bisect_right(dates, s.last_day) - 1
                for s in used
            ],
            dtype=np.intp,
        ),
    )
    prices = history.closes[lo:hi][:, [column_of[s] for s in series]]
    return as_held_at(
        prices,
        history.market[lo:hi],
        book,
        np.asarray(ends, dtype=np.intp) - lo,
        equity,
        beta_window=beta_window,
    )
