"""Rows of the factor tables as columns of numpy arrays, built a date at a time.

A date's position rows are (positions x factors), position after position; its portfolio
rows one per factor. Figures are float64 with NaN for NULL; the factor, the estimator and
the reason travel as small integer codes (-1: NULL) into the run's lists, which the store
decodes in SQL (app.factors.store), so a row costs no Python object on its way to the
table. :meth:`FactorRows.position_records` and :meth:`FactorRows.portfolio_records` decode
them to dicts for readers of the computation (tests, perf).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.formulas.factors import FactorFit, PortfolioLoadings
from app.formulas.labels import ESTIMATORS
from app.formulas.returns import FloatArray
from app.risk_metrics.rows import PG_EPOCH, uuid_array

PERFECT_FIT_REASON = "perfect fit (no residual): no t-statistic"

POSITION_FIGURES = (
    "exposure",
    "std_error",
    "t_stat",
    "r_squared",
    "specific_volatility",
    "condition_number",
)
PORTFOLIO_FIGURES = ("exposure", "coverage", "r_squared", "specific_volatility")
CODED = ("factor", "estimator", "null_reason")
"""Columns sent as an int16 index into the run's lists (factor codes, ESTIMATORS, reasons)."""

Columns = dict[str, NDArray[Any]]


@dataclass
class FactorRows:
    """Both tables' rows of a run: column blocks per date, and the reasons they index."""

    factor_codes: tuple[str, ...]
    reasons: list[str] = field(default_factory=list)
    position_blocks: list[Columns] = field(default_factory=list)
    portfolio_blocks: list[Columns] = field(default_factory=list)
    position_fits: list[list[FactorFit | str]] = field(default_factory=list)
    """Per position block, its positions' fits: kept only when the run asks
    (app.factors.engine.compute_factor_dates ``keep_fits``)."""
    _reason_index: dict[str, int] = field(default_factory=dict)

    def reason(self, text: str | None) -> int:
        """``text``'s code (-1 for None), added to :attr:`reasons` when new."""
        if text is None:
            return -1
        if text not in self._reason_index:
            self._reason_index[text] = len(self.reasons)
            self.reasons.append(text)
        return self._reason_index[text]

    def positions(self) -> Columns:
        return _concat(self.position_blocks)

    def portfolios(self) -> Columns:
        return _concat(self.portfolio_blocks)

    def position_records(self) -> list[dict[str, Any]]:
        return self._records(self.positions())

    def portfolio_records(self) -> list[dict[str, Any]]:
        return self._records(self.portfolios())

    def _records(self, columns: Columns) -> list[dict[str, Any]]:
        if not columns:
            return []
        out = []
        for n in range(len(columns["calculation_date"])):
            row: dict[str, Any] = {}
            for name, values in columns.items():
                value = values[n]
                if name == "position_id":
                    row[name] = uuid.UUID(bytes=value.tobytes())
                elif name == "calculation_date":
                    row[name] = PG_EPOCH + timedelta(days=int(value))
                elif name == "factor":
                    row[name] = self.factor_codes[int(value)]
                elif name == "estimator":
                    row[name] = None if value < 0 else ESTIMATORS[int(value)]
                elif name == "null_reason":
                    row[name] = None if value < 0 else self.reasons[int(value)]
                elif values.dtype.kind == "f":
                    row[name] = float(value)
                else:
                    row[name] = None if value < 0 else int(value)
            out.append(row)
        return out


def _concat(blocks: list[Columns]) -> Columns:
    if not blocks:
        return {}
    return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


def _days(day: date, rows: int) -> NDArray[np.int32]:
    return np.full(rows, (day - PG_EPOCH).days, dtype=np.int32)


