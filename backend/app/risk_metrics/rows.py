"""Rows for the risk tables, built from the figures of app.risk.

Each builder returns plain dicts ready for a bulk upsert. Precision is never restated
here: :func:`app.core.repository.fit_numeric` reads it from the model, stores what a
column cannot hold as NULL, and the builder reports each figure that did not fit (or a
row skipped because a NOT NULL figure did not) in ``skipped`` with its reason.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from app.core.repository import fit_numeric, numeric_columns
from app.market_data.repository import MARKET_INDEX
from app.models import PortfolioSnapshot, PositionMarketBeta, PositionVolatility
from app.risk.beta import BetaResult
from app.risk.book import BookRisk
from app.risk.volatility import COVERAGE, SHORT_WINDOW, VolatilityResult, min_count

METHOD = "OLS_SIMPLE"
"""position_market_betas.method of every row this engine writes."""

Skipped = list[tuple[str, str]]
"""(symbol or column, reason) for every figure not stored."""


def finite(value: Any) -> float | None:
    """A numpy/python number as float, or None when it is NaN or infinite."""
    v = float(value)
    return v if math.isfinite(v) else None


def _numeric_type(model: Any, column: str) -> str:
    precision, scale = numeric_columns(model.__table__)[column]
    return f"NUMERIC({precision},{scale})"


def position_beta_rows(
    b: BetaResult,
    positions: Sequence[Any],
    position_series: np.ndarray,
    portfolio_id: uuid.UUID,
    calc_date: date,
    beta_window: int,
    skipped: Skipped,
) -> list[dict[str, Any]]:
    """position_market_betas rows for ``positions`` (each reads series ``position_series[i]``
    of ``b``); a position without a storable beta gets no row and a reason."""
    rows = []
    for p, j in zip(positions, position_series.tolist(), strict=True):
        if b.skip_reason[j] is not None:
            skipped.append((p.symbol, f"beta: {b.skip_reason[j]}"))
            continue
        row, overflowed = fit_numeric(
            PositionMarketBeta,
            {
                "portfolio_id": portfolio_id,
                "position_id": p.id,
                "calc_date": calc_date,
                "beta": finite(b.beta[j]),
                "alpha": finite(b.alpha[j]),
                "r_squared": finite(b.r_squared[j]),
                "std_error": finite(b.std_error[j]),
                "p_value": finite(b.p_value[j]),
                "observations": int(b.observations[j]),
                "window_days": beta_window,
                "method": METHOD,
                "market_index": MARKET_INDEX,
            },
        )
        if row["beta"] is None:
            kind = _numeric_type(PositionMarketBeta, "beta")
            skipped.append((p.symbol, f"beta {float(b.beta[j]):.4g} exceeds {kind}"))
            continue
        skipped.extend((p.symbol, f"{name} does not fit its column") for name in overflowed)
        rows.append(row)
    return rows


def position_volatility_rows(
    v: VolatilityResult,
    positions: Sequence[Any],
    position_series: np.ndarray,
    calc_date: date,
    skipped: Skipped,
) -> list[dict[str, Any]]:
    """position_volatility rows; a position without a 21-day vol gets none."""
    rows = []
    for p, j in zip(positions, position_series.tolist(), strict=True):
        row, overflowed = fit_numeric(
            PositionVolatility,
            {
                "position_id": p.id,
                "calculation_date": calc_date,
                "realized_vol_21d": finite(v.realized_vol_21d[j]),
                "realized_vol_63d": finite(v.realized_vol_63d[j]),
                "vol_daily": finite(v.har.vol_daily[j]),
                "vol_weekly": finite(v.har.vol_weekly[j]),
                "vol_monthly": finite(v.har.vol_monthly[j]),
                "expected_vol_21d": finite(v.har.expected_vol[j]),
                "vol_trend": v.trend[j],
                "vol_trend_strength": finite(v.trend_strength[j]),
                "vol_percentile": finite(v.percentile[j]),
                "observations": int(v.observations[j]),
                "model_r_squared": finite(v.har.r_squared[j]),
            },
        )
        if row["realized_vol_21d"] is None:
            skipped.append(
                (
                    p.symbol,
                    f"volatility: fewer than {min_count(SHORT_WINDOW)} of the last "
                    f"{SHORT_WINDOW} returns ({COVERAGE:.0%} needed)",
                )
            )
            continue
        if not math.isfinite(v.har.expected_vol[j]):
            skipped.append((p.symbol, f"expected_vol_21d: {v.har.skip_reason[j]}"))
        skipped.extend((p.symbol, f"{name} does not fit its column") for name in overflowed)
        rows.append(row)
    return rows


def snapshot_row(
    book: BookRisk,
    portfolio_id: uuid.UUID,
    calc_date: date,
    num_positions: int,
    skipped: Skipped,
) -> dict[str, Any]:
    """The (portfolio, date) portfolio_snapshots row: valuation columns (used only when
    the row is created) and the risk columns (always written)."""
    fig = book.portfolio
    conc = fig.concentration
    vol = fig.volatility
    row, overflowed = fit_numeric(
        PortfolioSnapshot,
        {
            "portfolio_id": portfolio_id,
            "calculation_date": calc_date,
            # Valuation columns: set when this creates the row, never overwritten.
            "gross_exposure": fig.gross_exposure,
            "net_exposure": fig.net_exposure,
            "long_value": fig.long_exposure,
            "short_value": fig.short_exposure,
            "num_positions": num_positions,
            "market_beta_weighted": fig.market_beta_weighted,
            "market_beta_r_squared": fig.market_beta_r_squared,
            "market_beta_observations": fig.market_beta_observations,
            "market_beta_direct": fig.market_beta_direct,
            "sector_exposure": {s: round(w, 6) for s, w in fig.sector_exposure.items()} or None,
            "hhi": conc.hhi if conc else None,
            "effective_num_positions": conc.effective_num_positions if conc else None,
            "top_3_concentration": conc.top_3 if conc else None,
            "top_10_concentration": conc.top_10 if conc else None,
            "realized_volatility_21d": finite(vol.realized_vol_21d[0]) if vol else None,
            "realized_volatility_63d": finite(vol.realized_vol_63d[0]) if vol else None,
            "expected_volatility_21d": finite(vol.har.expected_vol[0]) if vol else None,
            "volatility_trend": vol.trend[0] if vol else None,
            "volatility_percentile": finite(vol.percentile[0]) if vol else None,
        },
    )
    if vol is not None and not math.isfinite(vol.har.expected_vol[0]):
        skipped.append(("expected_volatility_21d", str(vol.har.skip_reason[0])))
    skipped.extend(
        (name, f"{name} does not fit {_numeric_type(PortfolioSnapshot, name)}")
        for name in overflowed
    )
    return row
