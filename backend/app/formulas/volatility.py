"""Realized volatility, the HAR-RV forecast, trend and percentile, for many series at once.

Inputs are daily simple returns shaped (days, series) on the trading-day calendar (NaN
for a missing day). Every volatility is annualised with sqrt(252).

Definitions
- Realized vol over w days (w = 21, 63): sample standard deviation (ddof=1) of the
  finite returns among the last w trading days, x sqrt(252). NaN when fewer than 80% of
  the w days have a return.
- HAR-RV components (Corsi 2009), with squared daily returns as the daily
  realized-variance proxy rv_t = r_t^2 (only closes are available):
      RV_d(t) = rv_t,  RV_w(t) = mean rv over t-4..t,  RV_m(t) = mean rv over t-20..t
  The stored vol_daily/weekly/monthly are sqrt(252 x RV_d/w/m) of the last day.
- HAR-RV forecast, fitted on the volatility scale (the square-root form of Andersen,
  Bollerslev & Diebold 2007):
      y(t) = sqrt(mean rv over t+1..t+21)              (the next 21 trading days' vol)
      y(t) = b0 + b_d sqrt(RV_d(t)) + b_w sqrt(RV_w(t)) + b_m sqrt(RV_m(t)) + e_t
  by least squares over every usable row of the history given (a row whose components
  and 21-day target all exist, i.e. whose target ends on or before the last day), then
  applied to the last day's components: ``expected_vol_21d`` = sqrt(252) x forecast.
  Why this scale: on variance levels a few crash days dominate the squared errors, the
  coefficients swing with them and the linear forecast can go negative (it did on real
  S&P 500 data, Sept 2015); square roots compress the spikes while keeping the model
  linear and its forecast in the unit that is stored (vol), so no retransformation bias
  correction is needed (logs would need one). ``model_r_squared`` is the in-sample R^2 of
  this vol-scale regression (not of variances). How much history the caller passes is
  its choice; the engine passes up to ``HAR_HISTORY_DAYS``.
- Insanity filter (Swanson & White 1997; as used for HAR forecasts by Bollerslev, Patton
  & Quaedvlieg 2016): a forecast outside [min y, max y] of the fit sample, or not
  positive, is not trusted. Bollerslev, Patton & Quaedvlieg replace it with the fit
  sample's mean; here it is replaced by the no-change forecast sqrt(RV_m) of the last day
  (the random walk the model has to beat): a forecast leaves the range when the last
  day's components are unlike those of the fit sample, above it typically after a crash
  larger than any before, where the sample mean would forecast calm at the worst moment.
  When the no-change forecast is not positive either (no move in 21 days) the sample
  mean is used, which is positive whenever the target varies. So a forecast is never
  zero or negative; ``filtered`` says where the filter replaced one. (On the real S&P
  500 and NASDAQ series with short windows, 126 to 504 days, where the filter does
  trigger, in both directions, the no-change fallback scored at least as well as the
  sample mean and as clipping to the range, on RMSE and QLIKE alike.)
- A forecast that cannot be made is NaN, with the reason in ``skip_reason``: fewer than
  ``MIN_HAR_SAMPLES`` usable rows, a target without variation (a flat price), collinear
  components, or missing components on the last day.
- Forecast quality is scored out of sample (backend/perf/forecast_quality.py) with RMSE
  on annualised vol and QLIKE on variances, mean(s2/f2 - ln(s2/f2) - 1), which ranks
  forecasts consistently under a noisy volatility proxy (Patton 2011).
- Trend: ratio = realized_vol_21d / realized_vol_63d (short against long window).
  'increasing' when ratio >= 1.10, 'decreasing' when ratio <= 1/1.10, else 'stable'.
  strength = min(1, |ln ratio| / ln 2): 0 for equal vols, 1 once one is double the other.
- Percentile: share of the 21d realized vols of the last 252 trading days (today's
  included) that are <= today's; in (0, 1]. NaN with fewer than 63 such values.

The HAR fit is written as OLS normal equations, sums over sample rows of per-row
quantities (``HarRows``: x = (1, components), y; summed into ``HarSums``: X'X, X'y, y'y,
plus the sample's min and max y for the filter). ``har_forecast`` sums over all usable
rows; ``har_forecast_all_dates`` forms the same sums for every date at once from prefix
sums (no lookahead: at date T only rows whose target ends on or before T), and both
solve them with the same ``solve_har``.

References
- Corsi, F. (2009). A simple approximate long-memory model of realized volatility.
  Journal of Financial Econometrics 7(2), 174-196.
- Andersen, T. G., Bollerslev, T. & Diebold, F. X. (2007). Roughing it up: including
  jump components in the measurement, modeling, and forecasting of return volatility.
  Review of Economics and Statistics 89(4), 701-720.
- Swanson, N. R. & White, H. (1997). A model selection approach to real-time
  macroeconomic forecasting using linear models and artificial neural networks.
  Review of Economics and Statistics 79(4), 540-550.
- Bollerslev, T., Patton, A. J. & Quaedvlieg, R. (2016). Exploiting the errors: a simple
  approach for improved volatility forecasting. Journal of Econometrics 192(1), 1-18.
- Patton, A. J. (2011). Volatility forecast comparison using imperfect volatility
  proxies. Journal of Econometrics 160(1), 246-256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from app.formulas.labels import TRENDS
from app.formulas.returns import (
    TRADING_DAYS_PER_YEAR,
    FloatArray,
    annualise_vol,
)
from app.formulas.windows import (
    IntArray,
    map_blocks,
    prefix_sums,
    range_extreme,
    resolve_threads,
    series_blocks,
    split_columns,
    window_sums,
)

SHORT_WINDOW = 21
LONG_WINDOW = 63
HAR_WEEK = 5
HAR_MONTH = 21
FORECAST_HORIZON = 21
MIN_HAR_SAMPLES = 63
HAR_HISTORY_DAYS = 2520
"""Most trading days of returns the engine passes to the HAR fit (~10 years). The 21-day
targets overlap, so 504 days hold only ~24 independent months and the coefficients swing
with each crisis in or out of the window; 10 years usually span a whole volatility cycle
(calm years and at least one crisis), while a distant regime still drops out eventually.
The realized-vol windows and the 252-day percentile keep their own lengths."""
PERCENTILE_LOOKBACK = 252
MIN_PERCENTILE_HISTORY = 63
TREND_THRESHOLD = 0.10
TREND_FULL_STRENGTH_RATIO = 2.0
COVERAGE = 0.8
"""Share of a window's days that must have a return for the window to count."""


