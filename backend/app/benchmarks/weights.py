"""Benchmark sector weights, computed and validated: pure functions, no I/O.

Weights (S&P 500, NASDAQ-100 or Dow Jones from FMP, or an offline file) are checked in
full here before anything is written (app.benchmarks.repository writes them;
app.benchmarks.sources fetches them).

Rounding (``market_cap`` is NUMERIC(20,2), ``weight`` NUMERIC(12,6)):
- company market caps are summed exactly (Decimal) per sector, then rounded to the cent
  (half-even);
- weights are computed from those cent values and rounded to 6 decimals with the
  largest-remainder method, so the stored weights sum to exactly 1.000000 and each is
  less than 1e-6 away from its exact share ``sector cap / total cap``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from zoneinfo import ZoneInfo

from sqlalchemy import Table

from app.core.errors import InputDataError
from app.core.sectors import GICS_SECTORS, UnknownSectorError, to_gics
from app.core.types import BENCHMARK_CODES, DEFAULT_BENCHMARK
from app.integrations.fmp.schemas import (
    FmpConstituent,
    FmpMarketCap,
    FmpQuote,
    SectorWeightInput,
)
from app.models.market_data import BenchmarkSectorWeight

FMP_SOURCE = "FMP"
SUPPORTED_BENCHMARKS: tuple[str, ...] = BENCHMARK_CODES
EVERY_SECTOR_BENCHMARKS = frozenset({DEFAULT_BENCHMARK})
"""Benchmarks that span all 11 GICS sectors, so a sector missing is data missing. The
others (the Dow has no Utilities or Real Estate, the NASDAQ-100 next to no Real Estate)
are weighted over the sectors their constituents are in."""
PRICE_WEIGHTED_BENCHMARKS = frozenset({"DJIA"})
"""Benchmarks weighted by share price (the Dow: each constituent's weight is its price over
the sum of prices), not by market cap: their sector weights come from last prices."""
NEW_YORK = ZoneInfo("America/New_York")
WEIGHT_TOLERANCE = Decimal("0.000001")
MIN_COVERAGE = Decimal("0.98")
WEIGHT_QUANTUM = Decimal("0.000001")
CAP_QUANTUM = Decimal("0.01")
_WEIGHT_UNITS = 10**6
_MAX_LISTED = 20  # symbols named in one message before "and N more"

_table: Table = BenchmarkSectorWeight.__table__  # type: ignore[assignment]
DATA_SOURCE_MAX: int = getattr(_table.c.data_source.type, "length", None) or 32
"""Longest data_source the column holds."""


class BenchmarkDataError(InputDataError):
    """The data cannot be written as it is; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class SectorWeightRow:
    sector: str
    weight: Decimal
    market_cap: Decimal | None
    num_constituents: int | None


@dataclass(frozen=True)
class SectorWeights:
    """All sectors of one benchmark on one date, validated and ready to write."""

    benchmark_code: str
    asof_date: date
    data_source: str
    rows: tuple[SectorWeightRow, ...]
    constituents: int | None = None  # index symbols seen (None for a final-weights file)
    priced: int | None = None  # symbols with a market cap
    companies: int | None = None  # distinct companies (by cik) with a market cap
    missing_symbols: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def coverage(self) -> Decimal | None:
        if not self.constituents or self.priced is None:
            return None
        return Decimal(self.priced) / Decimal(self.constituents)


