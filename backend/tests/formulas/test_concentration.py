"""HHI, effective N, top-N and sector exposure, against hand-derived numbers."""

from __future__ import annotations

import numpy as np
import pytest

from app.formulas.concentration import (
    active_weights,
    concentration_of_net,
    sector_exposure_of_net,
)


def test_equal_weights_give_hhi_10000_over_n_and_effective_n_equal_n() -> None:
    symbols = [f"S{i}" for i in range(20)]
    result = concentration_of_net(symbols, np.full(20, 5_000.0))
    assert result is not None
    assert result.hhi == pytest.approx(500.0)
    assert result.effective_num_positions == pytest.approx(20.0)
    assert result.top_3 == pytest.approx(0.15)
    assert result.top_10 == pytest.approx(0.5)


def test_weights_use_absolute_net_exposure_over_gross() -> None:
    # AAPL long 80 (two lots netted by the book), MSFT short 40, XOM long 80: gross = 200.
    result = concentration_of_net(["AAPL", "MSFT", "XOM"], np.array([80.0, -40.0, 80.0]))
    assert result is not None
    assert result.weights == pytest.approx({"AAPL": 0.4, "XOM": 0.4, "MSFT": 0.2})
    assert list(result.weights) == ["AAPL", "XOM", "MSFT"]  # largest first, ties in order
    assert result.hhi == pytest.approx((0.16 + 0.16 + 0.04) * 10_000)
    assert result.effective_num_positions == pytest.approx(1 / 0.36)
    assert result.top_3 == pytest.approx(1.0)
    assert result.gross_exposure == pytest.approx(200.0)


def test_single_holding_is_fully_concentrated() -> None:
    result = concentration_of_net(["SPY"], np.array([-1_000.0]))
    assert result is not None
    assert result.hhi == pytest.approx(10_000.0)
    assert result.effective_num_positions == pytest.approx(1.0)
    assert result.top_3 == result.top_10 == pytest.approx(1.0)


def test_zero_exposure_has_no_concentration() -> None:
    assert concentration_of_net(["A", "B"], np.array([0.0, 0.0])) is None
    assert concentration_of_net([], np.zeros(0)) is None
    assert sector_exposure_of_net(["Energy"], np.array([0.0])) == {}


def test_sector_exposure_is_signed_over_gross_and_skips_unclassified_symbols() -> None:
    # AAPL, MSFT, XOM, SPY; gross = 60 + 20 + 100 + 20 = 200
    got = sector_exposure_of_net(
        ["Information Technology", "Information Technology", "Energy", None],
        np.array([60.0, -20.0, 100.0, 20.0]),
    )
    assert got == pytest.approx({"Energy": 0.5, "Information Technology": 0.2})


def test_active_weights_are_portfolio_minus_benchmark_for_every_sector() -> None:
    got = active_weights({"Energy": 0.3, "Utilities": 0.1}, {"Energy": 0.04, "Financials": 0.13})
    assert got == pytest.approx({"Energy": 0.26, "Financials": -0.13, "Utilities": 0.1})
