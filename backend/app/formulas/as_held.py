"""The book as it was held each day: its daily return series (what a fund's NAV would
show), its direct market beta and its realized drawdown.

The engine's other portfolio figures apply *today's* book to past returns (the holdings
series of app.formulas.returns.holdings_returns). OLS is linear, so the market beta of
that series is exactly the exposure-weighted sum of the position betas: it adds nothing.
The as-held series instead takes, on each day, the positions held at the previous close,
at their previous close's value:

    r_t = sum_i q_i,t-1 P_i,t-1 r_i,t / D_t-1

over the positions i held at the close of day t-1 (entered on or before it, not yet sold
or expired: app.portfolios.repository's rule), q the signed size (shorts negative; an
option's size in its underlying), P the close of its series, r_i,t that series' return.
Weights drift with prices and the book changes on the days positions enter and leave.
D is the portfolio's equity when known and positive (the weighted beta's denominator),
else the gross exposure sum_i |q_i P_i,t-1| of that day's book. A day on which nothing
was held, or a held series lacks its close on t-1 or t, has no return (NaN).

- ``market_beta_direct``: OLS beta of the as-held series on the market's over the last
  ``window`` trading days (days without a return left out), as app.formulas.beta.
- ``realized_max_drawdown_252d``: the largest fall from a peak of the as-held wealth
  W_i = prod_{j <= i} (1 + r_j) over the last 252 trading days (the start counts as a
  peak, as app.formulas.tail_risk's drawdown); a day without a return does not move W.
  NaN with a reason when fewer than 252 trading days precede the date, or the book had
  no return in them.

For a book that never changed and whose weights do not drift (one position, or lots of
one series, with equity unknown) the as-held series is the holdings series and the two
betas are equal; they part when positions entered or left within the window, or prices
moved the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.formulas.beta import ols_beta_at
from app.formulas.exposure import equity_denominator
from app.formulas.returns import FloatArray, as_columns, simple_returns
from app.formulas.tail_risk import PERFORMANCE_WINDOW
from app.formulas.windows import IntArray

DRAWDOWN_SKIP_REASONS = (
    None,
    "{count} trading days before the date, fewer than {minimum}",
    "nothing held (or no close) on any of the last {minimum} trading days",
)


@dataclass(frozen=True)
class AsHeldBook:
    """Every position held on some day of a span, as arrays (positions,)."""

    series: NDArray[np.intp]
    """The position's column in the price panel."""
    size: FloatArray
    """Signed size in its series (exposure = size x close)."""
    first_row: NDArray[np.intp]
    """The first price row at whose close it is held."""
    last_row: NDArray[np.intp]
    """The last price row at whose close it is held (inclusive)."""

    @classmethod
    def empty(cls) -> AsHeldBook:
        return cls(
            np.zeros(0, dtype=np.intp),
            np.zeros(0),
            np.zeros(0, dtype=np.intp),
            np.zeros(0, dtype=np.intp),
        )


@dataclass(frozen=True)
class AsHeldResult:
    """Per end (shape (ends,)); NaN where the figure is missing."""

    returns: FloatArray
    """The as-held return series, one per return row of the panel (rows - 1,)."""
    market_beta_direct: FloatArray
    beta_reason: list[str | None]
    realized_max_drawdown_252d: FloatArray
    drawdown_reason: list[str | None]


