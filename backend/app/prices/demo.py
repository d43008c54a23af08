"""Synthetic demo data: three portfolios, 63 positions and ~2 years of prices (of the
held symbols and of the style factors' ETFs).

Prices come from a factor model with a fixed seed, so every machine gets the same
numbers and no API key is needed:

    r_i,t = beta_i * m_t + s_sector(i),t + e_i,t

- m_t, the market (SPY's return), has stochastic volatility (log-vol AR(1)), so
  volatility clusters and the HAR forecast has something to find;
- s_k,t, one factor per GICS sector, with its own constant volatility;
- e_i,t, idiosyncratic noise scaled by the same volatility regime.

Tickers are real for readability; their prices, betas and sectors' moves are made up.
The portfolios belong to the demo user (``DEMO_EMAIL``), so they can be read through the
API once signed in as that user.
Everything is keyed (fixed UUIDs, (symbol, date), symbol) and upserted, so loading the
demo twice leaves the same rows as loading it once. The demo also ships synthetic SP500
sector weights dated inside its prices (:data:`DEMO_BENCHMARK_WEIGHTS`), so
over/underweights show on the demo dates.

Demo data never passes for real data: its prices and profiles are stored with source
DEMO, and the demo refuses to load over another source's rows of its symbols (a real SPY
stays real). app.prices.demo_removal takes every demo row out again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.benchmarks.files import load_sector_weights_file
from app.benchmarks.repository import upsert_sector_weights
from app.benchmarks.weights import SectorWeights
from app.core.errors import InputDataError
from app.core.types import DEFAULT_BENCHMARK
from app.factors.definitions import default_factors, factor_symbols
from app.factors.synthetic import etf_returns
from app.formulas.exposure import signed_exposure
from app.formulas.returns import FloatArray
from app.models import BenchmarkSectorWeight, DailyPrice, SecurityProfile
from app.portfolios.store import PortfolioFields, PositionFields, put_portfolio, put_positions
from app.prices.repository import (
    MARKET_INDEX,
    PriceRow,
    ProfileRow,
    upsert_prices,
    upsert_profiles,
)
from app.prices.sources import DEMO_SOURCE, other_source_rows

SEED = 20251017
DEMO_EMAIL = "demo@example.com"
"""Owner of the demo portfolios; scripts/demo_data.py creates the account when missing."""
DEMO_END = date(2025, 10, 17)
"""Last demo trading day: no figures can be calculated after it."""
DEMO_DAYS = 504
"""Trading days of prices (weekdays, ~2 years)."""
FIGURES_DAYS = 260
"""Trading days of figures the demo suggests calculating: a year (52 weeks) up to DEMO_END,
enough for the dashboard's charts over time."""
ENTRY_DATE = date(2024, 10, 1)
_NAMESPACE = uuid.UUID("6f1c3a52-2f4e-4c55-9a55-3d1f0e0c7a10")