def apportion(values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Shares of ``values`` rounded to 6 decimals that sum to exactly 1 (largest remainder)."""
    total = sum(values.values(), Decimal(0))
    if total <= 0:
        raise BenchmarkDataError(["total market cap is not positive"])
    with localcontext() as ctx:
        ctx.prec = 60
        exact = {key: value * _WEIGHT_UNITS / total for key, value in values.items()}
        floors = {key: int(v.to_integral_value(rounding=ROUND_FLOOR)) for key, v in exact.items()}
        left = _WEIGHT_UNITS - sum(floors.values())
        by_remainder = sorted(exact, key=lambda k: (-(exact[k] - floors[k]), k))
    for key in by_remainder[:left]:
        floors[key] += 1
    return {
        key: Decimal(units).scaleb(-6).quantize(WEIGHT_QUANTUM) for key, units in floors.items()
    }


def _listed(symbols: Iterable[str]) -> str:
    items = sorted(symbols)
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def compute_sector_weights(
    constituents: Sequence[FmpConstituent],
    market_caps: Sequence[FmpMarketCap],
    *,
    benchmark_code: str,
    data_source: str,
) -> SectorWeights:
    """Sector weights from index constituents and their (company-level) market caps.

    Per GICS sector: ``market_cap`` sums distinct companies (share classes with one cik
    count once, at the largest cap reported for any of them), ``num_constituents`` counts
    index symbols, ``weight`` is the sector's share of the total. ``asof_date`` is the
    latest date FMP reports for the caps. Raises :class:`BenchmarkDataError` listing every
    problem; returns only data that passed :func:`validate_sector_weights`.
    """
    if benchmark_code in PRICE_WEIGHTED_BENCHMARKS:
        raise BenchmarkDataError(
            [
                f"{benchmark_code} is weighted by share price, not market cap: its sector "
                "weights come from prices (FMP), or give final weights (asof_date, sector, "
                "weight) in the file"
            ]
        )
    problems: list[str] = []
    notes: list[str] = []
    sector_of, company_of = _sectors_and_companies(constituents, problems)

    caps: dict[str, FmpMarketCap] = {}
    unrequested: set[str] = set()
    for cap in market_caps:
        if cap.symbol not in company_of:
            unrequested.add(cap.symbol)
            continue
        if cap.market_cap is None:
            continue  # no data: counts as missing, like a dropped symbol
        previous = caps.get(cap.symbol)
        if previous is not None and previous.market_cap != cap.market_cap:
            problems.append(f"two different market caps for {cap.symbol}")
        caps[cap.symbol] = cap
    if unrequested:
        notes.append(f"ignored market caps for symbols not in the index: {_listed(unrequested)}")
    not_positive = [s for s, c in caps.items() if c.market_cap is not None and c.market_cap <= 0]
    if not_positive:
        problems.append(f"market cap is not positive for {_listed(not_positive)}")

    symbols = list(dict.fromkeys(c.symbol for c in constituents))
    missing = tuple(s for s in symbols if s not in caps)
    priced = len(symbols) - len(missing)
    if symbols:
        coverage = Decimal(priced) / Decimal(len(symbols))
        if coverage < MIN_COVERAGE:
            problems.append(
                f"market caps cover only {priced} of {len(symbols)} constituents "
                f"({coverage:.2%}, at least {MIN_COVERAGE:.0%} needed); missing: "
                f"{_listed(missing)}"
            )
        elif missing:
            notes.append(f"no market cap for {len(missing)} constituent(s): {_listed(missing)}")

    # Company level: share classes of one company (same cik) count once.
    company_cap: dict[str, Decimal] = {}
    company_sector: dict[str, str] = {}
    for symbol in symbols:
        company = company_of[symbol]
        sector = sector_of.get(symbol)
        if sector is not None:
            other = company_sector.setdefault(company, sector)
            if other != sector:
                problems.append(f"share classes of cik {company} are in two sectors")
        quote = caps.get(symbol)
        if quote is not None and quote.market_cap is not None:
            value = quote.market_cap
            company_cap[company] = max(company_cap.get(company, value), value)

    asof_dates = {quote.date for quote in caps.values()}
    if not asof_dates and not problems:
        problems.append("FMP returned no market caps at all")
    if len(asof_dates) > 1:
        notes.append(
            "market caps are dated "
            + ", ".join(f"{d.isoformat()} ({n})" for d, n in _date_counts(caps).items())
        )

    sector_caps: dict[str, Decimal] = defaultdict(Decimal)
    for company, cap_value in company_cap.items():
        if company in company_sector:
            sector_caps[company_sector[company]] += cap_value
    sector_symbols = Counter(sector_of[s] for s in symbols if s in sector_of)
    every = benchmark_code in EVERY_SECTOR_BENCHMARKS
    expected = set(GICS_SECTORS) if every else set(sector_symbols)
    empty = [s for s in GICS_SECTORS if s in expected and sector_caps.get(s, Decimal(0)) <= 0]
    if empty and not problems:
        problems.append(
            f"expected all {len(GICS_SECTORS)} GICS sectors, missing (no priced "
            f"constituent): {', '.join(empty)}"
            if every
            else f"sectors with constituents but no priced one: {', '.join(empty)}"
        )
    if problems:
        raise BenchmarkDataError(problems)

    cents = {s: v.quantize(CAP_QUANTUM, rounding=ROUND_HALF_EVEN) for s, v in sector_caps.items()}
    weights = apportion(cents)
    result = SectorWeights(
        benchmark_code=benchmark_code,
        asof_date=max(asof_dates),
        data_source=data_source,
        rows=tuple(
            SectorWeightRow(s, weights[s], cents[s], sector_symbols[s]) for s in sorted(cents)
        ),
        constituents=len(symbols),
        priced=priced,
        companies=len(company_cap),
        missing_symbols=missing,
        notes=tuple(notes),
    )
    validate_sector_weights(result)
    return result


def compute_price_weights(
    constituents: Sequence[FmpConstituent],
    quotes: Sequence[FmpQuote],
    *,
    benchmark_code: str,
    data_source: str,
) -> SectorWeights:
    """Sector weights of a price-weighted index: per GICS sector, the sum of its
    constituents' last prices over the sum of all (the index divisor cancels out).
    ``market_cap`` is None (not what weighs them); ``asof_date`` is the New York date of
    the latest quote. The same checks as :func:`compute_sector_weights`: known labels, no
    duplicate symbol, positive prices, prices for 98% of constituents, a priced one in
    every sector of the constituents."""
    problems: list[str] = []
    sector_of, _ = _sectors_and_companies(constituents, problems)
    symbols = list(dict.fromkeys(c.symbol for c in constituents))
    prices = {q.symbol: q for q in quotes if q.symbol in sector_of and q.price is not None}
    not_positive = [s for s, q in prices.items() if q.price is not None and q.price <= 0]
    if not_positive:
        problems.append(f"price is not positive for {_listed(not_positive)}")
    missing = tuple(s for s in symbols if s not in prices)
    if symbols and Decimal(len(symbols) - len(missing)) / len(symbols) < MIN_COVERAGE:
        problems.append(
            f"prices cover only {len(symbols) - len(missing)} of {len(symbols)} constituents "
            f"(at least {MIN_COVERAGE:.0%} needed); missing: {_listed(missing)}"
        )
    times = [q.timestamp for q in prices.values() if q.timestamp is not None]
    if prices and not times:
        problems.append("FMP gave no quote times: the prices' date is unknown")
    sector_prices: dict[str, Decimal] = defaultdict(Decimal)
    for symbol, quote in prices.items():
        if quote.price is not None:
            sector_prices[sector_of[symbol]] += quote.price
    counts = Counter(sector_of.values())
    empty = sorted(s for s in counts if sector_prices.get(s, Decimal(0)) <= 0)
    if empty and not problems:
        problems.append(f"sectors with constituents but no priced one: {', '.join(empty)}")
    if problems:
        raise BenchmarkDataError(problems)
    weights = apportion(sector_prices)
    result = SectorWeights(
        benchmark_code=benchmark_code,
        asof_date=datetime.fromtimestamp(max(times), UTC).astimezone(NEW_YORK).date(),
        data_source=data_source,
        rows=tuple(SectorWeightRow(s, weights[s], None, counts[s]) for s in sorted(sector_prices)),
        constituents=len(symbols),
        priced=len(symbols) - len(missing),
        companies=len(prices),
        missing_symbols=missing,
        notes=("weighted by share price, as the index is (market_cap is left empty)",),
    )
    validate_sector_weights(result)
    return result


def _sectors_and_companies(
    constituents: Sequence[FmpConstituent], problems: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each constituent's GICS sector and company (its cik, else the symbol itself); what
    is wrong with the list goes to ``problems``."""
    sector_of: dict[str, str] = {}
    company_of: dict[str, str] = {}
    unknown: dict[str, list[str]] = defaultdict(list)
    duplicates = [s for s, n in Counter(c.symbol for c in constituents).items() if n > 1]
    if duplicates:
        problems.append(f"constituents list these symbols more than once: {_listed(duplicates)}")
    for row in constituents:
        try:
            sector_of[row.symbol] = to_gics(row.sector or "")
        except UnknownSectorError:
            unknown[row.sector or "<empty>"].append(row.symbol)
        company_of[row.symbol] = row.cik or f"symbol:{row.symbol}"
    for label, symbols in sorted(unknown.items()):
        problems.append(f"unknown sector label {label!r} for {_listed(symbols)}")
    if not constituents:
        problems.append("the constituents list is empty")
    return sector_of, company_of


def _date_counts(caps: Mapping[str, FmpMarketCap]) -> dict[date, int]:
    counts = Counter(c.date for c in caps.values())
    return dict(sorted(counts.items()))


def weights_from_inputs(
    rows: Sequence[SectorWeightInput],
    *,
    asof_date: date,
    benchmark_code: str,
    data_source: str,
) -> SectorWeights:
    """Final weights from a file. Labels are normalised to GICS; weights must already sum
    to 1 (within 1e-6) and are rounded to 6 decimals by largest remainder."""
    problems: list[str] = []
    by_sector: dict[str, SectorWeightInput] = {}
    for row in rows:
        try:
            sector = to_gics(row.sector)
        except UnknownSectorError as exc:
            problems.append(str(exc))
            continue
        if sector in by_sector:
            problems.append(f"sector {sector} appears more than once")
        by_sector[sector] = row
    total = sum((r.weight for r in by_sector.values()), Decimal(0))
    if not problems and abs(total - 100) <= Decimal("0.01"):
        problems.append("weights sum to 100: give fractions (0.28 = 28%), not percentages")
    elif not problems and abs(total - 1) > WEIGHT_TOLERANCE:
        problems.append(f"weights sum to {total}, not 1 (tolerance {WEIGHT_TOLERANCE})")
    not_positive = [s for s, r in by_sector.items() if r.weight <= 0]
    if not_positive:
        problems.append(f"weight is not positive for {', '.join(sorted(not_positive))}")
    if problems:
        raise BenchmarkDataError(problems)
    weights = apportion({s: r.weight for s, r in by_sector.items()})
    result = SectorWeights(
        benchmark_code=benchmark_code,
        asof_date=asof_date,
        data_source=data_source,
        rows=tuple(
            SectorWeightRow(
                sector=s,
                weight=weights[s],
                market_cap=None
                if r.market_cap is None
                else r.market_cap.quantize(CAP_QUANTUM, rounding=ROUND_HALF_EVEN),
                num_constituents=r.num_constituents,
            )
            for s, r in sorted(by_sector.items())
        ),
    )
    validate_sector_weights(result)
    return result


def validate_sector_weights(weights: SectorWeights) -> None:
    """The checks every write passes, whatever the data came from."""
    problems: list[str] = []
    if weights.benchmark_code not in SUPPORTED_BENCHMARKS:
        problems.append(f"unsupported benchmark {weights.benchmark_code!r}")
    if not weights.data_source or len(weights.data_source) > DATA_SOURCE_MAX:
        problems.append(f"data_source must be 1..{DATA_SOURCE_MAX} characters")
    sectors = [r.sector for r in weights.rows]
    unknown = sorted(set(sectors) - set(GICS_SECTORS))
    if unknown:
        problems.append(f"not GICS sector names: {', '.join(unknown)}")
    if weights.benchmark_code in EVERY_SECTOR_BENCHMARKS:
        absent = [s for s in GICS_SECTORS if s not in sectors]
        if len(sectors) != len(GICS_SECTORS) or absent:
            problems.append(
                f"expected the {len(GICS_SECTORS)} GICS sectors once each, got {len(sectors)}"
                + (f" (missing: {', '.join(absent)})" if absent else "")
            )
    else:
        twice = sorted(s for s, n in Counter(sectors).items() if n > 1)
        if twice or not sectors:
            problems.append(
                f"expected GICS sectors once each, {'no sector' if not sectors else 'got twice'}"
                + (f": {', '.join(twice)}" if twice else "")
            )
    total = sum((r.weight for r in weights.rows), Decimal(0))
    if abs(total - 1) > WEIGHT_TOLERANCE:
        problems.append(f"weights sum to {total}, not 1 within {WEIGHT_TOLERANCE}")
    for r in weights.rows:
        if not Decimal(0) < r.weight <= 1 or r.weight != r.weight.quantize(WEIGHT_QUANTUM):
            problems.append(f"{r.sector}: weight {r.weight} is not in (0, 1] at 6 decimals")
        if r.market_cap is not None and r.market_cap <= 0:
            problems.append(f"{r.sector}: market cap {r.market_cap} is not positive")
        if r.num_constituents is not None and r.num_constituents <= 0:
            problems.append(f"{r.sector}: num_constituents {r.num_constituents} is not positive")
    if problems:
        raise BenchmarkDataError(problems)