def as_held_returns(prices: FloatArray, book: AsHeldBook, equity: float | None) -> FloatArray:
    """The as-held return series of ``book`` over the price panel ``prices`` (rows,
    series): entry t is the return from row t to row t + 1 (rows - 1,).

    The book changes only on the rows positions enter and leave: between two such rows
    the size held per series is one vector q, and q P_t r_t+1 = q P_t+1 - q P_t, so a
    stretch's P&L is the day-to-day change of one matrix-vector product over the panel
    (and its gross another, without equity), not a pass per position."""
    p = as_columns(prices)
    rows, series = p.shape
    if rows < 2:
        return np.zeros(0)
    missing: FloatArray | None = None  # > 0: a return row without both closes
    close = p
    if not p.min(initial=np.inf) > 0:  # a NaN or a close not positive (as simple_returns)
        bad = ~(p > 0)
        close = np.where(bad, 0.0, p)
        no_close = bad.astype(np.float64)
        missing = no_close[1:] + no_close[:-1]
    first = np.clip(book.first_row, 0, rows)
    after = np.clip(book.last_row + 1, 0, rows)
    kept = first < after
    cols, size, first, after = book.series[kept], book.size[kept], first[kept], after[kept]
    changes = np.unique(np.concatenate([[0, rows - 1], first, after]))
    changes = changes[changes <= rows - 1]
    usable = equity_denominator(equity)
    by_equity = usable is not None
    pnl = np.zeros(rows - 1)
    gross = np.zeros(rows - 1)
    unknown = np.zeros(rows - 1, dtype=bool)
    nothing = np.ones(rows - 1, dtype=bool)
    for a, b in zip(changes[:-1].tolist(), changes[1:].tolist(), strict=True):
        on = (first <= a) & (a < after)  # held at the close of row a .. b - 1
        if not on.any():
            continue
        held = np.bincount(cols[on], weights=size[on], minlength=series)
        absolute = np.bincount(cols[on], weights=np.abs(size[on]), minlength=series)
        value = close[a : b + 1] @ held  # the stretch's book valued at each close
        pnl[a:b] = value[1:] - value[:-1]
        if not by_equity:  # the gross is the denominator only without equity
            gross[a:b] = close[a:b] @ absolute
        if missing is not None:
            unknown[a:b] = missing[a:b] @ (absolute > 0) > 0
        nothing[a:b] = False
    denominator = gross if usable is None else np.full(rows - 1, usable)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = pnl / denominator
    out[unknown | nothing | ~(denominator > 0)] = np.nan
    return out


def _realized_drawdown(returns: FloatArray, ends: IntArray) -> tuple[FloatArray, list[str | None]]:
    """Max drawdown of the wealth over the last PERFORMANCE_WINDOW return rows up to each
    end (a NaN return: no move)."""
    window = PERFORMANCE_WINDOW
    out = np.full(ends.size, np.nan)
    reasons: list[str | None] = []
    r = np.where(np.isfinite(returns), returns, 0.0)
    any_return = np.isfinite(returns)
    for k, end in enumerate(ends.tolist()):
        if end + 1 < window:
            reasons.append(DRAWDOWN_SKIP_REASONS[1].format(count=end + 1, minimum=window))
            continue
        span = slice(end + 1 - window, end + 1)
        if not any_return[span].any():
            reasons.append(DRAWDOWN_SKIP_REASONS[2].format(minimum=window))
            continue
        wealth = np.cumprod(1.0 + r[span])
        peak = np.maximum(np.maximum.accumulate(wealth), 1.0)
        out[k] = max(float((1.0 - wealth / peak).max()), 0.0)
        reasons.append(None)
    return out, reasons


def as_held_at(
    prices: FloatArray,
    market_prices: FloatArray,
    book: AsHeldBook,
    ends: IntArray,
    equity: float | None,
    *,
    beta_window: int,
) -> AsHeldResult:
    """The as-held figures at each price row of ``ends``: the beta over the last
    ``beta_window`` returns, the realized drawdown over the last 252. Row T's figures use
    rows T - max(beta_window, 252)..T of the panel only."""
    returns = as_held_returns(prices, book, equity)
    market = simple_returns(np.asarray(market_prices, dtype=np.float64).reshape(-1, 1))[:, 0]
    t = np.asarray(ends, dtype=np.intp) - 1  # the last return row of each date
    valid = t >= 0
    beta = np.full(t.size, np.nan)
    beta_reason: list[str | None] = ["no return before the date"] * t.size
    if valid.any():
        fit = ols_beta_at(returns[:, None], market, t[valid], window=beta_window)
        beta[valid] = np.where(fit.reason_code[:, 0] == 0, fit.beta[:, 0], np.nan)
        for n, k in enumerate(np.flatnonzero(valid).tolist()):
            beta_reason[k] = fit.reason((n, 0))
    drawdown, drawdown_reason = _realized_drawdown(returns, t)
    return AsHeldResult(returns, beta, beta_reason, drawdown, drawdown_reason)