# symbol: (GICS sector or None for an ETF, name, beta, daily idiosyncratic vol)
UNIVERSE: dict[str, tuple[str | None, str, float, float]] = {
    "SPY": (None, "SPDR S&P 500 ETF Trust", 1.0, 0.0),
    "QQQ": (None, "Invesco QQQ Trust", 1.15, 0.003),
    "XLE": (None, "Energy Select Sector SPDR Fund", 0.8, 0.004),
    "AAPL": ("Information Technology", "Apple Inc.", 1.2, 0.012),
    "MSFT": ("Information Technology", "Microsoft Corporation", 1.1, 0.011),
    "NVDA": ("Information Technology", "NVIDIA Corporation", 1.7, 0.024),
    "AMD": ("Information Technology", "Advanced Micro Devices, Inc.", 1.6, 0.022),
    "CRM": ("Information Technology", "Salesforce, Inc.", 1.2, 0.016),
    "GOOGL": ("Communication Services", "Alphabet Inc.", 1.1, 0.014),
    "META": ("Communication Services", "Meta Platforms, Inc.", 1.3, 0.018),
    "NFLX": ("Communication Services", "Netflix, Inc.", 1.25, 0.019),
    "AMZN": ("Consumer Discretionary", "Amazon.com, Inc.", 1.25, 0.015),
    "TSLA": ("Consumer Discretionary", "Tesla, Inc.", 1.9, 0.030),
    "HD": ("Consumer Discretionary", "The Home Depot, Inc.", 1.0, 0.011),
    "JPM": ("Financials", "JPMorgan Chase & Co.", 1.1, 0.011),
    "BAC": ("Financials", "Bank of America Corporation", 1.3, 0.013),
    "V": ("Financials", "Visa Inc.", 0.95, 0.009),
    "GS": ("Financials", "The Goldman Sachs Group, Inc.", 1.35, 0.014),
    "JNJ": ("Health Care", "Johnson & Johnson", 0.55, 0.009),
    "UNH": ("Health Care", "UnitedHealth Group Incorporated", 0.7, 0.014),
    "PFE": ("Health Care", "Pfizer Inc.", 0.6, 0.013),
    "LLY": ("Health Care", "Eli Lilly and Company", 0.8, 0.017),
    "XOM": ("Energy", "Exxon Mobil Corporation", 0.85, 0.012),
    "CVX": ("Energy", "Chevron Corporation", 0.9, 0.012),
    "PG": ("Consumer Staples", "The Procter & Gamble Company", 0.45, 0.008),
    "KO": ("Consumer Staples", "The Coca-Cola Company", 0.5, 0.007),
    "WMT": ("Consumer Staples", "Walmart Inc.", 0.55, 0.009),
    "CAT": ("Industrials", "Caterpillar Inc.", 1.15, 0.014),
    "HON": ("Industrials", "Honeywell International Inc.", 0.95, 0.010),
    "UNP": ("Industrials", "Union Pacific Corporation", 0.9, 0.011),
    "LIN": ("Materials", "Linde plc", 0.85, 0.009),
    "FCX": ("Materials", "Freeport-McMoRan Inc.", 1.5, 0.020),
    "PLD": ("Real Estate", "Prologis, Inc.", 1.0, 0.013),
    "AMT": ("Real Estate", "American Tower Corporation", 0.75, 0.013),
    "NEE": ("Utilities", "NextEra Energy, Inc.", 0.6, 0.011),
    "DUK": ("Utilities", "Duke Energy Corporation", 0.45, 0.008),
}

DEMO_BENCHMARK_WEIGHTS = Path(__file__).with_name("demo_sp500_sector_weights.json")
"""Synthetic SP500 sector weights (plausible for mid-2025, made up), dated inside the
demo's prices; read through the seed's ``--from-file`` path, so data_source is
``file:demo (synthetic)``."""

SECTOR_VOL = 0.006
_START_PRICE = {"SPY": 430.0, "QQQ": 360.0, "XLE": 85.0}

