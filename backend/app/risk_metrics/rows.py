"""Rows for the risk tables, built from the figures of app.formulas.

The position builders return the rows for the COPY writes as columns
(:class:`FigureRows`, :data:`BETA_RECORD` / :data:`VOL_RECORD`); the snapshot builder a
dict. Precision is never restated here: app.core.numeric_fit reads it from the model and
stores what a column cannot hold as NULL, and the builder reports each figure that did
not fit (or a row skipped because a NOT NULL figure did not) in ``skipped`` with its
reason.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.core.numeric_fit import fit_columns, fit_row, overflow_reason
from app.formulas.as_held import AsHeldResult
from app.formulas.beta import BetaResult
from app.formulas.book import PortfolioFigures
from app.formulas.har import HAR_SKIP_REASONS
from app.formulas.returns import FloatArray
from app.formulas.tail_risk import TailRiskResult
from app.formulas.volatility import SHORT_WINDOW, VolatilityResult, trend_label
from app.formulas.windows import COVERAGE, min_count
from app.models import PortfolioSnapshot, PositionMarketBeta, PositionVolatility

METHOD = "OLS_SIMPLE"
"""position_market_betas.method of every row this engine writes."""

Skipped = list[tuple[str, str]]
"""(symbol or column, reason) for every figure not stored."""


def finite(value: Any) -> float | None:
    """A numpy/python number as float, or None when it is NaN or infinite."""
    v = float(value)
    return v if math.isfinite(v) else None


BETA_FIGURES = ("beta", "alpha", "r_squared", "std_error", "p_value")
BETA_RECORD = ("position_id", "calc_date", *BETA_FIGURES, "observations")
"""position_market_betas columns of a record (the rest are the run's constants); a float
figure is NaN where the column stores NULL."""

VOL_FIGURES = (
    "realized_vol_21d",
    "realized_vol_63d",
    "vol_daily",
    "vol_weekly",
    "vol_monthly",
    "expected_vol_21d",
    "vol_trend_strength",
    "vol_percentile",
    "model_r_squared",
)
VOL_RECORD = ("position_id", "calculation_date", *VOL_FIGURES, "vol_trend", "observations")
"""position_volatility columns of a record; a float figure is NaN where it is NULL."""


class _Symbols:
    """positions[i].symbol, looked up only for the positions a reason names."""

    def __init__(self, positions: Sequence[Any]) -> None:
        self._positions = positions

    def __getitem__(self, i: int) -> str:
        symbol: str = self._positions[i].symbol
        return symbol


UUID_DTYPE = np.dtype("V16")
PG_EPOCH = date(2000, 1, 1)
"""Day 0 of PostgreSQL's binary date."""


def uuid_array(ids: Sequence[uuid.UUID]) -> NDArray[np.void]:
    """UUIDs as one array of their 16 bytes each (the COPY's binary form of a uuid)."""
    return np.frombuffer(b"".join(u.bytes for u in ids), dtype=UUID_DTYPE)


def uuid_sort_keys(ids: NDArray[np.void]) -> list[NDArray[np.uint64]]:
    """np.lexsort keys (last first) that order ``ids`` as PostgreSQL orders uuids: by
    their 16 bytes."""
    halves = np.frombuffer(ids.tobytes(), dtype=">u8").reshape(-1, 2)
    return [halves[:, 1], halves[:, 0]]


@dataclass(frozen=True)
class FigureRows:
    """The rows of one position table, column by column (what the COPY writes): no
    Python object per row or value."""

    position_id: NDArray[np.void]
    """16-byte UUIDs (:data:`UUID_DTYPE`)."""
    calc_date: NDArray[np.int32]
    """Days since :data:`PG_EPOCH`."""
    figures: FloatArray
    """(rows, figures) in the table's FIGURES order; NaN where the column stores NULL."""
    trend: NDArray[np.int16]
    """Index into TRENDS, -1 for NULL (position_volatility; empty for betas)."""
    observations: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.position_id.shape[0])

    @staticmethod
    def concat(parts: Sequence[FigureRows], figures: int) -> FigureRows:
        if not parts:
            return FigureRows(
                np.empty(0, dtype=UUID_DTYPE),
                np.empty(0, dtype=np.int32),
                np.empty((0, figures)),
                np.empty(0, dtype=np.int16),
                np.empty(0, dtype=np.int32),
            )
        return FigureRows(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(FigureRows))
        )


