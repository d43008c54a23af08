"""app.formulas on real index closes (the S&P 500 and NASDAQ Composite daily data shipped with
the ``arch`` package, 1999-2018) against independent pandas / statsmodels computations."""

from __future__ import annotations

import math

import arch.data.nasdaq
import arch.data.sp500
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from app.formulas.book import DEFAULT_BETA_WINDOW
from tests.formulas.helpers import book_on_last_day, volatility_on_last_day

SQRT_252 = math.sqrt(252)


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    """Adjusted closes by date: columns SPY (S&P 500, the market) and NDX (NASDAQ)."""
    spy = arch.data.sp500.load()["Adj Close"].rename("SPY")
    ndx = arch.data.nasdaq.load()["Adj Close"].rename("NDX")
    # Aligned by date, not by position: a day missing from either series is dropped.
    return pd.concat([spy, ndx], axis=1, join="inner").sort_index()


def test_position_beta_on_spy_is_statsmodels_ols_on_the_same_closes(
    closes: pd.DataFrame,
) -> None:
    window = closes.loc[:"2008-12-31"].iloc[-(DEFAULT_BETA_WINDOW + 1) :]  # the 2008 crash
    book = book_on_last_day(
        window[["NDX"]].to_numpy(),
        window["SPY"].to_numpy(),
        ["NDX"],
        np.array([0], dtype=np.intp),
        np.array([1_000_000.0]),
        None,
        {"NDX": None},
    )
    returns = window.pct_change().dropna()
    fit = sm.OLS(returns["NDX"], sm.add_constant(returns["SPY"])).fit()
    betas = book.series_betas
    assert betas.observations[0] == DEFAULT_BETA_WINDOW == fit.nobs
    assert betas.beta[0] == pytest.approx(fit.params["SPY"], rel=1e-9)
    assert betas.alpha[0] == pytest.approx(fit.params["const"], rel=1e-7, abs=1e-12)
    assert betas.r_squared[0] == pytest.approx(fit.rsquared, rel=1e-9)
    assert betas.std_error[0] == pytest.approx(fit.bse["SPY"], rel=1e-9)
    assert betas.p_value[0] == pytest.approx(fit.pvalues["SPY"], rel=1e-6, abs=1e-300)


def test_realized_vol_and_percentile_are_pandas_rolling_std_on_the_real_series(
    closes: pd.DataFrame,
) -> None:
    window = closes.loc["2009-01-01":"2011-12-31", "SPY"]
    returns = window.pct_change().dropna()
    got = volatility_on_last_day(returns.to_numpy())

    rolling_21 = returns.rolling(21).std(ddof=1) * SQRT_252
    assert got.realized_vol_21d[0] == pytest.approx(rolling_21.iloc[-1], rel=1e-9)
    vol_63 = returns.iloc[-63:].std(ddof=1) * SQRT_252
    assert got.realized_vol_63d[0] == pytest.approx(vol_63, rel=1e-9)
    last_year = rolling_21.iloc[-252:]
    assert got.percentile[0] == pytest.approx((last_year <= last_year.iloc[-1]).mean())
    monthly = math.sqrt(252 * (returns.iloc[-21:] ** 2).mean())
    assert got.har.vol_monthly[0] == pytest.approx(monthly, rel=1e-12)


def test_har_on_real_returns_is_statsmodels_ols_on_the_vol_scale(closes: pd.DataFrame) -> None:
    returns = closes.loc["2007-01-01":"2010-12-31", "NDX"].pct_change().dropna()
    rv = returns**2
    design = pd.DataFrame(
        {
            "const": 1.0,
            "d": np.sqrt(rv),
            "w": np.sqrt(rv.rolling(5).mean()),
            "m": np.sqrt(rv.rolling(21).mean()),
            # The next 21 days' vol, aligned to the day the forecast is made.
            "y": np.sqrt(rv.rolling(21).mean().shift(-21)),
        }
    )
    sample = design.dropna()
    fit = sm.OLS(sample["y"], sample[["const", "d", "w", "m"]]).fit()
    got = volatility_on_last_day(returns.to_numpy()).har
    np.testing.assert_allclose(got.coefficients[0], fit.params.to_numpy(), rtol=1e-8)
    assert got.r_squared[0] == pytest.approx(fit.rsquared, rel=1e-9)
    assert got.samples[0] == fit.nobs
    forecast = float(design.iloc[-1][["const", "d", "w", "m"]] @ fit.params)
    assert got.expected_vol[0] == pytest.approx(forecast * SQRT_252, rel=1e-9)


@pytest.mark.parametrize(
    "day",
    [
        "2015-09-11",
        "2015-09-14",
        "2015-09-15",
        "2015-09-16",
        "2015-09-17",
        "2015-09-18",
        "2015-09-21",
    ],
)
def test_the_dates_whose_variance_level_forecast_went_negative_get_a_positive_one(
    closes: pd.DataFrame, day: str
) -> None:
    # On these dates the previous model (variance levels, 504 days) forecast a negative
    # variance for the S&P 500, stored as 0.0000.
    returns = closes.loc[:day, "SPY"].pct_change().dropna()
    for history in (504, len(returns)):
        r = returns.iloc[-history:].to_numpy()
        rv = r**2
        m = pd.Series(rv).rolling(21).mean()
        x = np.column_stack([np.ones(len(r)), rv, pd.Series(rv).rolling(5).mean(), m])
        y = m.shift(-21).to_numpy()
        ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
        if history == 504:
            coef = np.linalg.lstsq(x[ok], y[ok], rcond=None)[0]
            assert x[-1] @ coef < 0
        got = volatility_on_last_day(r).har
        assert np.isfinite(got.expected_vol[0])
        assert 0.05 < got.expected_vol[0] < 0.5
