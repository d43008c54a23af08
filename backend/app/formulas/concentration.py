"""Concentration and sector exposure of a book of signed exposures.

Weights (the denominator, stated once): lots are first netted per symbol (the
underlying's symbol for options; app.formulas.book nets them), then each symbol's weight is
|net exposure| / sum over symbols of |net exposure|, i.e. a share of the book's gross
exposure after lots are netted. Weights are in [0, 1] and sum to 1, so top-N sums are in [0, 1] too.

- HHI = sum(w^2) x 10,000, in [10,000 / n_symbols, 10,000].
- Effective number of positions = 10,000 / HHI (= 1 / sum(w^2)).
- Top-3 / top-10 concentration = sum of the 3 / 10 largest weights.
- Sector exposure = signed net exposure per GICS sector / the same gross exposure, so a
  long-only book's sectors sum to its classified share (1 when every symbol has a sector)
  and shorts count against their sector. Symbols with no sector (ETFs, unclassified) are
  left out of the sector map rather than invented.

``uncovered``: the gross exposure of positions left out of the book's figures (no fresh
price, app.formulas.freshness). It joins the denominator as one unnamed share, so the
weights, top-N sums and sectors of the covered symbols add up to less than 1 by exactly
that share; a book whose uncovered exposure is unknown (NaN) has no such figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import numpy as np

from app.formulas.returns import FloatArray

HHI_SCALE = 10_000.0


@dataclass(frozen=True)
class Concentration:
    hhi: float
    effective_num_positions: float
    top_3: float
    top_10: float
    weights: dict[str, float]
    """Symbol -> weight (share of gross exposure), largest first."""
    gross_exposure: float


def concentration_of_net(
    names: Sequence[str], net: FloatArray, uncovered: float = 0.0
) -> Concentration | None:
    """HHI, effective N and top-N weights of a book already netted per symbol (``net[i]``
    is ``names[i]``'s signed exposure) plus ``uncovered`` gross exposure left out (see the
    module docstring); None when no symbol has exposure or ``uncovered`` is unknown."""
    absolute = np.abs(np.asarray(net, dtype=np.float64))
    covered = float(absolute.sum())
    gross = covered + float(uncovered)
    if not np.isfinite(gross) or covered <= 0:
        return None
    weights = absolute / gross
    order = np.argsort(-weights, kind="stable")
    ranked = weights[order]
    hhi = float(np.sum(weights**2) * HHI_SCALE)
    return Concentration(
        hhi=min(hhi, HHI_SCALE),
        effective_num_positions=HHI_SCALE / hhi,
        top_3=min(float(ranked[:3].sum()), 1.0),
        top_10=min(float(ranked[:10].sum()), 1.0),
        weights=dict(zip([names[i] for i in order.tolist()], ranked.tolist(), strict=True)),
        gross_exposure=gross,
    )


def sector_exposure_of_net(
    sectors: Sequence[str | None], net: FloatArray, uncovered: float = 0.0
) -> dict[str, float]:
    """GICS sector -> signed net exposure / gross exposure (see the module docstring) of a
    book already netted per symbol (``net[i]``: symbol i's signed exposure, ``sectors[i]``
    its sector, None for none), ``uncovered`` exposure in the gross."""
    values = np.asarray(net, dtype=np.float64)
    gross = float(np.abs(values).sum()) + float(uncovered)
    if not np.isfinite(gross) or gross <= 0:
        return {}
    out: dict[str, float] = {}
    for sector, value in zip(sectors, (values / gross).tolist(), strict=True):
        if sector is not None:
            out[sector] = out.get(sector, 0.0) + value
    return dict(sorted(out.items()))


Weight = TypeVar("Weight", float, Decimal)


def active_weights(
    exposure: Mapping[str, Weight], benchmark: Mapping[str, Weight]
) -> dict[str, Weight]:
    """Portfolio minus benchmark weight per sector (missing on either side = 0):
    > 0 overweight, < 0 underweight. Floats in the engine, exact Decimals in the API."""
    active: dict[str, Weight] = {}
    for sector in sorted(set(exposure) | set(benchmark)):
        held, index = exposure.get(sector), benchmark.get(sector)
        if held is None:
            active[sector] = -index  # type: ignore[operator]  # in benchmark: not None
        elif index is None:
            active[sector] = held
        else:
            active[sector] = held - index
    return active
