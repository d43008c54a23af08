"""Reading end-of-day prices and security profiles from FMP or CSV, validated in full.

Two sources: FMP (``app.integrations.fmp.market_data``) and CSV files for offline installs.
Everything is read and validated before anything is written; writes are bulk upserts
(INSERT ... ON CONFLICT DO UPDATE), so a re-load replaces values and never duplicates.

CSV formats (header row required, extra columns ignored):
- prices:   ``symbol,date,close[,adjusted_close][,volume]`` (date YYYY-MM-DD, close > 0)
- profiles: ``symbol,sector[,is_etf][,name][,industry]`` (sector: a GICS or FMP label,
  empty for ETFs/unclassified; is_etf: true/false/1/0/yes/no, default false)
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from app.core.errors import InputDataError
from app.core.sectors import UnknownSectorError, to_gics
from app.integrations.fmp.client import FmpClient
from app.integrations.fmp.market_data import eod_prices, profile
from app.market_data.repository import PriceRow, ProfileRow

logger = logging.getLogger(__name__)


class PriceDataError(InputDataError):
    """Input that cannot be loaded as it is; the message names the file/line or symbol."""


# --- CSV ------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _read_csv(path: Path, required: set[str], parse: Callable[[dict[str, str]], Any]) -> list[Any]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise PriceDataError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = {h.strip().lower() for h in reader.fieldnames or []}
        if missing := required - header:
            raise PriceDataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            try:
                rows.append(parse(record))
            except (ValueError, InvalidOperation) as exc:
                raise PriceDataError(f"{path}, line {line}: {exc}") from None
    if not rows:
        raise PriceDataError(f"{path}: no data rows")
    return rows


def _positive(text: str, column: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{column} must be a positive number, got {text!r}")
    return value


def _price(record: dict[str, str]) -> PriceRow:
    symbol = record["symbol"].upper()
    if not symbol or len(symbol) > 20:
        raise ValueError(f"bad symbol {record['symbol']!r}")
    try:
        day = date.fromisoformat(record["date"])
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, got {record['date']!r}") from None
    adjusted = record.get("adjusted_close", "")
    volume = record.get("volume", "")
    return PriceRow(
        symbol=symbol,
        date=day,
        close=_positive(record["close"], "close"),
        adjusted_close=_positive(adjusted, "adjusted_close") if adjusted else None,
        volume=int(volume) if volume else None,
    )


def _gics_or_none(label: str | None) -> str | None:
    if label is None or not label.strip():
        return None
    return to_gics(label)


def _profile(record: dict[str, str]) -> ProfileRow:
    flag = record.get("is_etf", "").lower()
    if flag not in _TRUE | _FALSE:
        raise ValueError(f"is_etf must be true or false, got {record['is_etf']!r}")
    try:
        sector = _gics_or_none(record["sector"])
    except UnknownSectorError as exc:
        raise ValueError(str(exc)) from None
    return ProfileRow(
        symbol=record["symbol"].upper(),
        sector=sector,
        is_etf=flag in _TRUE,
        name=record.get("name") or None,
        industry=record.get("industry") or None,
    )


def read_price_csv(path: Path) -> list[PriceRow]:
    rows: list[PriceRow] = _read_csv(path, {"symbol", "date", "close"}, _price)
    seen: set[tuple[str, date]] = set()
    for row in rows:
        if (row.symbol, row.date) in seen:
            raise PriceDataError(f"{path}: {row.symbol} {row.date} appears more than once")
        seen.add((row.symbol, row.date))
    return rows


def read_profile_csv(path: Path) -> list[ProfileRow]:
    rows: list[ProfileRow] = _read_csv(path, {"symbol", "sector"}, _profile)
    return rows


# --- FMP ------------------------------------------------------------------------------


async def fetch_fmp_prices(
    client: FmpClient,
    symbols: Iterable[str],
    start: date,
    end: date,
    on_symbol: Callable[[str], None] | None = None,
) -> list[PriceRow]:
    """Closes of every symbol from FMP; a symbol without any price is an error."""
    rows: list[PriceRow] = []
    for symbol in symbols:
        prices = await eod_prices(client, symbol, start, end)
        if not prices:
            raise PriceDataError(f"FMP has no prices for {symbol} between {start} and {end}")
        rows.extend(PriceRow(symbol, p.date, p.close, None, p.volume) for p in prices)
        if on_symbol:
            on_symbol(symbol)
    return rows


async def fetch_fmp_profiles(
    client: FmpClient, symbols: Iterable[str], on_symbol: Callable[[str], None] | None = None
) -> list[ProfileRow]:
    """Profiles from FMP, sectors mapped to GICS. ETFs get no sector; a label outside the
    mapping is stored as no sector (logged), never guessed."""
    rows: list[ProfileRow] = []
    for symbol in symbols:
        found = await profile(client, symbol)
        if found is None:
            raise PriceDataError(f"FMP has no profile for {symbol}")
        sector: str | None = None
        if not found.is_etf:
            try:
                sector = _gics_or_none(found.sector)
            except UnknownSectorError:
                logger.warning("%s: unknown sector label %r stored as none", symbol, found.sector)
        rows.append(ProfileRow(symbol, sector, found.is_etf, found.company_name, found.industry))
        if on_symbol:
            on_symbol(symbol)
    return rows
