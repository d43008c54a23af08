"""Stress P&L through factor exposures and by full revaluation (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from app.formulas.stress import factor_pnl_fraction, position_model_pnl, revaluation_pnl

NAN = float("nan")


def test_the_portfolio_fraction_is_exposure_times_move_over_moving_factors() -> None:
    exposures = np.array([0.9, 0.2, NAN])  # the third factor has no exposure
    assert factor_pnl_fraction(exposures, np.array([-0.1, 0.05, 0.0])) == pytest.approx(-0.08)


def test_a_moving_factor_without_exposure_or_move_leaves_the_pnl_unknown() -> None:
    assert np.isnan(factor_pnl_fraction(np.array([1.0, NAN]), np.array([-0.1, 0.01])))
    assert np.isnan(factor_pnl_fraction(np.array([1.0, 0.5]), np.array([-0.1, NAN])))


def test_position_model_pnl_uses_each_positions_loadings() -> None:
    exposures = np.array([1000.0, -500.0, 200.0])
    loadings = np.array([[1.0, 1.0], [0.5, NAN], [1.2, 0.0]])
    out = position_model_pnl(exposures, loadings, np.array([-0.2, 0.1]))
    assert out[0] == pytest.approx(1000 * (-0.2 + 0.1))
    assert np.isnan(out[1])  # its SIZE loading is missing and SIZE moves
    assert out[2] == pytest.approx(200 * -0.24)
    only_market = position_model_pnl(exposures, loadings, np.array([-0.2, 0.0]))
    assert only_market[1] == pytest.approx(-500 * 0.5 * -0.2)


def test_revaluation_is_exposure_times_own_return() -> None:
    out = revaluation_pnl(np.array([1000.0, -400.0]), np.array([-0.3, NAN]))
    assert out[0] == pytest.approx(-300.0) and np.isnan(out[1])