# (portfolio name, gross leverage, [(symbol, underlying, type, quantity)]): equity_balance
# is the book's gross exposure on DEMO_END divided by the leverage (long-only books hold
# a little cash, the long/short fund runs 1.6x gross).
_Holding = tuple[str, str | None, str, float]
PORTFOLIOS: list[tuple[str, float, list[_Holding]]] = [
    (
        "Demo Balanced Individual",
        0.97,
        [
            (s, None, "LONG", q)
            for s, q in [
                ("SPY", 150),
                ("AAPL", 120),
                ("MSFT", 60),
                ("GOOGL", 100),
                ("AMZN", 90),
                ("JPM", 90),
                ("V", 60),
                ("JNJ", 110),
                ("UNH", 30),
                ("XOM", 140),
                ("PG", 110),
                ("KO", 250),
                ("WMT", 180),
                ("HD", 40),
                ("CAT", 40),
                ("HON", 60),
                ("LIN", 35),
                ("PLD", 120),
                ("NEE", 200),
                ("DUK", 130),
                ("QQQ", 40),
            ]
        ],
    ),
    (
        "Demo Growth Tech",
        0.99,
        [
            *(
                (s, None, "LONG", q)
                for s, q in [
                    ("AAPL", 400),
                    ("MSFT", 250),
                    ("NVDA", 500),
                    ("AMD", 350),
                    ("CRM", 200),
                    ("GOOGL", 300),
                    ("META", 120),
                    ("NFLX", 60),
                    ("AMZN", 300),
                    ("TSLA", 150),
                    ("QQQ", 200),
                    ("LLY", 50),
                    ("V", 100),
                    ("GS", 40),
                    ("FCX", 300),
                    ("AMT", 80),
                    ("UNP", 60),
                    ("CVX", 100),
                ]
            ),
            ("NVDA", None, "LONG", 200),  # a second lot: concentration nets lots by symbol
            ("AAPL251219C00200000", "AAPL", "LC", 10),
            ("TSLA251219P00150000", "TSLA", "LP", 1),
        ],
    ),
    (
        "Demo Long/Short Hedge Fund",
        1.6,
        [
            *(
                (s, None, "LONG", q)
                for s, q in [
                    ("NVDA", 600),
                    ("META", 400),
                    ("GOOGL", 700),
                    ("JPM", 800),
                    ("GS", 300),
                    ("LLY", 250),
                    ("UNH", 300),
                    ("XOM", 900),
                    ("CAT", 350),
                    ("FCX", 1500),
                    ("PLD", 800),
                    ("BAC", 2500),
                ]
            ),
            *(
                (s, None, "SHORT", q)
                for s, q in [
                    ("TSLA", 600),
                    ("NFLX", 200),
                    ("PFE", 3000),
                    ("KO", 2000),
                    ("XLE", 1200),
                    ("SPY", 500),
                ]
            ),
            ("SPY251219P00550000", "SPY", "LP", 20),
            ("AMD251219C00120000", "AMD", "SC", 15),
            ("XOM251219P00100000", "XOM", "SP", 10),
        ],
    ),
]


def demo_calendar(end: date = DEMO_END, days: int = DEMO_DAYS) -> list[date]:
    """The last ``days`` weekdays up to ``end``, ascending (the demo's trading days)."""
    out: list[date] = []
    day = end
    while len(out) < days:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    return out[::-1]


DEMO_FIGURES_FROM = demo_calendar(days=FIGURES_DAYS)[0]
"""First date of the range the demo suggests calculating (through DEMO_END)."""


def generate_prices(seed: int = SEED, days: int = DEMO_DAYS) -> dict[str, FloatArray]:
    """Close series for every demo symbol from the factor model (module docstring)."""
    rng = np.random.default_rng(seed)
    steps = days - 1
    log_vol = np.empty(steps)
    log_vol[0] = np.log(0.01)
    shocks = rng.normal(0.0, 0.12, steps)
    for t in range(1, steps):
        log_vol[t] = np.log(0.01) + 0.97 * (log_vol[t - 1] - np.log(0.01)) + shocks[t]
    regime = np.exp(log_vol)
    market = 0.0003 + regime * rng.standard_normal(steps)
    sectors = sorted({s for s, *_ in UNIVERSE.values() if s is not None})
    sector_r = {s: SECTOR_VOL * rng.standard_normal(steps) for s in sectors}

    out: dict[str, FloatArray] = {}
    for i, (symbol, (sector, _, beta, idio)) in enumerate(UNIVERSE.items()):
        sector_move = sector_r[sector] if sector is not None else np.zeros(steps)
        noise = idio * (regime / 0.01) * rng.standard_normal(steps)
        r = np.asarray(beta * market + sector_move + noise, dtype=np.float64)
        start = _START_PRICE.get(symbol, 40.0 + 15.0 * (i % 17))
        out[symbol] = np.asarray(start * np.cumprod(np.r_[1.0, 1.0 + r]), dtype=np.float64)
    return out


