"""Signed exposure of a position, from its type, size and price.

- Stocks: LONG = +|quantity| x close, SHORT = -|quantity| x close. The position type
  decides the sign, so it does not matter whether shorts store a negative quantity.
- Options (LC/LP/SC/SP): delta-less notional on the underlying,
  |contracts| x 100 x underlying close, signed by the direction of the option's delta:
  long call and short put gain when the underlying rises (+), long put and short call
  lose (-). No option model is applied (delta taken as 1): this overstates an option's
  exposure, never understates it, and its beta and volatility are the underlying's.
"""

from __future__ import annotations

import math

OPTION_MULTIPLIER = 100.0
OPTION_TYPES = ("LC", "LP", "SC", "SP")

_SIGN = {"LONG": 1.0, "SHORT": -1.0, "LC": 1.0, "SP": 1.0, "LP": -1.0, "SC": -1.0}


def is_option(position_type: str) -> bool:
    return position_type in OPTION_TYPES


def exposure_factor(position_type: str) -> float:
    """Signed exposure per unit of |quantity| x price: the sign times the multiplier."""
    try:
        sign = _SIGN[position_type]
    except KeyError:
        raise ValueError(f"unknown position type {position_type!r}") from None
    return sign * (OPTION_MULTIPLIER if is_option(position_type) else 1.0)


def signed_exposure(position_type: str, quantity: float, price: float) -> float:
    """Signed exposure in currency units (see the module docstring)."""
    return exposure_factor(position_type) * abs(quantity) * price


def equity_denominator(equity: float | None) -> float | None:
    """The portfolio's equity as the denominator of its figures (weights, returns, P&L
    fractions) when known, finite and positive; None otherwise, when the book's gross
    exposure is the denominator instead."""
    if equity is None or not math.isfinite(equity) or equity <= 0:
        return None
    return float(equity)