def min_count(window: int) -> int:
    """Returns a ``window``-day window needs to count: COVERAGE of its days, rounded up."""
    return math.ceil(COVERAGE * window)


def _as_2d(returns: FloatArray) -> FloatArray:
    r = np.asarray(returns, dtype=np.float64)
    return r[:, None] if r.ndim == 1 else r


def rolling_realized_vol(returns: FloatArray, window: int) -> FloatArray:
    """Annualised realized vol of the trailing ``window`` days at every row; (days, series)."""
    r = _as_2d(returns)
    return _Moments.of(r).realized_vol(np.arange(r.shape[0], dtype=np.intp), window)


def realized_vol(returns: FloatArray, window: int) -> FloatArray:
    """Annualised realized vol over the last ``window`` days; (series,)."""
    r = _as_2d(returns)
    if r.shape[0] < window:
        return np.full(r.shape[1], np.nan)
    last: FloatArray = _Moments.of(r).realized_vol(np.array([r.shape[0] - 1]), window)[0]
    return last


@dataclass(frozen=True)
class HarResult:
    """HAR figures per series, shape (series,) or (dates, series)."""

    vol_daily: FloatArray
    vol_weekly: FloatArray
    vol_monthly: FloatArray
    expected_vol: FloatArray
    r_squared: FloatArray
    """In-sample R^2 of the vol-scale fit."""
    coefficients: FloatArray
    """(..., series, 4): b0, b_d, b_w, b_m on the daily vol scale (sqrt of daily variance)."""
    samples: NDArray[np.int64]
    filtered: NDArray[np.bool_]
    """True where the insanity filter replaced the model's forecast by the fallback."""
    reason_code: NDArray[np.int8]
    """Index into HAR_SKIP_REASONS: why ``expected_vol`` is NaN (0 where there is one)."""

    @property
    def skip_reason(self) -> list[str | None]:
        """Why ``expected_vol`` is NaN for each series (one-date results)."""
        return [HAR_SKIP_REASONS[c] for c in self.reason_code.tolist()]


@dataclass(frozen=True)
class HarRows:
    """Per-row quantities of the vol-scale HAR regression (see the module docstring)."""

    x: FloatArray
    """(4, days, series): 1, sqrt(RV_d), sqrt(RV_w), sqrt(RV_m) at each row; regressor
    first, so each regressor is one contiguous (days, series) block for the sums."""
    y: FloatArray
    """(days, series): sqrt(mean rv of the next ``horizon`` days); NaN for the last rows."""
    usable: NDArray[np.bool_]
    """(days, series): every component and the target exist, so the row is a sample."""


HAR_PAIRS = tuple((i, j) for i in range(4) for j in range(i, 4))
"""The 10 distinct (i, j) entries of the symmetric X'X, in the order cross-products use."""