FACTOR_ETF_NAMES = {
    "IWM": "iShares Russell 2000 ETF",
    "IWD": "iShares Russell 1000 Value ETF",
    "IWF": "iShares Russell 1000 Growth ETF",
    "MTUM": "iShares MSCI USA Momentum Factor ETF",
    "QUAL": "iShares MSCI USA Quality Factor ETF",
    "USMV": "iShares MSCI USA Min Vol Factor ETF",
    "TLT": "iShares 20+ Year Treasury Bond ETF",
}
"""Names of the factor ETFs' demo profiles (an ETF of the factor file not named here is
named by its symbol)."""

# The style factors' daily moves in the demo: (volatility, loading on the market). Low
# volatility leans against the market and rates (long bonds) a little too.
_FACTOR_MODEL = {"SIZE": (0.005, 0.1), "LOW_VOL": (0.003, -0.25), "RATES": (0.008, -0.2)}
_STYLE = (0.004, 0.0)


def generate_factor_etf_prices(
    market_prices: FloatArray, seed: int = SEED + 25
) -> dict[str, FloatArray]:
    """Close series of the factors' ETFs (app.factors.definitions.factor_symbols) that are
    not demo symbols already, consistent with the demo market: each factor's spread moves
    by its own noise plus its loading on the market's return. A seed of its own, so the
    demo's other prices are those of :func:`generate_prices` whatever the factors."""
    factor_set = default_factors()
    rng = np.random.default_rng(seed)
    market = np.asarray(market_prices[1:] / market_prices[:-1] - 1.0, dtype=np.float64)
    columns = []
    for factor in factor_set.factors:
        if factor.long == MARKET_INDEX and factor.short is None:
            columns.append(market)
            continue
        vol, on_market = _FACTOR_MODEL.get(factor.code, _STYLE)
        columns.append(on_market * market + vol * rng.standard_normal(market.size))
    returns = etf_returns(rng, np.column_stack(columns), factor_set, known={MARKET_INDEX: market})
    return {
        symbol: np.asarray(100.0 * np.cumprod(np.r_[1.0, 1.0 + r]), dtype=np.float64)
        for symbol, r in returns.items()
        if symbol not in UNIVERSE
    }


def demo_symbols() -> list[str]:
    """Every symbol the demo prices: its universe and the factors' ETFs."""
    return sorted({*UNIVERSE, *factor_symbols()})


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "/".join(parts))


def demo_portfolio_ids() -> set[uuid.UUID]:
    """The fixed ids of the demo's portfolios."""
    return {_id("portfolio", name) for name, _, _ in PORTFOLIOS}


class DemoOverOtherSourceError(InputDataError):
    """Another source's prices or profiles of demo symbols are stored: the demo never
    replaces them (nothing is written)."""


async def _refuse_other_sources(session: AsyncSession) -> None:
    symbols = demo_symbols()
    prices = await other_source_rows(session, DailyPrice, symbols, DEMO_SOURCE)
    profiles = await other_source_rows(session, SecurityProfile, symbols, DEMO_SOURCE)
    if not prices and not profiles:
        return
    found = [f"prices of {p}" for p in prices] + [f"the profile of {p}" for p in profiles]
    shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    raise DemoOverOtherSourceError(
        f"the demo never replaces data from another source, and this database holds {shown}. "
        "Load the demo into a database of its own (another DATABASE_URL, or EMBEDDED_PGDATA "
        "for another embedded one). Nothing written."
    )


@dataclass(frozen=True)
class DemoSummary:
    portfolios: int
    portfolio_ids: list[tuple[str, uuid.UUID]]
    """(name, id) of each demo portfolio, in load order."""
    positions: int
    symbols: int
    prices: int
    first_date: date
    last_date: date


