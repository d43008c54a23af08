"""The freshness rule and uncovered exposure in coverage, concentration and sectors,
against hand-derived numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from app.formulas.book import PortfolioFigures, analyse_book_dates
from app.formulas.concentration import concentration_of_net, sector_exposure_of_net
from app.formulas.freshness import exclusion_detail, fresh_prices
from tests.formulas.test_book import SECTORS, SYMBOLS, _book


def test_a_price_at_most_the_limit_old_is_fresh_older_or_none_is_not() -> None:
    last_priced = np.array([100, 97, 96, -1, 60])
    assert fresh_prices(last_priced, 100, 3).tolist() == [True, True, False, False, False]
    assert fresh_prices(last_priced, 100, 0).tolist() == [True, False, False, False, False]


def test_the_reasons_name_the_series_and_the_dates() -> None:
    day = date(2025, 11, 28)
    assert exclusion_detail("AAA", day, None, 0, 3) == (
        "no_price",
        "no AAA price on or before 2025-11-28: no figures",
    )
    reason, detail = exclusion_detail("AAA", day, date(2025, 10, 17), 30, 3)
    assert reason == "stale_price"
    assert detail.startswith("last AAA price is of 2025-10-17, 30 trading days before 2025-11-28")


def test_uncovered_exposure_is_a_share_of_the_denominator_without_a_name() -> None:
    # 60 + 20 covered, 20 left out: weights 0.6 and 0.2, top-10 0.8, not 1.
    result = concentration_of_net(["A", "B"], np.array([60.0, -20.0]), uncovered=20.0)
    assert result is not None
    assert result.weights == pytest.approx({"A": 0.6, "B": 0.2})
    assert result.top_10 == pytest.approx(0.8)
    assert result.hhi == pytest.approx((0.36 + 0.04) * 10_000)
    assert result.effective_num_positions == pytest.approx(1 / 0.4)
    sectors = sector_exposure_of_net(["Energy", "Energy"], np.array([60.0, -20.0]), 20.0)
    assert sectors == pytest.approx({"Energy": 0.4})
    # Unknown uncovered exposure: no such figure can be stated.
    assert concentration_of_net(["A"], np.array([1.0]), uncovered=float("nan")) is None
    assert sector_exposure_of_net(["Energy"], np.array([1.0]), float("nan")) == {}
    # Nothing covered: no weights to speak of.
    assert concentration_of_net([], np.array([]), uncovered=50.0) is None


def test_uncovered_exposure_lowers_coverage_and_keeps_the_covered_books_beta() -> None:
    prices, market = _book(seed=2)
    exposures = np.array([30_000.0, 30_000.0, 20_000.0, 20_000.0])

    def figures(uncovered: float, equity: float | None) -> PortfolioFigures:
        return analyse_book_dates(
            prices,
            market,
            SYMBOLS,
            np.array([prices.shape[0] - 1]),
            [np.arange(4)],
            [exposures],
            equity,
            SECTORS,
            uncovered=[uncovered],
        ).portfolio[0]

    full = figures(0.0, None)
    left_out = figures(25_000.0, None)  # a fifth of a 125,000 book
    assert full.beta_coverage == 1.0
    assert left_out.beta_coverage == pytest.approx(0.8)
    # Without equity the beta is the covered book's, whatever was left out.
    assert left_out.market_beta_weighted == pytest.approx(full.market_beta_weighted)
    assert left_out.concentration is not None
    assert left_out.concentration.top_10 == pytest.approx(0.8)
    # With equity it is levered as the whole book is: gross 125,000 on 100,000.
    levered = figures(25_000.0, 100_000.0)
    assert levered.market_beta_weighted == pytest.approx(full.market_beta_weighted * 1.25)
    unknown = figures(float("nan"), None)
    assert unknown.beta_coverage is None and unknown.concentration is None
    assert unknown.market_beta_weighted is None