def _symmetric(pair_sums: FloatArray) -> FloatArray:
    """(10, ...) sums in HAR_PAIRS order -> (..., 4, 4) symmetric X'X."""
    out = np.empty((*pair_sums.shape[1:], 4, 4))
    for k, (i, j) in enumerate(HAR_PAIRS):
        out[..., i, j] = out[..., j, i] = pair_sums[k]
    return out


def _masked(rows: HarRows) -> tuple[FloatArray, FloatArray]:
    return np.where(rows.usable, rows.x, 0.0), np.where(rows.usable, rows.y, 0.0)


@dataclass(frozen=True)
class HarSums:
    """The normal equations of one fit sample per (date, series): sums over its rows, plus
    the range of its targets for the insanity filter. Leading shape: (series,) or
    (dates, series)."""

    xtx: FloatArray
    xty: FloatArray
    yty: FloatArray
    y_min: FloatArray
    y_max: FloatArray

    @property
    def samples(self) -> NDArray[np.int64]:
        # X'X[0, 0] sums the intercept column: the number of sample rows.
        return np.rint(self.xtx[..., 0, 0]).astype(np.int64)


def har_sums(rows: HarRows) -> HarSums:
    """HarSums over every usable row: X'X, X'y, y'y of the sample rows."""
    x, y = _masked(rows)
    pairs = np.stack([np.einsum("tn,tn->n", x[i], x[j]) for i, j in HAR_PAIRS])
    return HarSums(
        xtx=_symmetric(pairs),
        xty=np.einsum("itn,tn->ni", x, y),
        yty=np.einsum("tn,tn->n", y, y),
        y_min=np.where(rows.usable, rows.y, np.inf).min(axis=0, initial=np.inf),
        y_max=np.where(rows.usable, rows.y, -np.inf).max(axis=0, initial=-np.inf),
    )


HAR_SKIP_REASONS = (
    None,
    f"fewer than {MIN_HAR_SAMPLES} usable HAR samples (days with 21 returns before and after)",
    "the 21-day vol did not vary in the fit sample (flat price)",
    "the HAR components are collinear in the fit sample",
    "the last day's HAR components are missing (fewer than 80% of its last 21 returns)",
)
"""Messages for ``HarSolution.reason_code`` (0: a forecast was made)."""
_TOO_FEW, _FLAT, _COLLINEAR, _NO_LAST = 1, 2, 3, 4
_RELATIVE_TOLERANCE = 1e-12
"""A centred sum of squares below this share of the raw one is rounding noise, not variation."""
_MAX_CONDITION = 1e10
"""Largest condition number of the regressors' correlation matrix that is still solved."""


@dataclass(frozen=True)
class HarSolution:
    """The fit and forecast of each sample in a HarSums (same leading shape), daily vol units."""

    forecast: FloatArray
    """The next ``horizon`` days' daily vol after the insanity filter; NaN with a reason."""
    coefficients: FloatArray
    r_squared: FloatArray
    filtered: NDArray[np.bool_]
    reason_code: NDArray[np.int8]
    samples: NDArray[np.int64]


