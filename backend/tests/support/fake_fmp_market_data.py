"""Prices, splits, dividends and profiles on the fake FMP: devtools.fake_fmp_market_data
(shared with the benchmarks), at the tests' import path."""

from devtools.fake_fmp_market_data import *  # noqa: F403
