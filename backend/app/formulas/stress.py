"""A book's P&L in a stress scenario, from its factor exposures or by full revaluation.

A scenario moves the factors by m_f (decimal fractions: a spread factor's move is its long
ETF's return over the window minus its short ETF's). Through the factor model:

    portfolio:  P&L / D = sum_f X_f m_f        X_f the portfolio's exposure (per D, the
                                              equity, else the gross exposure)
    position i: P&L_i   = E_i sum_f b_i,f m_f  E_i its signed exposure, b its loadings

A factor that does not move (m_f = 0) needs no exposure; one that moves and has none
leaves the P&L unknown (NaN). Full revaluation of a historical replay: P&L_i = E_i R_i,
R_i the position's own return over the window.
"""

from __future__ import annotations

import numpy as np

from app.formulas.returns import FloatArray


def factor_pnl_fraction(exposures: FloatArray, moves: FloatArray) -> float:
    """sum_f X_f m_f over the factors that move; NaN when one of them has no exposure or
    no move."""
    x = np.asarray(exposures, dtype=np.float64)
    m = np.asarray(moves, dtype=np.float64)
    moving = ~(m == 0)  # a NaN move is "moving": unknown
    if not (np.isfinite(x[moving]).all() and np.isfinite(m[moving]).all()):
        return float("nan")
    return float((x[moving] * m[moving]).sum())


def position_model_pnl(
    exposures: FloatArray, loadings: FloatArray, moves: FloatArray
) -> FloatArray:
    """E_i sum_f b_i,f m_f per position (positions, factors); NaN where a moving factor's
    loading, the move or the exposure is missing."""
    e = np.asarray(exposures, dtype=np.float64)
    b = np.asarray(loadings, dtype=np.float64).reshape(e.size, -1)
    m = np.asarray(moves, dtype=np.float64)
    moving = ~(m == 0)
    known = np.isfinite(b[:, moving]).all(axis=1) & np.isfinite(m[moving]).all()
    out = e * (np.where(np.isfinite(b), b, 0.0)[:, moving] @ np.where(moving, m, 0.0)[moving])
    out[~known | ~np.isfinite(e)] = np.nan
    return np.asarray(out, dtype=np.float64)


def revaluation_pnl(exposures: FloatArray, own_returns: FloatArray) -> FloatArray:
    """E_i R_i per position; NaN where the position's own prices do not cover the window."""
    return np.asarray(
        np.asarray(exposures, dtype=np.float64) * np.asarray(own_returns, dtype=np.float64)
    )
