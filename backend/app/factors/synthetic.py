"""Synthetic prices for the factors' ETFs, where the truth is known: the demo's and the
known-loadings recovery's (perf/factor_recovery.py).

Given each factor's daily returns, every ETF of app/factors/factors.toml gets returns that
make the factor's spread exactly that factor: a long leg is its short leg's return plus
the factor's, and an ETF that is no factor's long leg (IWF, the value spread's short
side) moves with the market plus noise of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from app.factors.definitions import FactorSet
from app.formulas.returns import FloatArray

FREE_LEG_VOL = 0.005
"""Daily volatility of a free leg's own moves (around the market)."""


def etf_returns(
    rng: np.random.Generator,
    factors: FloatArray,
    factor_set: FactorSet,
    known: Mapping[str, FloatArray] | None = None,
) -> dict[str, FloatArray]:
    """Daily returns of every factor ETF such that each factor's spread is its column of
    ``factors`` (days, factors); ``known`` ETFs (the market's, already priced) keep their
    returns and are not returned."""
    days = factors.shape[0]
    out: dict[str, FloatArray] = {s: np.asarray(r) for s, r in (known or {}).items()}
    market = factors[:, 0]
    longs = {f.long for f in factor_set.factors}
    for defined in factor_set.factors:
        for leg in defined.symbols:
            if leg not in longs and leg not in out:
                out[leg] = market + rng.normal(0, FREE_LEG_VOL, days)
    pending = list(enumerate(factor_set.factors))
    while pending:
        column, factor = pending.pop(0)
        if factor.long in (known or {}):
            continue
        if factor.short is not None and factor.short not in out:
            pending.append((column, factor))  # its short leg is another factor's long one
            continue
        base = out[factor.short] if factor.short is not None else np.zeros(days)
        out[factor.long] = base + factors[:, column]
    return {s: r for s, r in out.items() if s not in (known or {})}
