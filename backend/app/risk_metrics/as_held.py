"""The book as it was held each day, from the stored positions and prices: the engine's
input to app.formulas.as_held (the direct beta and the realized drawdown).

Date T's figures read the price rows T - :func:`as_held_rows` .. T only, so a
single-date run and a range run store the same numbers. The closes are the total-return
ones, on today's basis of shares, so each position's size is its quantity in today's
shares (app.prices.actions.shares_held): one closed before a 2:1 split counts twice the
shares it held, each at the halved close."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np

from app.formulas.as_held import AsHeldBook, AsHeldResult, as_held_at
from app.formulas.exposure import signed_exposure
from app.formulas.tail_risk import PERFORMANCE_WINDOW
from app.portfolios.repository import HeldPosition, HeldSpan
from app.prices.actions import shares_held
from app.prices.repository import PriceHistory


def as_held_rows(beta_window: int) -> int:
    """Price rows before a date that its as-held figures read."""
    return max(beta_window, PERFORMANCE_WINDOW)


def _size_today(position: HeldPosition, history: PriceHistory, today: date) -> float:
    """The position's signed size in shares as of today: the basis of the total-return
    closes, which carry every split since (a position closed before a 4:1 split held a
    quarter of today's shares, each at four times today's adjusted close)."""
    splits = history.splits.get(position.series_symbol, ())
    shares = position.quantity * float(
        shares_held(splits, position.quantity_date, today, today=today)
    )
    return signed_exposure(position.position_type, shares, 1.0)


def as_held_figures(
    history: PriceHistory,
    spans: Sequence[HeldSpan],
    ends: Sequence[int],
    equity: float | None,
    beta_window: int,
    *,
    today: date | None = None,
) -> AsHeldResult:
    """The as-held figures of the book ``spans`` (every position held on some day up to
    the last date; others are ignored) at each row of ``history`` in ``ends`` (ascending,
    each >= 0). ``today``: the day a position held still counts its quantity on (the
    current UTC date if None)."""
    today = today or datetime.now(UTC).date()
    lo = max(0, int(min(ends)) - as_held_rows(beta_window))
    hi = int(max(ends)) + 1
    dates = history.dates[lo:hi]
    column_of = {s: j for j, s in enumerate(history.symbols)}
    used = [s for s in spans if s.position.series_symbol in column_of]
    series = sorted({s.position.series_symbol for s in used})
    local = {s: j for j, s in enumerate(series)}
    book = AsHeldBook(
        series=np.array([local[s.position.series_symbol] for s in used], dtype=np.intp),
        size=np.array([_size_today(s.position, history, today) for s in used], dtype=np.float64),
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