def _figure_rows(
    kept: NDArray[np.bool_],
    ids: NDArray[np.void],
    calc_date: date,
    figures: FloatArray,
    observations: NDArray[np.int64],
    trend: NDArray[np.int8] | None = None,
) -> FigureRows:
    keep = np.flatnonzero(kept)
    return FigureRows(
        position_id=ids[keep],
        calc_date=np.full(keep.size, (calc_date - PG_EPOCH).days, dtype=np.int32),
        figures=figures[:, keep].T,
        trend=np.empty(0, dtype=np.int16) if trend is None else trend[keep].astype(np.int16),
        observations=observations[keep].astype(np.int32),
    )


def _report_overflow(
    skipped: Skipped,
    symbols: _Symbols,
    model: Any,
    values: dict[str, FloatArray],
    overflowed: dict[str, NDArray[np.bool_]],
    kept: NDArray[np.bool_],
) -> None:
    for name, mask in overflowed.items():
        for i in np.flatnonzero(mask & kept).tolist():
            skipped.append((symbols[i], overflow_reason(model, name, float(values[name][i]))))


def position_beta_rows(
    b: BetaResult,
    positions: Sequence[Any],
    position_series: np.ndarray,
    calc_date: date,
    skipped: Skipped,
    *,
    ids: NDArray[np.void] | None = None,
) -> FigureRows:
    """position_market_betas rows (:data:`BETA_RECORD`) for ``positions`` (each reads
    series ``position_series[i]`` of the one-date ``b``; ``ids``: their ids as
    :func:`uuid_array`, when the caller has them); a position without a storable beta
    gets no row and a reason."""
    if not positions:
        return FigureRows.concat([], len(BETA_FIGURES))
    cols = np.asarray(position_series, dtype=np.intp)
    symbols = _Symbols(positions)
    values = {name: getattr(b, name)[cols] for name in BETA_FIGURES}
    fitted, overflowed = fit_columns(PositionMarketBeta, values)
    estimated = b.reason_code[cols] == 0
    kept = estimated & np.isfinite(fitted["beta"])
    for i in np.flatnonzero(~estimated).tolist():
        skipped.append((symbols[i], f"beta: {b.reason(int(cols[i]))}"))
    for i in np.flatnonzero(estimated & ~kept).tolist():
        skipped.append(
            (symbols[i], overflow_reason(PositionMarketBeta, "beta", float(values["beta"][i])))
        )
    overflowed.pop("beta")
    _report_overflow(skipped, symbols, PositionMarketBeta, values, overflowed, kept)
    return _figure_rows(
        kept,
        uuid_array([p.id for p in positions]) if ids is None else ids,
        calc_date,
        np.stack([fitted[name] for name in BETA_FIGURES]),
        b.observations[cols],
    )


def position_volatility_rows(
    v: VolatilityResult,
    positions: Sequence[Any],
    position_series: np.ndarray,
    calc_date: date,
    skipped: Skipped,
    *,
    ids: NDArray[np.void] | None = None,
) -> FigureRows:
    """position_volatility rows (:data:`VOL_RECORD`); a position without a 21-day vol
    gets none."""
    if not positions:
        return FigureRows.concat([], len(VOL_FIGURES))
    cols = np.asarray(position_series, dtype=np.intp)
    symbols = _Symbols(positions)
    har = v.har
    values = {
        "realized_vol_21d": v.realized_vol_21d[cols],
        "realized_vol_63d": v.realized_vol_63d[cols],
        "vol_daily": har.vol_daily[cols],
        "vol_weekly": har.vol_weekly[cols],
        "vol_monthly": har.vol_monthly[cols],
        "expected_vol_21d": har.expected_vol[cols],
        "vol_trend_strength": v.trend_strength[cols],
        "vol_percentile": v.percentile[cols],
        "model_r_squared": har.r_squared[cols],
    }
    fitted, overflowed = fit_columns(PositionVolatility, values)
    kept = np.isfinite(fitted["realized_vol_21d"])
    reason = (
        f"volatility: fewer than {min_count(SHORT_WINDOW)} of the last "
        f"{SHORT_WINDOW} returns ({COVERAGE:.0%} needed)"
    )
    for i in np.flatnonzero(~kept).tolist():
        skipped.append((symbols[i], reason))
    codes = har.reason_code[cols]
    for i in np.flatnonzero(kept & ~np.isfinite(har.expected_vol[cols])).tolist():
        skipped.append((symbols[i], f"expected_vol_21d: {HAR_SKIP_REASONS[codes[i]]}"))
    overflowed.pop("realized_vol_21d")
    _report_overflow(skipped, symbols, PositionVolatility, values, overflowed, kept)
    return _figure_rows(
        kept,
        uuid_array([p.id for p in positions]) if ids is None else ids,
        calc_date,
        np.stack([fitted[name] for name in VOL_FIGURES]),
        v.observations[cols],
        v.trend_code[cols],
    )