def solve_har(
    sums: HarSums, x_last: FloatArray, *, min_samples: int = MIN_HAR_SAMPLES
) -> HarSolution:
    """Solve the normal equations of ``sums`` and forecast from the regressors ``x_last``.

    The slopes come from the centred 3x3 system (Sxx b = Sxy), scaled to a correlation
    matrix before solving so the vols' level does not affect conditioning; b0 = mean(y) -
    b . mean(x); R^2 = b . Sxy / Syy. The insanity filter and fallback are applied here.
    """
    n = sums.xtx[..., 0, 0]
    n_safe = np.maximum(n, 1.0)
    mean_x = sums.xtx[..., 0, 1:] / n_safe[..., None]
    mean_y = sums.xty[..., 0] / n_safe
    sxx = sums.xtx[..., 1:, 1:] - n[..., None, None] * mean_x[..., :, None] * mean_x[..., None, :]
    sxy = sums.xty[..., 1:] - n[..., None] * mean_x * mean_y[..., None]
    syy = sums.yty - n * mean_y * mean_y

    raw_xx = np.diagonal(sums.xtx[..., 1:, 1:], axis1=-2, axis2=-1)
    var_x = np.diagonal(sxx, axis1=-2, axis2=-1)
    varies_x: NDArray[np.bool_] = np.asarray((var_x > _RELATIVE_TOLERANCE * raw_xx).all(axis=-1))
    varies_y: NDArray[np.bool_] = np.asarray(syy > _RELATIVE_TOLERANCE * sums.yty)
    scale = np.sqrt(np.where(varies_x[..., None], var_x, 1.0))
    corr = sxx / (scale[..., :, None] * scale[..., None, :])
    eye = np.broadcast_to(np.eye(3), corr.shape)
    corr = np.where(varies_x[..., None, None], corr, eye)
    eig = np.linalg.eigvalsh(corr)
    with np.errstate(invalid="ignore", divide="ignore"):
        well_posed: NDArray[np.bool_] = (
            varies_x & (eig[..., 0] > 0) & (eig[..., -1] / eig[..., 0] < _MAX_CONDITION)
        )
    corr = np.where(well_posed[..., None, None], corr, eye)
    slopes = np.linalg.solve(corr, (sxy / scale)[..., None])[..., 0] / scale
    intercept = mean_y - (slopes * mean_x).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_squared = np.clip((slopes * sxy).sum(axis=-1) / syy, 0.0, 1.0)

    model = intercept + (slopes * x_last[..., 1:]).sum(axis=-1)
    sane = (model >= sums.y_min) & (model <= sums.y_max) & (model > 0)
    no_change = x_last[..., 3]  # sqrt(RV_m) of the last day: the random walk
    fallback = np.where(no_change > 0, no_change, mean_y)
    forecast = np.where(sane, model, fallback)

    samples = np.rint(n).astype(np.int64)
    reason = np.zeros(n.shape, dtype=np.int8)
    reason[~np.isfinite(x_last).all(axis=-1)] = _NO_LAST
    reason[~well_posed] = _COLLINEAR
    reason[~varies_y] = _FLAT
    reason[samples < min_samples] = _TOO_FEW
    failed = reason != 0
    forecast[failed] = np.nan
    r_squared[failed] = np.nan
    coefficients = np.concatenate([intercept[..., None], slopes], axis=-1)
    coefficients[failed] = np.nan
    return HarSolution(
        forecast=forecast,
        coefficients=coefficients,
        r_squared=r_squared,
        filtered=~sane & ~failed,
        reason_code=reason,
        samples=samples,
    )


def _differences(prefix: FloatArray, rows: IntArray, window: int) -> FloatArray:
    """prefix[t + 1] - prefix[t + 1 - window] for each t in ``rows`` (garbage where
    t + 1 < window: the caller masks those); slices when ``rows`` is a run of rows."""
    first, last = int(rows[0]), int(rows[-1])
    if last - first + 1 == rows.size:
        ends = prefix[first + 1 : last + 2]
        skip = min(max(0, window - first - 1), rows.size)
        out = np.empty_like(ends)
        out[:skip] = np.nan
        if skip < rows.size:
            out[skip:] = ends[skip:] - prefix[first + 1 + skip - window : last + 2 - window]
        return out
    picked: FloatArray = prefix[rows + 1] - prefix[np.maximum(rows + 1 - window, 0)]
    return picked