async def load_demo_data(session: AsyncSession, *, owner_id: uuid.UUID | None) -> DemoSummary:
    """Upsert the demo portfolios (owned by ``owner_id``), positions, security profiles and
    prices. Refused (DemoOverOtherSourceError, nothing written) while another source's
    prices or profile of a demo symbol are stored."""
    await _refuse_other_sources(session)
    calendar = demo_calendar()
    prices = generate_prices()
    prices |= generate_factor_etf_prices(prices[MARKET_INDEX])
    # The synthetic series have no splits or dividends: each close is its own total return.
    price_rows = [
        PriceRow(s, d, close, close)
        for s, closes in prices.items()
        for d, close in zip(calendar, (Decimal(f"{p:.4f}") for p in closes.tolist()), strict=True)
    ]
    await upsert_prices(session, price_rows, DEMO_SOURCE)
    await upsert_profiles(
        session,
        [
            ProfileRow(s, sector, is_etf=sector is None, name=name)
            for s, (sector, name, _, _) in UNIVERSE.items()
        ]
        + [
            ProfileRow(s, None, is_etf=True, name=FACTOR_ETF_NAMES.get(s, s))
            for s in prices
            if s not in UNIVERSE
        ],
        DEMO_SOURCE,
    )

    last_close = {s: float(v[-1]) for s, v in prices.items()}
    portfolio_ids: list[tuple[str, uuid.UUID]] = []
    positions = 0
    for name, leverage, holdings in PORTFOLIOS:
        pid = _id("portfolio", name)
        gross = sum(
            abs(signed_exposure(ptype, qty, last_close[underlying or symbol]))
            for symbol, underlying, ptype, qty in holdings
        )
        await put_portfolio(
            session,
            pid,
            PortfolioFields(
                name=name,
                description="Synthetic demo portfolio (factor-model prices)",
                equity_balance=Decimal(f"{gross / leverage:.2f}"),
                owner_id=owner_id,
            ),
        )
        book: dict[uuid.UUID, PositionFields] = {}
        for lot, (symbol, underlying, ptype, qty) in enumerate(holdings):
            series = underlying or symbol
            book[_id("position", name, symbol, str(lot))] = PositionFields(
                symbol=symbol,
                underlying_symbol=underlying,
                position_type=ptype,
                quantity=Decimal(str(qty)),
                entry_price=Decimal(f"{prices[series][-252]:.4f}"),
                entry_date=ENTRY_DATE,
                last_price=Decimal(f"{last_close[series]:.4f}"),
                expiration_date=date(2025, 12, 19) if underlying else None,
                strike_price=Decimal(symbol[-8:]) / 1000 if underlying else None,
            )
        await put_positions(session, pid, book)
        portfolio_ids.append((name, pid))
        positions += len(book)
    await session.flush()
    return DemoSummary(
        portfolios=len(portfolio_ids),
        portfolio_ids=portfolio_ids,
        positions=positions,
        symbols=len(prices),
        prices=len(price_rows),
        first_date=calendar[0],
        last_date=calendar[-1],
    )


async def load_demo_benchmark_weights(session: AsyncSession) -> tuple[SectorWeights, bool]:
    """Upsert :data:`DEMO_BENCHMARK_WEIGHTS` as the seed script's ``--from-file`` does.

    Returns the weights and whether they were written: a date that already holds weights
    from another source (a real seed) is left as it is.
    """
    weights = load_sector_weights_file(DEMO_BENCHMARK_WEIGHTS, benchmark_code=DEFAULT_BENCHMARK)
    c = BenchmarkSectorWeight
    other_source = await session.scalar(
        select(c.data_source)
        .where(
            c.benchmark_code == weights.benchmark_code,
            c.asof_date == weights.asof_date,
            c.data_source != weights.data_source,
        )
        .limit(1)
    )
    if other_source is not None:
        return weights, False
    await upsert_sector_weights(session, weights)
    return weights, True