def snapshot_row(
    fig: PortfolioFigures,
    portfolio_id: uuid.UUID,
    calc_date: date,
    num_positions: int,
    skipped: Skipped,
    excluded: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The (portfolio, date) portfolio_snapshots row: valuation columns (used only when
    the row is created) and the risk columns (always written). ``excluded``: the
    positions left out for want of a fresh price, as ``excluded_positions`` items (SQL
    NULL when none is)."""
    conc = fig.concentration
    vol = fig.volatility
    values: dict[str, Any] = {
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
        "beta_coverage": fig.beta_coverage,
        "excluded_positions": list(excluded) or None,
        "sector_exposure": {s: round(w, 6) for s, w in fig.sector_exposure.items()} or None,
        "hhi": conc.hhi if conc else None,
        "effective_num_positions": conc.effective_num_positions if conc else None,
        "top_3_concentration": conc.top_3 if conc else None,
        "top_10_concentration": conc.top_10 if conc else None,
        "realized_volatility_21d": finite(vol.realized_vol_21d[0]) if vol else None,
        "realized_volatility_63d": finite(vol.realized_vol_63d[0]) if vol else None,
        "expected_volatility_21d": finite(vol.har.expected_vol[0]) if vol else None,
        "volatility_trend": trend_label(int(vol.trend_code[0])) if vol else None,
        "volatility_percentile": finite(vol.percentile[0]) if vol else None,
    }
    row, overflowed = fit_row(PortfolioSnapshot, values)
    if vol is not None and not math.isfinite(vol.har.expected_vol[0]):
        skipped.append(
            ("expected_volatility_21d", str(HAR_SKIP_REASONS[int(vol.har.reason_code[0])]))
        )
    skipped.extend(
        (name, overflow_reason(PortfolioSnapshot, name, values[name])) for name in overflowed
    )
    return row


TAIL_RISK_FIGURES = {
    "var_95_1d": "var",
    "var_99_1d": "var",
    "expected_shortfall_975_1d": "var",
    "max_drawdown_252d": "drawdown",
    "current_drawdown": "drawdown",
    "sharpe_252d": "sharpe",
    "sortino_252d": "sortino",
}
"""portfolio_snapshots' tail-risk columns and the TailRiskResult reason that covers each."""


def _fitted(values: dict[str, Any], skipped: Skipped) -> dict[str, Any]:
    """``values`` as the snapshot columns hold them: what does not fit is None, reported."""
    row, overflowed = fit_row(PortfolioSnapshot, values)
    skipped.extend(
        (name, overflow_reason(PortfolioSnapshot, name, values[name])) for name in overflowed
    )
    return row


def tail_risk_values(tail: TailRiskResult, k: int, skipped: Skipped) -> dict[str, Any]:
    """The tail-risk snapshot columns of date ``k`` of ``tail``; each missing figure is
    None with its reason in ``skipped`` (once per reason: the three VaR figures share one).
    ``var_method`` is stored with the VaR figures only."""
    values: dict[str, Any] = {}
    reported: set[str] = set()
    for name, figure in TAIL_RISK_FIGURES.items():
        values[name] = finite(getattr(tail, name)[k])
        reason = tail.reason(figure, k)
        if reason is not None and figure not in reported:
            reported.add(figure)
            label = "var_95_1d, var_99_1d, expected_shortfall_975_1d" if figure == "var" else name
            skipped.append((label, reason))
    for name in ("var_95_1d", "var_99_1d", "expected_shortfall_975_1d"):
        # A loss quantile below zero (a series that gains at that level) is no loss figure.
        if values[name] is not None and values[name] < 0:
            skipped.append((name, f"a gain at that level ({values[name]:.6f}), not a loss"))
            values[name] = None
    values["var_method"] = tail.var_method if values["var_99_1d"] is not None else None
    return _fitted(values, skipped)


def as_held_values(result: AsHeldResult, k: int, skipped: Skipped) -> dict[str, Any]:
    """``market_beta_direct`` and ``realized_max_drawdown_252d`` of date ``k`` (None with
    the reason in ``skipped`` when missing)."""
    values = {
        "market_beta_direct": finite(result.market_beta_direct[k]),
        "realized_max_drawdown_252d": finite(result.realized_max_drawdown_252d[k]),
    }
    for name, reason in (
        ("market_beta_direct", result.beta_reason[k]),
        ("realized_max_drawdown_252d", result.drawdown_reason[k]),
    ):
        if reason is not None:
            skipped.append((name, reason))
    return _fitted(values, skipped)
