"""Backtest statistics of one-day VaR and expected-shortfall forecasts.

Everything here scores a forecast series against the losses that followed; the engine
itself never needs it (it lives beside the backtest script). Conventions: L_t is day t's
loss as a positive fraction (-return), VaR_t and ES_t are the forecasts made the day
before, also positive; an exception is L_t > VaR_t; p is the tail probability (0.01 for a
99 % VaR). A chi-squared(1) p-value is P(chi2_1 > LR) = erfc(sqrt(LR / 2)).

- Kupiec (1995), proportion of failures: x exceptions in T days,
      LR = -2 [ (T - x) ln(1 - p) + x ln p - (T - x) ln(1 - x/T) - x ln(x/T) ]
  (0 ln 0 = 0), chi2(1) under a correct rate.
- Christoffersen (1998), independence: with n_ij the days in state j (1 = exception)
  that follow a day in state i, pi_01 = n01 / (n00 + n01), pi_11 = n11 / (n10 + n11),
  pi = (n01 + n11) / (T - 1),
      LR = -2 [ ln L(pi, pi) - ln L(pi_01, pi_11) ],
      ln L(a, b) = n00 ln(1 - a) + n01 ln a + n10 ln(1 - b) + n11 ln b,
  chi2(1) under exceptions that do not cluster (a first-order Markov alternative).
- Basel traffic light (Basel Committee 1996), over every window of 250 consecutive days:
  the zone of a window's exception count x is green while the binomial(250, p)
  probability of x or fewer is below 95 %, yellow below 99.99 %, red from there; at
  p = 0.01 that is green 0-4, yellow 5-9, red >= 10 (the supervisory table). The same
  rule gives the 95 % VaR's zones.
- Acerbi & Szekely (2014), test 2 for ES at level 97.5 % (alpha = 0.025):
      Z2 = 1 - sum_t L_t I_t / (T alpha ES_t),   I_t = 1{L_t > VaR_97.5%,t}
  0 in expectation under a correct ES (and VaR), negative when the ES is too small;
  their simulations put the 5 % critical value near -0.70 and the 0.01 % one near -1.8,
  nearly whatever the distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.formulas.returns import FloatArray

BASEL_WINDOW = 250
YELLOW_PROBABILITY = 0.95
RED_PROBABILITY = 0.9999
ES_ALPHA = 0.025
Z2_CRITICAL_5PCT = -0.70
Z2_CRITICAL_001PCT = -1.8


def exceptions(losses: FloatArray, var: FloatArray) -> NDArray[np.bool_]:
    """L_t > VaR_t per day (both positive fractions)."""
    return np.asarray(np.asarray(losses) > np.asarray(var))


def chi2_1_pvalue(statistic: float) -> float:
    """P(chi2 with 1 degree of freedom > statistic)."""
    return math.erfc(math.sqrt(max(statistic, 0.0) / 2.0))


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def kupiec_pof(hits: NDArray[np.bool_], p: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures LR statistic and its p-value."""
    days, x = int(hits.size), int(hits.sum())
    observed = x / days
    null = _xlogy(days - x, 1.0 - p) + _xlogy(x, p)
    fitted = _xlogy(days - x, 1.0 - observed) + _xlogy(x, observed)
    lr = -2.0 * (null - fitted)
    return lr, chi2_1_pvalue(lr)


def transitions(hits: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """n00, n01, n10, n11: day pairs (yesterday, today) by exception state."""
    before, after = hits[:-1].astype(bool), hits[1:].astype(bool)
    return (
        int((~before & ~after).sum()),
        int((~before & after).sum()),
        int((before & ~after).sum()),
        int((before & after).sum()),
    )


def christoffersen_independence(hits: NDArray[np.bool_]) -> tuple[float, float]:
    """Christoffersen's independence LR statistic and its p-value."""
    n00, n01, n10, n11 = transitions(hits)
    pi = (n01 + n11) / max(n00 + n01 + n10 + n11, 1)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0

    def log_likelihood(a: float, b: float) -> float:
        return _xlogy(n00, 1 - a) + _xlogy(n01, a) + _xlogy(n10, 1 - b) + _xlogy(n11, b)

    lr = -2.0 * (log_likelihood(pi, pi) - log_likelihood(pi01, pi11))
    return lr, chi2_1_pvalue(lr)


def binomial_cdf(x: int, n: int, p: float) -> float:
    """P(X <= x) for X ~ binomial(n, p), summed exactly."""
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(x + 1))


def zone_bounds(p: float, window: int = BASEL_WINDOW) -> tuple[int, int]:
    """Fewest exceptions in a window that are yellow, and that are red."""
    yellow = next(x for x in range(window + 1) if binomial_cdf(x, window, p) >= YELLOW_PROBABILITY)
    red = next(x for x in range(window + 1) if binomial_cdf(x, window, p) >= RED_PROBABILITY)
    return yellow, red


@dataclass(frozen=True)
class TrafficLight:
    yellow_from: int
    red_from: int
    windows: int
    red_windows: int
    yellow_or_red_windows: int
    most_exceptions: int
    """In any one window."""


def traffic_light(hits: NDArray[np.bool_], p: float, window: int = BASEL_WINDOW) -> TrafficLight:
    """Zones of every window of ``window`` consecutive days (none if fewer days)."""
    yellow, red = zone_bounds(p, window)
    if hits.size < window:
        return TrafficLight(yellow, red, 0, 0, 0, 0)
    counts = np.convolve(hits.astype(np.int64), np.ones(window, dtype=np.int64), mode="valid")
    return TrafficLight(
        yellow_from=yellow,
        red_from=red,
        windows=int(counts.size),
        red_windows=int((counts >= red).sum()),
        yellow_or_red_windows=int((counts >= yellow).sum()),
        most_exceptions=int(counts.max()),
    )


def acerbi_szekely_z2(
    losses: FloatArray, var: FloatArray, es: FloatArray, alpha: float = ES_ALPHA
) -> float:
    """Acerbi & Szekely's Z2 of ES forecasts at level 1 - ``alpha``, ``var`` being the
    VaR at that same level."""
    hit = exceptions(losses, var)
    tail = np.where(hit, np.asarray(losses) / np.asarray(es), 0.0)
    return float(1.0 - tail.sum() / (hit.size * alpha))
