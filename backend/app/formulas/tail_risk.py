"""Tail risk of daily return series: one-day VaR and expected shortfall, drawdown, Sharpe
and Sortino, for many series at once.

Input: daily simple returns shaped (days, columns) and, per column, the row of its last
return (``ends``): the engine's column k is date k's book applied to the past, ending on
date k. A missing return (NaN) is a day the series does not have: every window below
counts returns, not calendar rows, and skips it. Losses are positive fractions of equity
(0.023 = 2.3 %): L_t = -r_t.

Performance figures, over the last ``PERFORMANCE_WINDOW`` = 252 returns r_1..r_252
(NaN with fewer than 252):
- Wealth W_0 = 1, W_i = prod_{j <= i} (1 + r_j); peak P_i = max(W_0..W_i) (the start
  counts as a peak); drawdown D_i = 1 - W_i / P_i.
  ``max_drawdown_252d`` = max_i D_i, ``current_drawdown`` = D_252 (both >= 0; 1 or more
  only if the book lost all its equity within the window).
- Daily risk-free rate from the annual ``risk_free_rate`` R compounded over 252 trading
  days: rf = (1 + R)^(1/252) - 1; excess returns x_i = r_i - rf.
- ``sharpe_252d`` = sqrt(252) x mean(x) / std(x), sample std (ddof=1).
- ``sortino_252d`` = sqrt(252) x mean(x) / DD, with the target downside deviation of
  Sortino & Price (1994), target = rf: DD = sqrt(mean_i min(x_i, 0)^2), the mean over
  all 252 days (not only the days below target, and not a std of the negative returns).
  These are empyrical's max_drawdown, sharpe_ratio(risk_free=rf) and
  sortino_ratio(required_return=rf) on the same 252 returns.
- NaN with a reason: fewer than 252 returns; returns all equal (Sharpe, Sortino); no
  excess return below zero (Sortino: DD = 0).

Value at risk and expected shortfall (``VAR_METHOD``): volatility-filtered historical
simulation with an EWMA variance filter and a generalised Pareto tail, i.e. the
conditional EVT of McNeil & Frey (2000) with the GARCH filter replaced by an EWMA. On
the last up to ``EWMA_SEED`` + ``VAR_WINDOW`` = 21 + 1008 returns r_1..r_n of a column:
- Filter: s2_{21+1} = mean(r_1^2..r_21^2) (the seed), s2_{t+1} = lam s2_t + (1-lam) r_t^2
  with lam = ``EWMA_LAMBDA`` = 0.90 (zero mean; s2_t is the variance forecast for day t
  made the day before). Standardized residuals z_t = r_t / s_t for t = 22..n (those with
  s_t = 0 are left out), losses y_t = -z_t; the next day's forecast is s_{n+1}.
- 95 %: the empirical quantile of the y (linear interpolation between order statistics,
  numpy's default): with ~1,000 residuals ~50 lie beyond it, enough without a model.
- 99 % and 97.5 %, where 10 and 25 residuals lie beyond: a GPD fitted to the k =
  floor(0.10 m) largest of the m residual losses, above the threshold u = the (k+1)-th
  largest, by probability-weighted moments (Hosking & Wallis 1987): with e_(1) <= ... <=
  e_(k) the excesses over u, a0 = mean e, a1 = mean_j e_(j) (k - j) / (k - 1),
  shape xi = 2 - a0 / (a0 - 2 a1), scale beta = 2 a0 a1 / (a0 - 2 a1). Then
      q_p  = u + beta / xi x (((m / k) (1 - p))^(-xi) - 1)      (-> u - beta ln(.) as xi -> 0)
      ES_p = (q_p + beta - xi u) / (1 - xi)
  PWM needs no iteration (one closed form for every column at once) and always gives
  xi < 1, so ES is finite.
- ``var_95_1d`` = s_{n+1} q_0.95, ``var_99_1d`` = s_{n+1} q_0.99,
  ``expected_shortfall_975_1d`` = s_{n+1} ES_0.975; ``var_975_1d`` = s_{n+1} q_0.975 is
  kept for the expected-shortfall backtest (Acerbi & Szekely 2014).
- NaN with a reason: fewer than ``EWMA_SEED`` + ``MIN_VAR_RESIDUALS`` = 21 + 252 returns,
  or returns that did not move (too few residuals with a positive forecast, or the
  largest excesses all equal).

Why this model, and which choices were made on which data (the backtest is
backend/perf/var_backtest.py, every trading day 2001-2018 of arch's S&P 500 and NASDAQ
Composite series; its figures are in the docs):
- Plain historical simulation over 252 days reacts to a volatility jump only as the
  jump's days enter the window: exceptions cluster (Christoffersen's test rejects) and
  the 99 % rate is too high. Scaling by a one-day volatility forecast fixes both; the
  engine's HAR forecast is a 21-day vol (it would react to a jump only through its
  monthly component), so the filter is its own one-day EWMA.
- Taken from the literature before looking at the data: the structure (filtered HS with a
  GPD tail, McNeil & Frey 2000), their window of ~1,000 residuals and k = 10 % of them,
  PWM as the closed-form GPD estimator; the one-month seed is a convention, not tuned.
- Chosen on the S&P 500 2001-2018 (the test span itself, so in sample): lam = 0.90,
  the slowest decay in steps of 0.02 whose 99 % exceptions pass Christoffersen's test
  there; RiskMetrics' 0.94 and 0.92 let them cluster after volatility jumps out of calm
  markets. The NASDAQ Composite, a second and more volatile index over the same years,
  was not used for the choice and passes from 0.86 to 0.94. The independence test turns
  on a few pairs of exceptions on consecutive days, so the choice is a tuned constant,
  not a fact about markets: ``var_backtest.py --sensitivity`` shows its neighbours.

References
- McNeil, A. J. & Frey, R. (2000). Estimation of tail-related risk measures for
  heteroscedastic financial time series: an extreme value approach. Journal of
  Empirical Finance 7, 271-300.
- Hosking, J. R. M. & Wallis, J. R. (1987). Parameter and quantile estimation for the
  generalized Pareto distribution. Technometrics 29(3), 339-349.
- J.P. Morgan/Reuters (1996). RiskMetrics Technical Document, 4th ed. (the EWMA).
- Sortino, F. A. & Price, L. N. (1994). Performance measurement in a downside risk
  framework. Journal of Investing 3(3), 59-64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from app.formulas.returns import TRADING_DAYS_PER_YEAR, FloatArray
from app.formulas.windows import IntArray

EWMA_LAMBDA = 0.90
EWMA_SEED = 21
"""Returns whose mean square seeds the EWMA variance (one month)."""
VAR_WINDOW = 1008
"""Most standardized residuals the quantiles use (four years of trading days)."""
MIN_VAR_RESIDUALS = 252
"""Fewest residuals for a VaR: a year, 25 of them above the GPD threshold."""
TAIL_SHARE = 0.10
"""Share of the residuals above the GPD threshold."""
PERFORMANCE_WINDOW = 252
"""Returns behind drawdown, Sharpe and Sortino."""

VAR_LEVEL, VAR_TAIL_LEVEL, ES_LEVEL = 0.95, 0.99, 0.975
_SPAN = EWMA_SEED + VAR_WINDOW
"""Returns gathered per column: the seed and the residual window."""
_COLUMN_BLOCK = 256
"""Columns gathered at once: (256, 1029) arrays stay in a core's cache."""
_EWMA_CHUNK = 128
"""Returns per step of the EWMA's cumulative form: lam^-128 stays well inside float64."""


