"""Expected sector figures, derived from the fake FMP's data with plain Decimal arithmetic.

Independent of the code under test: sectors come from the fake's ground-truth GICS map
(not from app.core.sectors), share classes are grouped by the cik the fake serves, and the
rules are the documented ones (company cap counted once at its largest class value,
sector caps rounded to the cent half-even, weights within 1e-6 of cap / total).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from tests.support.fake_fmp import Sp500Data

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class ExpectedSector:
    market_cap: Decimal  # to the cent
    num_constituents: int
    exact_weight: Decimal  # market_cap / total market cap, unrounded


def expected_sectors(data: Sp500Data) -> dict[str, ExpectedSector]:
    company_cap: dict[str, Decimal] = {}
    company_sector: dict[str, str] = {}
    symbols_in: dict[str, int] = defaultdict(int)
    for row in data.constituents:
        symbol, cik = row["symbol"], row["cik"]
        sector = data.gics[symbol]
        symbols_in[sector] += 1
        company_sector[cik] = sector
        cap = data.market_caps.get(symbol)
        if cap is not None:
            company_cap[cik] = max(cap, company_cap.get(cik, cap))
    raw: dict[str, Decimal] = defaultdict(Decimal)
    for cik, cap in company_cap.items():
        raw[company_sector[cik]] += cap
    cents = {s: v.quantize(CENT, rounding=ROUND_HALF_EVEN) for s, v in raw.items()}
    total = sum(cents.values())
    return {s: ExpectedSector(cents[s], symbols_in[s], cents[s] / total) for s in sorted(cents)}


def expected_price_sectors(data: Sp500Data) -> dict[str, ExpectedSector]:
    """A price-weighted index: per sector the sum of its constituents' prices over all;
    ``market_cap`` here is that price sum (the stored market_cap is None)."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    for row in data.constituents:
        sector = data.gics[row["symbol"]]
        sums[sector] += data.prices[row["symbol"]]
        counts[sector] += 1
    total = sum(sums.values())
    return {s: ExpectedSector(sums[s], counts[s], sums[s] / total) for s in sorted(sums)}


def assert_weights_close(stored: Mapping[str, Decimal], exact: Mapping[str, Decimal]) -> None:
    """Stored 6-decimal weights: sum exactly 1, each the floor or ceiling of its exact
    share at 6 decimals (so less than 1e-6 away)."""
    assert set(stored) == set(exact)
    assert sum(stored.values()) == Decimal("1.000000")
    for sector, weight in stored.items():
        low = exact[sector].quantize(MICRO, rounding=ROUND_FLOOR)
        high = exact[sector].quantize(MICRO, rounding=ROUND_CEILING)
        assert weight in (low, high), (sector, weight, exact[sector])
        assert abs(weight - exact[sector]) < MICRO


def check_rows(
    rows: Iterable[tuple[str, Decimal, Decimal | None, int | None]],
    expected: Mapping[str, ExpectedSector],
) -> None:
    """``rows`` of (sector, weight, market_cap, num_constituents) match ``expected``."""
    by_sector = {sector: (w, cap, n) for sector, w, cap, n in rows}
    assert sorted(by_sector) == sorted(expected)
    for sector, exp in expected.items():
        _, cap, n = by_sector[sector]
        assert cap == exp.market_cap, sector
        assert n == exp.num_constituents, sector
    assert_weights_close(
        {s: v[0] for s, v in by_sector.items()},
        {s: e.exact_weight for s, e in expected.items()},
    )
