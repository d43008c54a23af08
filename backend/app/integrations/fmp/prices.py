"""FMP ``/stable`` endpoints for end-of-day prices and company profiles.

Requests go through :meth:`FmpClient.get_json` (timeouts, retries, typed errors, key
redaction); this module only names the endpoints and validates what comes back. Every
list comes newest first and is returned oldest first; an unknown symbol gets ``[]``.

- ``historical-price-eod/non-split-adjusted?symbol=X&from=&to=``: the close as traded
  that day, before any later split or dividend. Rows ``{symbol, date, adjOpen, adjHigh,
  adjLow, adjClose, volume}`` (FMP names the unadjusted prices ``adj...`` here too).
- ``historical-price-eod/dividend-adjusted?symbol=X&from=&to=``: the total-return series,
  scaled for every split and cash dividend up to the day asked, in the same row shape.
  Its latest closes (after the symbol's last split or dividend) are the traded ones; a new
  split or dividend rescales every earlier close.
- ``historical-price-eod/full``: FMP's default series, adjusted for splits but not for
  dividends (neither the traded close nor a total return): not used.
- ``profile?symbol=X``: ``[{symbol, companyName, sector, industry, isEtf, ...}]``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.integrations.fmp.client import FmpBadResponseError, FmpClient, parse_payload

TRADED_PATH = "historical-price-eod/non-split-adjusted"
TOTAL_RETURN_PATH = "historical-price-eod/dividend-adjusted"
PROFILE_PATH = "profile"

PRICE_LIMIT = Decimal(10) ** 12
"""Prices are stored as NUMERIC(18, 6): a close must stay below 10^12."""


class FmpDailyClose(BaseModel):
    """One day of ``non-split-adjusted`` or ``dividend-adjusted``: the fields this
    project reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    symbol: str | None = None
    date: date
    close: Decimal = Field(alias="adjClose", gt=0, lt=PRICE_LIMIT)
    volume: int | None = Field(default=None, ge=0)


class FmpProfile(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    symbol: str
    company_name: str | None = Field(default=None, alias="companyName")
    sector: str | None = None
    industry: str | None = None
    is_etf: bool = Field(default=False, alias="isEtf")


_CLOSES = TypeAdapter(list[FmpDailyClose])
_PROFILES = TypeAdapter(list[FmpProfile])


async def _daily_closes(
    client: FmpClient, path: str, symbol: str, start: date, end: date
) -> list[FmpDailyClose]:
    payload = await client.get_json(
        path,
        {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()},
        exact_decimals=True,
    )
    rows: list[FmpDailyClose] = parse_payload(_CLOSES, payload, path, symbol)
    foreign = {r.symbol for r in rows if r.symbol not in (None, symbol)}
    if foreign:
        raise FmpBadResponseError(
            f"FMP /{path} for {symbol} returned rows for {sorted(foreign)}", path=path
        )
    days = [r.date for r in rows]
    if len(set(days)) != len(days):
        raise FmpBadResponseError(f"FMP /{path} for {symbol} lists a date twice", path=path)
    return sorted((r for r in rows if start <= r.date <= end), key=lambda r: r.date)


async def traded_closes(
    client: FmpClient, symbol: str, start: date, end: date
) -> list[FmpDailyClose]:
    """Closes of ``symbol`` as traded, in [start, end], oldest first."""
    return await _daily_closes(client, TRADED_PATH, symbol, start, end)


async def total_return_closes(
    client: FmpClient, symbol: str, start: date, end: date
) -> list[FmpDailyClose]:
    """Total-return closes of ``symbol`` in [start, end], oldest first, on FMP's scale
    of today (the latest closes as traded)."""
    return await _daily_closes(client, TOTAL_RETURN_PATH, symbol, start, end)


async def profile(client: FmpClient, symbol: str) -> FmpProfile | None:
    """The company profile of ``symbol``, or None when FMP has none."""
    payload = await client.get_json(PROFILE_PATH, {"symbol": symbol})
    rows: list[FmpProfile] = parse_payload(_PROFILES, payload, PROFILE_PATH, symbol)
    return next((r for r in rows if r.symbol.upper() == symbol.upper()), None)