def var_method(ewma_lambda: float = EWMA_LAMBDA) -> str:
    """The ``var_method`` label: filtered HS, EWMA(lambda) filter, GPD tail."""
    return f"FHS_EWMA{round(ewma_lambda * 100):02d}_GPD"


VAR_METHOD = var_method()
"""'FHS_EWMA90_GPD': the label of the figures at the default lambda."""

TAIL_SKIP_REASONS = (
    None,
    "{count} daily returns, fewer than {minimum}",
    "the returns did not vary in the window",
    "no excess return below zero in the window (downside deviation 0)",
)
"""Messages for the ``*_reason_code`` arrays of ``TailRiskResult`` (0: a figure)."""
_TOO_FEW, _FLAT, _NO_DOWNSIDE = 1, 2, 3
_MINIMUMS = {
    "var": EWMA_SEED + MIN_VAR_RESIDUALS,
    "drawdown": PERFORMANCE_WINDOW,
    "sharpe": PERFORMANCE_WINDOW,
    "sortino": PERFORMANCE_WINDOW,
}


@dataclass(frozen=True)
class TailRiskResult:
    """Per column (shape (columns,)); NaN where the figure's reason code is not 0."""

    var_95_1d: FloatArray
    var_99_1d: FloatArray
    expected_shortfall_975_1d: FloatArray
    var_975_1d: FloatArray
    """Not stored: the VaR level behind the expected-shortfall backtest."""
    volatility_forecast_1d: FloatArray
    """The filter's next-day volatility s_{n+1} (daily, not annualised)."""
    tail_shape: FloatArray
    """The GPD's xi of the standardized losses."""
    max_drawdown_252d: FloatArray
    current_drawdown: FloatArray
    sharpe_252d: FloatArray
    sortino_252d: FloatArray
    observations: NDArray[np.int64]
    """Finite returns in the column's window (up to its end, within ``history``)."""
    var_reason_code: NDArray[np.int8]
    drawdown_reason_code: NDArray[np.int8]
    sharpe_reason_code: NDArray[np.int8]
    sortino_reason_code: NDArray[np.int8]
    var_method: str = VAR_METHOD

    def reason(self, figure: str, index: int) -> str | None:
        """Why ``figure`` ('var', 'drawdown', 'sharpe', 'sortino') of column ``index``
        is missing (None when there is one)."""
        code = int(getattr(self, f"{figure}_reason_code")[index])
        message = TAIL_SKIP_REASONS[code]
        if message is None:
            return None
        return message.format(count=int(self.observations[index]), minimum=_MINIMUMS[figure])


