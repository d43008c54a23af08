"""FMP ``/stable`` endpoints for end-of-day prices and company profiles.

Requests go through :meth:`FmpClient.get_json` (timeouts, retries, typed errors, key
redaction); this module only names the endpoints and validates what comes back.

- ``historical-price-eod/full?symbol=X&from=YYYY-MM-DD&to=YYYY-MM-DD``: a list of
  ``{symbol, date, open, high, low, close, volume, ...}``, newest first.
- ``profile?symbol=X``: ``[{symbol, companyName, sector, industry, isEtf, ...}]``;
  ``[]`` for an unknown symbol.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.integrations.fmp.client import FmpBadResponseError, FmpClient, parse_payload

EOD_PATH = "historical-price-eod/full"
PROFILE_PATH = "profile"


class FmpEodPrice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str | None = None
    date: date
    close: Decimal = Field(gt=0)
    volume: int | None = Field(default=None, ge=0)


class FmpProfile(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    symbol: str
    company_name: str | None = Field(default=None, alias="companyName")
    sector: str | None = None
    industry: str | None = None
    is_etf: bool = Field(default=False, alias="isEtf")


_PRICES = TypeAdapter(list[FmpEodPrice])
_PROFILES = TypeAdapter(list[FmpProfile])


async def eod_prices(client: FmpClient, symbol: str, start: date, end: date) -> list[FmpEodPrice]:
    """Daily closes of ``symbol`` in [start, end], oldest first."""
    payload = await client.get_json(
        EOD_PATH, {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()}
    )
    if isinstance(payload, dict) and "historical" in payload:  # the older response shape
        payload = payload["historical"]
    rows: list[FmpEodPrice] = parse_payload(_PRICES, payload, EOD_PATH, symbol)
    foreign = {r.symbol for r in rows if r.symbol not in (None, symbol)}
    if foreign:
        raise FmpBadResponseError(
            f"FMP /{EOD_PATH} for {symbol} returned rows for {sorted(foreign)}", path=EOD_PATH
        )
    return sorted((r for r in rows if start <= r.date <= end), key=lambda r: r.date)


async def profile(client: FmpClient, symbol: str) -> FmpProfile | None:
    """The company profile of ``symbol``, or None when FMP has none."""
    payload = await client.get_json(PROFILE_PATH, {"symbol": symbol})
    rows: list[FmpProfile] = parse_payload(_PROFILES, payload, PROFILE_PATH, symbol)
    return next((r for r in rows if r.symbol.upper() == symbol.upper()), None)