def position_block(
    rows: FactorRows,
    day: date,
    ids: Sequence[uuid.UUID],
    fits: Sequence[FactorFit | str],
    usable: NDArray[np.bool_],
    factor_reasons: Sequence[str | None],
) -> Columns:
    """Date ``day``'s rows of the positions ``ids``, position i fitted by ``fits[i]`` (a
    reason when it was not) on the ``usable`` factors; the others get their
    ``factor_reasons``."""
    p, f = len(ids), len(rows.factor_codes)
    shape = (p, f)
    figures = {name: np.full(shape, np.nan) for name in POSITION_FIGURES}
    observations = np.full(shape, -1, dtype=np.int32)
    estimator = np.full(shape, -1, dtype=np.int16)
    reason = np.full(shape, -1, dtype=np.int16)
    perfect = rows.reason(PERFECT_FIT_REASON)
    columns = np.flatnonzero(usable)
    fitted = [i for i, fit in enumerate(fits) if not isinstance(fit, str)]
    for i, fit in enumerate(fits):
        if isinstance(fit, str):
            reason[i, usable] = rows.reason(fit)
    if fitted and columns.size:
        # Row-stacked once per date: one assignment per figure, not one per position.
        found = [fit for fit in fits if not isinstance(fit, str)]
        at = np.ix_(np.array(fitted, dtype=np.intp), columns)
        t_stats = np.array([fit.t_stats for fit in found], dtype=np.float64)
        figures["exposure"][at] = np.array([fit.loadings for fit in found], dtype=np.float64)
        figures["std_error"][at] = np.array([fit.std_errors for fit in found], dtype=np.float64)
        figures["t_stat"][at] = t_stats
        for name, values in (
            ("r_squared", [fit.r_squared for fit in found]),
            ("specific_volatility", [fit.residual_vol for fit in found]),
            ("condition_number", [max(fit.condition_number, 1.0) for fit in found]),
        ):
            figures[name][at] = np.array(values, dtype=np.float64)[:, None]
        observations[at] = np.array([fit.observations for fit in found], dtype=np.int32)[:, None]
        estimator[at] = np.array(
            [ESTIMATORS.index(fit.estimator) for fit in found], dtype=np.int16
        )[:, None]
        reason[at] = np.where(np.isnan(t_stats), perfect, -1)
    for j in np.flatnonzero(~usable).tolist():
        reason[:, j] = rows.reason(factor_reasons[j])
    block: Columns = {
        "position_id": np.repeat(uuid_array(list(ids)), f),
        "calculation_date": _days(day, p * f),
        "factor": np.tile(np.arange(f, dtype=np.int16), p),
        **{name: values.ravel() for name, values in figures.items()},
        "observations": observations.ravel(),
        "estimator": estimator.ravel(),
        "null_reason": reason.ravel(),
    }
    return block


def portfolio_block(
    rows: FactorRows,
    day: date,
    weighted: PortfolioLoadings,
    usable: NDArray[np.bool_],
    factor_reasons: Sequence[str | None],
    gross: float,
    fit: FactorFit | str,
    ridge_positions: int,
) -> Columns:
    """Date ``day``'s portfolio rows: the exposure-weighted loadings of the ``usable``
    factors, R² and specific volatility of the portfolio's own ``fit``."""
    f = len(rows.factor_codes)
    exposure = np.where(usable, weighted.exposure, np.nan)
    reason = np.array([rows.reason(r) for r in factor_reasons], dtype=np.int16)
    no_loading = usable & np.isnan(exposure)
    reason[no_loading] = rows.reason(
        "no held position has a loading on it" if gross > 0 else "no priced position"
    )
    fitted = isinstance(fit, FactorFit)
    if not fitted:
        reason[usable & ~no_loading] = rows.reason(f"portfolio returns: {fit}")

    def each(value: float) -> FloatArray:
        return np.full(f, value)

    return {
        "calculation_date": _days(day, f),
        "factor": np.arange(f, dtype=np.int16),
        "exposure": exposure,
        "coverage": np.where(usable, weighted.coverage, np.nan),
        "r_squared": each(fit.r_squared if isinstance(fit, FactorFit) else np.nan),
        "specific_volatility": each(fit.residual_vol if isinstance(fit, FactorFit) else np.nan),
        "observations": np.full(
            f, fit.observations if isinstance(fit, FactorFit) else -1, dtype=np.int32
        ),
        "estimator": np.full(
            f, ESTIMATORS.index(fit.estimator) if isinstance(fit, FactorFit) else -1, dtype=np.int16
        ),
        "ridge_positions": np.full(f, ridge_positions, dtype=np.int32),
        "null_reason": reason,
    }
