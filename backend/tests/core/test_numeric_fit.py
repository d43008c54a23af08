"""The NUMERIC-fit rule: what a NUMERIC(precision, scale) column holds, and its message."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.numeric_fit import fit_columns, fit_row, fits, overflow_reason
from app.models import PortfolioSnapshot, PositionVolatility


@pytest.mark.parametrize(
    ("value", "precision", "scale", "held"),
    [
        (999_999.9999, 10, 4, True),
        (999_999.99996, 10, 4, False),  # rounds up to 1,000,000.0000: overflow
        (-999_999.99994, 10, 4, True),  # rounds down to -999,999.9999
        (-1e6, 12, 6, False),
        (1.5, 12, 6, True),
        (float("nan"), 10, 4, False),
        (float("inf"), 10, 4, False),
    ],
)
def test_a_column_holds_a_finite_value_whose_rounding_fits_its_integer_digits(
    value: float, precision: int, scale: int, held: bool
) -> None:
    assert fits(np.array([value]), precision, scale).tolist() == [held]


def test_arrays_of_figures_keep_what_fits_and_say_which_finite_values_overflowed() -> None:
    values = np.array([0.25, 1e6, np.nan])  # position_volatility columns are NUMERIC(10,4)
    fitted, overflowed = fit_columns(PositionVolatility, {"realized_vol_21d": values})
    assert np.array_equal(fitted["realized_vol_21d"], [0.25, np.nan, np.nan], equal_nan=True)
    assert overflowed["realized_vol_21d"].tolist() == [False, True, False]


def test_a_row_gets_none_where_a_column_cannot_hold_its_number_and_other_values_stay() -> None:
    row, overflowed = fit_row(
        PortfolioSnapshot,
        {
            "hhi": 1e12,  # NUMERIC(10,2) at most
            "market_beta_weighted": 1.25,
            "realized_volatility_21d": float("nan"),
            "num_positions": 3,  # an INTEGER column: not a NUMERIC figure
            "volatility_trend": "stable",
        },
    )
    assert row == {
        "hhi": None,
        "market_beta_weighted": 1.25,
        "realized_volatility_21d": None,
        "num_positions": 3,
        "volatility_trend": "stable",
    }
    assert overflowed == ["hhi"]
    assert overflow_reason(PortfolioSnapshot, "hhi", 1e12) == "hhi 1e+12 does not fit NUMERIC(10,2)"
