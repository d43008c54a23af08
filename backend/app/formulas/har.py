"""The HAR-RV forecast of the next 21 trading days' volatility, for many series at once.

Inputs are daily simple returns shaped (days, series) on the trading-day calendar (NaN
for a missing day). Every volatility is annualised with sqrt(252).

Definitions
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
- A forecast that cannot be made is NaN, with the reason in ``reason_code`` (an index
  into ``HAR_SKIP_REASONS``): fewer than ``MIN_HAR_SAMPLES`` usable rows, a target
  without variation (a flat price), collinear components, or missing components on the
  last day.
- Forecast quality is scored out of sample (backend/perf/forecast_quality.py) with RMSE
  on annualised vol and QLIKE on variances, mean(s2/f2 - ln(s2/f2) - 1), which ranks
  forecasts consistently under a noisy volatility proxy (Patton 2011).

The fit is written as OLS normal equations, sums over sample rows of per-row quantities
(``HarRows``: x = (1, components), y; summed into ``HarSums``: X'X, X'y, y'y, plus the
sample's min and max y for the filter). ``har_sums_at`` forms them for every date at once
from prefix sums (no lookahead: at date T only rows whose target ends on or before T), and
``solve_har`` solves them. The engine's figures (app.formulas.volatility.volatility_at)
and ``har_forecast_all_dates`` both go through these two.

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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.formulas.returns import TRADING_DAYS_PER_YEAR, FloatArray, as_columns
from app.formulas.windows import (
    IntArray,
    Moments,
    min_count,
    range_extreme,
    trailing_sums,
    window_starts,
    window_sums,
)

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


def har_panel(returns: FloatArray, moments: Moments, horizon: int) -> HarRows:
    """The HAR regressors, target and sample mask of every row of ``returns``, from its
    prefix sums ``moments``: one pass over the history for all three rolling means."""
    days = returns.shape[0]
    rows = np.arange(days, dtype=np.intp)
    w = trailing_sums(moments.rv, moments.n, rows, HAR_WEEK, min_count(HAR_WEEK))[2]
    m = trailing_sums(moments.rv, moments.n, rows, HAR_MONTH, min_count(HAR_MONTH))[2]
    target_mean = (
        m
        if horizon == HAR_MONTH
        else trailing_sums(moments.rv, moments.n, rows, horizon, min_count(horizon))[2]
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


def har_sums_at(
    rows: HarRows, ends: IntArray, starts: IntArray, horizon: int
) -> tuple[HarSums, FloatArray]:
    """The normal equations of the fit at each row of ``ends`` on the sample rows
    starts+20..end-horizon (no lookahead: only targets that end on or before the date),
    one system per (date, series), and each date's last-day regressors (date, series, 4):
    NaN where the last day's components do not fit in the date's window."""
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


def har_result(solution: HarSolution, x_last: FloatArray) -> HarResult:
    """The stored HAR figures (annualised) of ``solve_har``'s solution."""
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


def har_forecast_all_dates(
    returns: FloatArray,
    first_row: int,
    *,
    history: int | None = None,
    horizon: int = FORECAST_HORIZON,
) -> HarResult:
    """The HAR figures at every row T from ``first_row`` on, each on the returns s..T alone
    with s = max(0, T + 1 - history) (s = 0 without a ``history`` cap), in one vectorised
    pass: (dates, series) arrays, date k being row ``first_row + k``. The engine's HAR
    figures at those dates, without the other volatility figures.

    The per-row cross-products are summed once into prefix sums; date T's normal
    equations are the difference of two prefix sums over its sample rows s+20..T-horizon
    (the first row whose components fit in the window, the last whose target ends on or
    before T: no lookahead)."""
    r = as_columns(returns)
    days = r.shape[0]
    if not 0 <= first_row < days:
        raise ValueError(f"first_row {first_row} outside 0..{days - 1}")
    t = np.arange(first_row, days, dtype=np.intp)
    rows = har_panel(r, Moments.of(r), horizon)
    sums, x_last = har_sums_at(rows, t, window_starts(t, history), horizon)
    return har_result(solve_har(sums, x_last), x_last)