def _rolling_from_prefix(
    sums: FloatArray, counts: FloatArray, rows: IntArray, window: int, needed: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sum, count and mean over rows t-window+1..t for each t in ``rows``, from prefix sums
    (P[k] = sum of rows < k); NaN means where the window starts before the first row or
    holds fewer than ``needed`` finite values."""
    total = _differences(sums, rows, window)
    count = _differences(counts, rows, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    short = (rows + 1 - window < 0).reshape(-1, *([1] * (count.ndim - 1)))
    bad = (count < needed) | short
    if bad.shape == mean.shape:
        mean[bad] = np.nan
    else:  # a counts column (every return finite): whole rows
        mean[bad[:, 0]] = np.nan
    return total, count, mean


@dataclass(frozen=True)
class _Moments:
    """Prefix sums of a returns array's finite values, squares and counts: every rolling
    figure of this module is a difference of two of their rows."""

    finite: NDArray[np.bool_]
    r: FloatArray
    rv: FloatArray
    n: FloatArray
    """Prefix counts of finite returns: one column, the row numbers, when all are finite."""

    @classmethod
    def of(cls, returns: FloatArray) -> _Moments:
        finite = np.isfinite(returns)
        if finite.all():
            # The usual block: the counts are the row numbers, one column that broadcasts
            # against the series, so the windows' counts cost a column, not a block.
            rows = np.arange(returns.shape[0] + 1, dtype=np.float64)
            counts = rows.reshape(-1, *([1] * (returns.ndim - 1)))
            return cls(finite, prefix_sums(returns), prefix_sums(returns * returns), counts)
        r0 = np.where(finite, returns, 0.0)
        return cls(finite, prefix_sums(r0), prefix_sums(r0 * r0), prefix_sums(finite.astype(float)))

    def realized_vol(self, rows: IntArray, window: int) -> FloatArray:
        """Annualised realized vol of the ``window`` days up to each of ``rows``."""
        total, count, mean = _rolling_from_prefix(self.r, self.n, rows, window, min_count(window))
        squares = _differences(self.rv, rows, window)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (squares - total * mean) / (count - 1)
        var[~np.isfinite(mean)] = np.nan
        # Cancellation can leave -1e-20 for a flat series.
        return annualise_vol(np.maximum(var, 0.0))


def _har_panel(returns: FloatArray, moments: _Moments, horizon: int) -> HarRows:
    """The HAR regressors, target and sample mask of every row (see ``har_rows``), from
    the shared prefix sums: one pass over the history for all three rolling means."""
    days = returns.shape[0]
    rows = np.arange(days, dtype=np.intp)
    w = _rolling_from_prefix(moments.rv, moments.n, rows, HAR_WEEK, min_count(HAR_WEEK))[2]
    m = _rolling_from_prefix(moments.rv, moments.n, rows, HAR_MONTH, min_count(HAR_MONTH))[2]
    target_mean = (
        m
        if horizon == HAR_MONTH
        else _rolling_from_prefix(moments.rv, moments.n, rows, horizon, min_count(horizon))[2]
    )
    x = np.empty((4, *returns.shape))
    x[0] = 1.0
    np.abs(returns, out=x[1])  # sqrt(RV_d) = |r|; NaN where there is no return
    np.sqrt(w, out=x[2])
    np.sqrt(m, out=x[3])
    y = np.full(returns.shape, np.nan)
    y[:-horizon] = np.sqrt(target_mean[horizon:])
    usable = np.isfinite(x[1:]).all(axis=0) & np.isfinite(y)
    return HarRows(x=x, y=y, usable=usable)


def har_rows(returns: FloatArray, horizon: int = FORECAST_HORIZON) -> HarRows:
    """The regressors, target and sample mask of every row of ``returns``."""
    r = _as_2d(returns)
    return _har_panel(r, _Moments.of(r), horizon)


def _har_at(
    rows: HarRows,
    ends: IntArray,
    starts: IntArray,
    horizon: int,
    min_samples: int,
) -> tuple[HarSolution, FloatArray]:
    """Fit and forecast at each row of ``ends`` on the sample rows starts+20..end-horizon
    (no lookahead: only targets that end on or before the date), one normal-equation
    system per (date, series)."""
    sums, x_last = _har_sums_at(rows, ends, starts, horizon)
    return solve_har(sums, x_last, min_samples=min_samples), x_last


def _har_sums_at(
    rows: HarRows, ends: IntArray, starts: IntArray, horizon: int
) -> tuple[HarSums, FloatArray]:
    """``_har_at``'s normal equations and last-day regressors, before solving."""
    days = rows.y.shape[0]
    lo = np.minimum(starts + HAR_MONTH - 1, days)
    hi = ends - horizon
    end = np.maximum(hi + 1, lo)  # exclusive; an empty sample sums to zero
    # Only the sample rows of some date take part.
    a, b = int(lo.min()), max(int(end.max()), int(lo.min()))
    lo, hi, end = lo - a, hi - a, end - a
    usable = rows.usable[a:b]
    y_rows = rows.y[a:b]
    every = bool(usable.all())
    if every:  # the usual block: the rows themselves, no masked copies
        x = [rows.x[i, a:b] for i in range(1, 4)]
        y = y_rows
    else:
        x = [np.where(usable, rows.x[i, a:b], 0.0) for i in range(1, 4)]
        y = np.where(usable, y_rows, 0.0)

    def dot(u: FloatArray, v: FloatArray) -> FloatArray:
        if lo.size == 1:  # one sample: summed in place, no per-row products kept
            one: FloatArray = np.einsum("tn,tn->n", u[lo[0] : end[0]], v[lo[0] : end[0]])[None]
            return one
        return window_sums(u * v, lo, end)

    if every:  # each window's count is its length
        count = np.repeat((end - lo).astype(np.float64)[:, None], usable.shape[1], axis=1)
    else:
        count = window_sums(usable.astype(float), lo, end)
    firsts = [window_sums(v, lo, end) for v in x]
    xtx = np.empty((*count.shape, 4, 4))
    xtx[..., 0, 0] = count
    for i in range(3):
        xtx[..., 0, i + 1] = xtx[..., i + 1, 0] = firsts[i]
        for j in range(i, 3):
            xtx[..., i + 1, j + 1] = xtx[..., j + 1, i + 1] = dot(x[i], x[j])
    xty = np.empty((*count.shape, 4))
    xty[..., 0] = window_sums(y, lo, end)
    for i in range(3):
        xty[..., i + 1] = dot(x[i], y)
    sums = HarSums(
        xtx=xtx,
        xty=xty,
        yty=dot(y, y),
        y_min=range_extreme(
            y_rows if every else np.where(usable, y_rows, np.inf), lo, hi, largest=False
        ),
        y_max=range_extreme(
            y_rows if every else np.where(usable, y_rows, -np.inf), lo, hi, largest=True
        ),
    )
    x_last = np.moveaxis(rows.x[:, ends], 0, -1)  # (dates, series, 4)
    # The last day's components exist in the window only if its 21 days lie inside it.
    x_last[ends - starts < HAR_MONTH - 1] = np.nan
    return sums, x_last


def _har_result(solution: HarSolution, x_last: FloatArray) -> HarResult:
    sqrt_year = math.sqrt(TRADING_DAYS_PER_YEAR)
    return HarResult(
        vol_daily=x_last[..., 1] * sqrt_year,
        vol_weekly=x_last[..., 2] * sqrt_year,
        vol_monthly=x_last[..., 3] * sqrt_year,
        expected_vol=solution.forecast * sqrt_year,
        r_squared=solution.r_squared,
        coefficients=solution.coefficients,
        samples=solution.samples,
        filtered=solution.filtered,
        reason_code=solution.reason_code,
    )


def _window_starts(ends: IntArray, history: int | None) -> IntArray:
    if history is None:
        return np.zeros_like(ends)
    if history < 1:
        raise ValueError(f"history must be positive, got {history}")
    return np.maximum(0, ends + 1 - history)


def har_forecast(
    returns: FloatArray,
    *,
    horizon: int = FORECAST_HORIZON,
    min_samples: int = MIN_HAR_SAMPLES,
) -> HarResult:
    """Fit the vol-scale HAR-RV per series on every usable row and forecast the next
    ``horizon`` days from the last row (see the module docstring)."""
    r = _as_2d(returns)
    if r.shape[0] == 0:
        raise ValueError("no returns")
    ends = np.array([r.shape[0] - 1], dtype=np.intp)
    solution, x_last = _har_at(har_rows(r, horizon), ends, ends * 0, horizon, min_samples)
    result = _har_result(solution, x_last)
    return HarResult(*(getattr(result, f.name)[0] for f in fields(HarResult)))


@dataclass(frozen=True)
class HarForecasts:
    """``har_forecast`` at every row from ``first_row`` on: arrays (dates, series[, 4])."""

    rows: NDArray[np.intp]
    """The forecasting rows (indices into the returns), first_row..days-1."""
    expected_vol: FloatArray
    r_squared: FloatArray
    coefficients: FloatArray
    samples: NDArray[np.int64]
    filtered: NDArray[np.bool_]
    reason_code: NDArray[np.int8]
    """Index into HAR_SKIP_REASONS."""


def har_forecast_all_dates(
    returns: FloatArray,
    first_row: int,
    *,
    history: int | None = None,
    horizon: int = FORECAST_HORIZON,
    min_samples: int = MIN_HAR_SAMPLES,
) -> HarForecasts:
    """For every row T >= ``first_row``: what ``har_forecast(returns[s:T + 1])`` gives, with
    s = max(0, T + 1 - history) (s = 0 without a ``history`` cap), in one vectorised pass.

    The per-row cross-products are summed once into prefix sums; date T's normal
    equations are the difference of two prefix sums over its sample rows s+20..T-horizon
    (the first row whose components fit in the window, the last whose target ends on or
    before T: no lookahead)."""
    r = _as_2d(returns)
    days = r.shape[0]
    if not 0 <= first_row < days:
        raise ValueError(f"first_row {first_row} outside 0..{days - 1}")
    t = np.arange(first_row, days, dtype=np.intp)
    solution, _ = _har_at(har_rows(r, horizon), t, _window_starts(t, history), horizon, min_samples)
    return HarForecasts(
        rows=t,
        expected_vol=solution.forecast * math.sqrt(TRADING_DAYS_PER_YEAR),
        r_squared=solution.r_squared,
        coefficients=solution.coefficients,
        samples=solution.samples,
        filtered=solution.filtered,
        reason_code=solution.reason_code,
    )


def _trend_codes(
    short_vol: FloatArray, long_vol: FloatArray
) -> tuple[NDArray[np.int8], FloatArray]:
    """Index into TRENDS (-1: no trend) and strength, for arrays of any shape."""
    s = np.asarray(short_vol, dtype=np.float64)
    lv = np.asarray(long_vol, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.log(s / lv)
    both_zero = (s == 0) & (lv == 0)
    log_ratio = np.where(both_zero, 0.0, log_ratio)
    strength = np.clip(np.abs(log_ratio) / math.log(TREND_FULL_STRENGTH_RATIO), 0.0, 1.0)
    up = math.log(1.0 + TREND_THRESHOLD)
    codes = np.full(log_ratio.shape, TRENDS.index("stable"), dtype=np.int8)
    codes[log_ratio >= up - 1e-12] = TRENDS.index("increasing")
    codes[log_ratio <= -up + 1e-12] = TRENDS.index("decreasing")
    known = np.isfinite(log_ratio)
    codes[~known] = -1
    return codes, np.where(known, strength, np.nan)


def trend_label(code: int) -> str | None:
    return None if code < 0 else TRENDS[code]


def vol_trend(short_vol: FloatArray, long_vol: FloatArray) -> tuple[list[str | None], FloatArray]:
    """Trend label and strength per series from the short/long realized-vol ratio.

    See the module docstring for the rule. None/NaN where either vol is missing; two
    zero vols (a flat price) are 'stable' with strength 0.
    """
    codes, strength = _trend_codes(short_vol, long_vol)
    return [trend_label(c) for c in codes.tolist()], strength


def _percentiles(
    rolling_vol: FloatArray, ends: IntArray, first_valid: IntArray, lookback: int, min_history: int
) -> FloatArray:
    """vol_percentile at each date over rows max(first_valid, end - lookback + 1)..end."""
    out = np.full((ends.size, rolling_vol.shape[1]), np.nan)
    for k, (t, a) in enumerate(zip(ends.tolist(), first_valid.tolist(), strict=True)):
        window = rolling_vol[max(a, t - lookback + 1) : t + 1]
        if window.shape[0] == 0:
            continue
        current = window[-1]
        valid = np.isfinite(window)
        count = valid.sum(axis=0)
        at_or_below = (window <= current).sum(axis=0)  # NaN compares False
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = at_or_below / count
        pct[(count < min_history) | ~np.isfinite(current)] = np.nan
        out[k] = pct
    return out


def vol_percentile(
    rolling_vol: FloatArray,
    *,
    lookback: int = PERCENTILE_LOOKBACK,
    min_history: int = MIN_PERCENTILE_HISTORY,
) -> FloatArray:
    """Share of the last ``lookback`` rolling vols (today included) at or below today's."""
    v = _as_2d(rolling_vol)
    last = np.array([v.shape[0] - 1], dtype=np.intp)
    pct: FloatArray = _percentiles(v, last, last * 0, lookback, min_history)[0]
    return pct


@dataclass(frozen=True)
class VolatilityResult:
    """Every volatility figure per series, shape (series,) or (dates, series)."""

    realized_vol_21d: FloatArray
    realized_vol_63d: FloatArray
    har: HarResult
    trend_code: NDArray[np.int8]
    """Index into TRENDS; -1 where there is no trend (a vol is missing)."""
    trend_strength: FloatArray
    percentile: FloatArray
    observations: NDArray[np.int64]
    """Finite daily returns in the history the figures were computed from."""

    def at(self, k: int) -> VolatilityResult:
        """Date ``k`` of a (dates, series) result, as a (series,) one."""
        return VolatilityResult(
            realized_vol_21d=self.realized_vol_21d[k],
            realized_vol_63d=self.realized_vol_63d[k],
            har=HarResult(*(getattr(self.har, f.name)[k] for f in fields(HarResult))),
            trend_code=self.trend_code[k],
            trend_strength=self.trend_strength[k],
            percentile=self.percentile[k],
            observations=self.observations[k],
        )

    @property
    def trend(self) -> list[str | None]:
        """Trend label of each series (one-date results)."""
        return [trend_label(c) for c in self.trend_code.tolist()]


def volatility_at(
    returns: FloatArray,
    ends: IntArray,
    *,
    history: int | None = None,
    horizon: int = FORECAST_HORIZON,
    threads: int | None = None,
) -> VolatilityResult:
    """``volatility_metrics(returns[s:T + 1])`` for each row T of ``ends`` (ascending), with
    s = max(0, T + 1 - history): every series at every date in one pass, (dates, series).

    A date's figures use its window's rows only: a rolling figure whose days start before
    s is missing, as it would be on the window alone."""
    r = _as_2d(returns)
    t = np.asarray(ends, dtype=np.intp)
    if r.shape[0] == 0 or t.size == 0 or t.min() < 0 or t.max() >= r.shape[0]:
        raise ValueError("no returns at the dates asked")
    parts = series_blocks(r.shape[1], r.shape[0], threads)
    if resolve_threads(threads, len(parts)) == 1:
        # One thread: each block finished while its arrays are still in cache.
        done = [_finish(_volatility_block(r[:, j], t, history, horizon), 1) for j in parts]
        return done[0] if len(done) == 1 else _joined_results(done)
    blocks = map_blocks(lambda j: _volatility_block(r[:, j], t, history, horizon), parts, threads)
    # On threads the rest, per series on (dates, series) arrays, is done once for the
    # book: per block its operations are too short to release the GIL for long.

    def joined(of: list[Any], name: str) -> Any:
        return np.concatenate([getattr(x, name) for x in of], axis=1)

    sums = [x.har_sums for x in blocks]
    return _finish(
        _BlockFigures(
            **{f: joined(blocks, f) for f in _BlockFigures._fields if f != "har_sums"},
            har_sums=HarSums(**{f.name: joined(sums, f.name) for f in fields(HarSums)}),
        ),
        threads,
    )


def _joined_results(blocks: list[VolatilityResult]) -> VolatilityResult:
    def joined(name: str, of: list[Any]) -> Any:
        return np.concatenate([getattr(b, name) for b in of], axis=1)

    hars = [b.har for b in blocks]
    return VolatilityResult(
        **{f.name: joined(f.name, blocks) for f in fields(VolatilityResult) if f.name != "har"},
        har=HarResult(**{f.name: joined(f.name, hars) for f in fields(HarResult)}),
    )


def _finish(b: _BlockFigures, threads: int | None) -> VolatilityResult:
    """The figures of a block's (or the joined blocks') sums."""
    codes, strength = _trend_codes(b.vol_21, b.vol_63)
    return VolatilityResult(
        realized_vol_21d=b.vol_21,
        realized_vol_63d=b.vol_63,
        har=_har_result(_solve_split(b.har_sums, b.x_last, threads), b.x_last),
        trend_code=codes,
        trend_strength=strength,
        percentile=b.percentile,
        observations=b.observations,
    )


def _solve_split(sums: HarSums, x_last: FloatArray, threads: int | None) -> HarSolution:
    """``solve_har`` with the series split over the threads: the 3x3 eigenvalue checks,
    one LAPACK call per series, are most of its time and release the GIL."""
    parts = split_columns(x_last.shape[1], threads)
    if len(parts) == 1:
        return solve_har(sums, x_last)

    def solve(j: slice) -> HarSolution:
        return solve_har(
            HarSums(**{f.name: getattr(sums, f.name)[:, j] for f in fields(HarSums)}),
            x_last[:, j],
        )

    solved = map_blocks(solve, parts, threads)
    return HarSolution(
        **{
            f.name: np.concatenate([getattr(x, f.name) for x in solved], axis=1)
            for f in fields(HarSolution)
        }
    )


class _BlockFigures(NamedTuple):
    """What a series block computes from its history: (dates, series[, ...]) arrays."""

    vol_21: FloatArray
    vol_63: FloatArray
    percentile: FloatArray
    har_sums: HarSums
    x_last: FloatArray
    observations: NDArray[np.int64]


def _volatility_block(
    r: FloatArray, t: IntArray, history: int | None, horizon: int
) -> _BlockFigures:
    starts = _window_starts(t, history)
    # Only the rows a window reaches (the earliest start on) take part.
    base = int(starts.min())
    r = r[base:]
    t, starts = t - base, starts - base
    moments = _Moments.of(r)

    def inside(window: int) -> NDArray[np.bool_]:
        return np.asarray(t - starts >= window - 1)[:, None]

    first = int(max(starts.min(), t.min() - PERCENTILE_LOOKBACK + 1))
    span = np.arange(first, int(t.max()) + 1, dtype=np.intp)
    rolling = moments.realized_vol(span, SHORT_WINDOW)  # row i: span[i]
    percentile = _percentiles(
        rolling,
        t - first,
        starts + SHORT_WINDOW - 1 - first,  # earlier rolling vols reach before the window
        PERCENTILE_LOOKBACK,
        MIN_PERCENTILE_HISTORY,
    )
    sums, x_last = _har_sums_at(_har_panel(r, moments, horizon), t, starts, horizon)
    observations = np.broadcast_to(moments.n[t + 1] - moments.n[starts], (t.size, r.shape[1]))
    return _BlockFigures(
        vol_21=np.where(inside(SHORT_WINDOW), rolling[t - first], np.nan),
        vol_63=np.where(inside(LONG_WINDOW), moments.realized_vol(t, LONG_WINDOW), np.nan),
        percentile=percentile,
        har_sums=sums,
        x_last=x_last,
        observations=np.rint(observations).astype(np.int64),
    )


def volatility_metrics(returns: FloatArray, *, threads: int | None = None) -> VolatilityResult:
    """Every volatility figure the tables store, for each column of ``returns``."""
    r = _as_2d(returns)
    if r.shape[0] == 0:
        raise ValueError("no returns")
    return volatility_at(r, np.array([r.shape[0] - 1], dtype=np.intp), threads=threads).at(0)
