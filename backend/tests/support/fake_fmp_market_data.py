"""Price and profile endpoints on the fake FMP server, with FMP's response shapes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.support.fake_fmp import STABLE, FakeFmp, FakeResponse, RecordedRequest


def weekday_closes(symbol: str, start: date, days: int, first: float) -> list[dict[str, Any]]:
    """FMP-shaped EOD rows (newest first) on ``days`` weekdays from ``start``; close rises
    by 1 each day so tests can derive every value."""
    rows = []
    day, close = start, first
    while len(rows) < days:
        if day.weekday() < 5:
            rows.append(
                {
                    "symbol": symbol,
                    "date": day.isoformat(),
                    "open": close - 0.5,
                    "high": close + 1,
                    "low": close - 1,
                    "close": close,
                    "volume": 1_000_000 + len(rows),
                    "change": 1.0,
                    "changePercent": 0.5,
                    "vwap": close,
                }
            )
            close += 1.0
        day += timedelta(days=1)
    return rows[::-1]


def serve_market_data(
    fake: FakeFmp,
    prices: dict[str, list[dict[str, Any]]],
    profiles: dict[str, dict[str, Any]],
) -> None:
    """Answer historical-price-eod/full and profile as FMP's /stable API does."""

    def eod(request: RecordedRequest) -> FakeResponse:
        symbol = request.query.get("symbol", "")
        if not symbol:
            return FakeResponse.text("Invalid or missing query parameter: symbol", 400)
        start = request.query.get("from", "0000-00-00")
        end = request.query.get("to", "9999-99-99")
        rows = [r for r in prices.get(symbol, []) if start <= r["date"] <= end]
        return FakeResponse.json(rows)

    def profile(request: RecordedRequest) -> FakeResponse:
        symbol = request.query.get("symbol", "")
        found = profiles.get(symbol)
        return FakeResponse.json([found] if found else [])

    fake.add_route(f"{STABLE}/historical-price-eod/full", eod)
    fake.add_route(f"{STABLE}/profile", profile)


def fmp_profile(symbol: str, sector: str, *, is_etf: bool = False) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "companyName": f"{symbol} Inc.",
        "sector": sector,
        "industry": "Something",
        "isEtf": is_etf,
        "price": 100.0,
        "mktCap": 1e9,
    }