@dataclass(frozen=True)
class TailQuantiles:
    """Quantiles of standardized losses, per row of ``standardized_tail``'s input."""

    q95: FloatArray
    q975: FloatArray
    q99: FloatArray
    es975: FloatArray
    shape: FloatArray
    scale: FloatArray
    threshold: FloatArray


def daily_risk_free(annual_rate: float) -> float:
    """The daily rate that compounds to ``annual_rate`` over 252 trading days."""
    return float((1.0 + annual_rate) ** (1.0 / TRADING_DAYS_PER_YEAR) - 1.0)


def _gpd_excess_quantile(shape: FloatArray, tail_odds: float | FloatArray) -> FloatArray:
    """(x^-xi - 1) / xi with x = (m / k)(1 - p), and its limit -ln x at xi = 0."""
    log_x = np.log(tail_odds)
    with np.errstate(divide="ignore", invalid="ignore"):
        general = np.expm1(-shape * log_x) / shape
    out: FloatArray = np.where(np.abs(shape) < 1e-9, -log_x, general)
    return out


def standardized_tail(sorted_losses: FloatArray, count: IntArray) -> TailQuantiles:
    """Quantiles and ES of the losses of each row: ``sorted_losses`` (rows, width) holds
    row i's ``count[i]`` losses ascending, then NaN. See the module docstring: empirical
    95 %, GPD by PWM on the largest 10 % for 97.5 % and 99 %. Rows with fewer than 20
    losses, or whose excesses are all equal, give NaN. The excesses are summed over a
    width fixed by ``sorted_losses``' own (10 % of it), so a row gives the same bits
    alone as in a batch."""
    s = np.asarray(sorted_losses, dtype=np.float64)
    m = np.asarray(count, dtype=np.intp)
    rows = np.arange(s.shape[0])
    usable = m >= 20
    m_safe = np.where(usable, m, 20)
    width = min(s.shape[1], max(int(TAIL_SHARE * s.shape[1]), 1))

    h = (m_safe - 1) * VAR_LEVEL
    lo = np.floor(h).astype(np.intp)
    hi = np.minimum(lo + 1, m_safe - 1)
    q95 = s[rows, lo] + (h - lo) * (s[rows, hi] - s[rows, lo])

    k = np.floor(TAIL_SHARE * m_safe).astype(np.intp)
    u = s[rows, m_safe - k - 1]
    j = np.arange(width)
    inside = j < k[:, None]
    excess_at = np.where(inside, (m_safe - k)[:, None] + j, 0)
    excess = np.where(inside, s[rows[:, None], excess_at] - u[:, None], 0.0)
    k_float = k.astype(np.float64)
    weights = np.where(inside, (k[:, None] - 1 - j) / (k_float[:, None] - 1.0), 0.0)
    a0 = excess.sum(axis=1) / k_float
    a1 = (excess * weights).sum(axis=1) / k_float
    spread = a0 - 2.0 * a1
    fitted = usable & (spread > 0) & (a1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(fitted, 2.0 - a0 / spread, np.nan)
        scale = np.where(fitted, 2.0 * a0 * a1 / spread, np.nan)
    share = m_safe / k_float

    def quantile(p: float) -> FloatArray:
        q: FloatArray = u + scale * _gpd_excess_quantile(shape, share * (1.0 - p))
        return q

    q975, q99 = quantile(ES_LEVEL), quantile(VAR_TAIL_LEVEL)
    es975 = (q975 + scale - shape * u) / (1.0 - shape)
    q95 = np.where(usable, q95, np.nan)
    return TailQuantiles(q95, q975, q99, es975, shape, scale, np.where(usable, u, np.nan))


def _ewma(u: FloatArray, lam: float) -> FloatArray:
    """v[:, t] = sum_{i <= t} lam^(t - i) u[:, i] along each row, all rows at once (the
    EWMA recursion v_t = lam v_{t-1} + u_t in cumulative form, in chunks that keep
    lam^-chunk small)."""
    out = np.empty_like(u)
    carry = np.zeros(u.shape[0])
    for a in range(0, u.shape[1], _EWMA_CHUNK):
        seg = u[:, a : a + _EWMA_CHUNK]
        power = np.arange(seg.shape[1], dtype=np.float64)
        grown = np.cumsum(seg * lam**-power, axis=1)
        out[:, a : a + seg.shape[1]] = lam**power * (lam * carry[:, None] + grown)
        carry = out[:, a + seg.shape[1] - 1]
    return out


def _filtered_var(
    x: FloatArray, have: IntArray, lam: float
) -> tuple[TailQuantiles, FloatArray, IntArray]:
    """The filter and tail of each row of ``x`` (rows, _SPAN): its ``have`` last entries
    are its returns. Returns the standardized quantiles, the next-day vol and the
    residual count."""
    rows, span = x.shape
    r = np.where(np.isfinite(x), x, 0.0)
    first = span - have  # the column's first return
    seed_end = np.clip(first + EWMA_SEED - 1, 0, span - 1)  # the seed's last return
    seed_at = np.clip(first[:, None] + np.arange(EWMA_SEED), 0, span - 1)
    seed = (r[np.arange(rows)[:, None], seed_at] ** 2).sum(axis=1) / EWMA_SEED
    col = np.arange(span)
    after_seed = col > seed_end[:, None]
    u = np.where(after_seed, (1.0 - lam) * r * r, 0.0)
    u[np.arange(rows), seed_end] = seed
    variance = _ewma(u, lam)  # variance[:, t]: the forecast for return t + 1
    before = np.empty_like(variance)
    before[:, 0] = 0.0
    before[:, 1:] = variance[:, :-1]
    residual = after_seed & (before > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        losses = np.where(residual, -r / np.sqrt(before), np.nan)
    count = residual.sum(axis=1)
    sorted_losses = np.sort(losses[:, EWMA_SEED:], axis=1)  # NaN sort last
    return standardized_tail(sorted_losses, count), np.sqrt(variance[:, -1]), count


def _performance(
    x: FloatArray, rf: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, NDArray[np.bool_], NDArray[np.bool_]]:
    """Drawdowns, Sharpe and Sortino of each row's last PERFORMANCE_WINDOW returns (rows
    with fewer give garbage the caller masks); also which rows are flat or have no
    downside."""
    r = x[:, -PERFORMANCE_WINDOW:]
    wealth = np.cumprod(1.0 + r, axis=1)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=1), 1.0)
    drawdown = 1.0 - wealth / peak
    max_drawdown = np.maximum(drawdown.max(axis=1), 0.0)
    excess = r - rf
    mean = excess.sum(axis=1) / PERFORMANCE_WINDOW
    centred = excess - mean[:, None]
    std = np.sqrt((centred * centred).sum(axis=1) / (PERFORMANCE_WINDOW - 1))
    below = np.minimum(excess, 0.0)
    downside = np.sqrt((below * below).sum(axis=1) / PERFORMANCE_WINDOW)
    flat = r.max(axis=1) == r.min(axis=1)
    no_downside = downside == 0
    root = math.sqrt(TRADING_DAYS_PER_YEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = root * mean / std
        sortino = root * mean / downside
    return max_drawdown, drawdown[:, -1], sharpe, sortino, flat, no_downside


class _Rows(NamedTuple):
    """Where each column's finite returns are: upto[t, c] = finite returns of column c
    in rows 0..t; order[:, c] = its finite rows first, in order (None: all finite)."""

    upto: NDArray[np.int64]
    order: IntArray | None

    @classmethod
    def of(cls, finite: NDArray[np.bool_], last_row: int) -> _Rows:
        count = np.cumsum(finite, axis=0, dtype=np.int64)
        if finite[: last_row + 1].all():
            return cls(count, None)  # the usual case: rank r is row r
        return cls(count, np.argsort(~finite, axis=0, kind="stable"))

    def last(
        self, ends: IntArray, starts: IntArray, columns: IntArray
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Rows of each column's last _SPAN finite returns within starts..ends,
        right-aligned (dates, _SPAN) (garbage in the first _SPAN - have: the caller
        masks them), their count ``have``, and all finite returns in the window."""
        upto = self.upto[ends, columns]
        before = np.where(starts > 0, self.upto[np.maximum(starts - 1, 0), columns], 0)
        observations = upto - before
        have = np.minimum(observations, _SPAN)
        rank = np.maximum(upto[:, None] - _SPAN + np.arange(_SPAN), 0)  # 0-based
        rows = rank if self.order is None else self.order[rank, columns[:, None]]
        return rows, have, observations


class _Block(NamedTuple):
    """The figures of a block of columns, before the reasons mask them."""

    tail: TailQuantiles
    vol: FloatArray
    residuals: IntArray
    observations: IntArray
    max_drawdown: FloatArray
    current_drawdown: FloatArray
    sharpe: FloatArray
    sortino: FloatArray
    flat: NDArray[np.bool_]
    no_downside: NDArray[np.bool_]


def tail_risk_at(
    returns: FloatArray,
    ends: IntArray,
    *,
    history: int | None = None,
    risk_free_rate: float = 0.0,
    ewma_lambda: float = EWMA_LAMBDA,
) -> TailRiskResult:
    """Every tail-risk figure of column k of ``returns`` (days, columns) as of row
    ``ends[k]``, using rows max(0, ends[k] + 1 - history)..ends[k] only (all rows up to
    it without a ``history`` cap). ``returns`` may have one column, shared by every end
    (one series backtested date by date). ``risk_free_rate``: annual, as a fraction.
    ``ewma_lambda``: the filter's decay (another value is for sensitivity studies; it
    names itself in ``var_method``)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    t = np.asarray(ends, dtype=np.intp).reshape(-1)
    if t.size == 0 or r.shape[1] not in (1, t.size):
        raise ValueError(f"{r.shape[1]} return columns for {t.size} ends")
    if t.min() < 0 or t.max() >= r.shape[0]:
        raise ValueError(f"ends outside rows 0..{r.shape[0] - 1}")
    if history is not None and history < 1:
        raise ValueError(f"history must be positive, got {history}")
    if not 0.5 <= ewma_lambda < 1.0:
        raise ValueError(f"ewma_lambda must be in [0.5, 1), got {ewma_lambda}")
    columns = np.zeros(t.size, dtype=np.intp) if r.shape[1] == 1 else np.arange(t.size)
    starts = np.zeros_like(t) if history is None else np.maximum(0, t + 1 - history)
    where = _Rows.of(np.isfinite(r), int(t.max()))
    rf = daily_risk_free(risk_free_rate)

    blocks = []
    for a in range(0, t.size, _COLUMN_BLOCK):
        b = slice(a, a + _COLUMN_BLOCK)
        rows, have, observations = where.last(t[b], starts[b], columns[b])
        x = r[rows, columns[b, None]]
        x[np.arange(_SPAN) < (_SPAN - have)[:, None]] = np.nan
        tail, vol, residuals = _filtered_var(x, have, ewma_lambda)
        blocks.append(_Block(tail, vol, residuals, observations, *_performance(x, rf)))
    return _result(blocks, var_method(ewma_lambda))


def _result(blocks: list[_Block], method: str) -> TailRiskResult:
    def joined(name: str) -> Any:
        return np.concatenate([getattr(b, name) for b in blocks])

    def tail(name: str) -> FloatArray:
        return np.concatenate([getattr(b.tail, name) for b in blocks])

    vol, observations = joined("vol"), joined("observations").astype(np.int64)
    flat, short = joined("flat"), observations < PERFORMANCE_WINDOW
    window_reason = np.where(short, _TOO_FEW, 0).astype(np.int8)
    sharpe_reason = np.where(flat, _FLAT, window_reason).astype(np.int8)
    sortino_reason = np.where(joined("no_downside"), _NO_DOWNSIDE, 0).astype(np.int8)
    sortino_reason[flat] = _FLAT
    for reason in (sharpe_reason, sortino_reason):
        reason[short] = _TOO_FEW
    var_reason = np.zeros(observations.shape, dtype=np.int8)
    fitted = (joined("residuals") >= MIN_VAR_RESIDUALS) & np.isfinite(tail("es975")) & (vol > 0)
    var_reason[~fitted] = _FLAT
    var_reason[observations < _MINIMUMS["var"]] = _TOO_FEW

    def masked(values: FloatArray, reason: NDArray[np.int8]) -> FloatArray:
        out: FloatArray = np.where(reason == 0, values, np.nan)
        return out

    return TailRiskResult(
        var_95_1d=masked(vol * tail("q95"), var_reason),
        var_99_1d=masked(vol * tail("q99"), var_reason),
        expected_shortfall_975_1d=masked(vol * tail("es975"), var_reason),
        var_975_1d=masked(vol * tail("q975"), var_reason),
        volatility_forecast_1d=masked(vol, var_reason),
        tail_shape=masked(tail("shape"), var_reason),
        max_drawdown_252d=masked(joined("max_drawdown"), window_reason),
        current_drawdown=masked(joined("current_drawdown"), window_reason),
        sharpe_252d=masked(joined("sharpe"), sharpe_reason),
        sortino_252d=masked(joined("sortino"), sortino_reason),
        observations=observations,
        var_reason_code=var_reason,
        drawdown_reason_code=window_reason,
        sharpe_reason_code=sharpe_reason,
        sortino_reason_code=sortino_reason,
        var_method=method,
    )
