"""Reading end-of-day prices and security profiles from FMP or CSV, validated in full.

Two sources: FMP (``app.integrations.fmp.prices``) and CSV files for offline installs.
Everything is read and validated before anything is written; writes are bulk upserts
(INSERT ... ON CONFLICT DO UPDATE), so a re-load replaces values and never duplicates.

CSV formats (UTF-8, header row required, other columns ignored, every row as many fields
as the header):
- prices:   ``symbol,date,close[,adjusted_close][,volume]`` (date YYYY-MM-DD, close > 0);
  one row per symbol and date
- profiles: ``symbol,sector[,is_etf][,name][,industry]`` (sector: a GICS or FMP label,
  empty for ETFs/unclassified; is_etf: true/false/1/0/yes/no, default false); one row
  per symbol

A file problem is a FileDataError naming the file, line, field and symbol.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from app.core.errors import FileDataError, InputDataError
from app.core.input_files import (
    FieldError,
    decimal_value,
    integer_value,
    parse_csv,
    parse_iso_date,
    read_text,
    shown,
    text_value,
)
from app.core.sectors import UnknownSectorError, to_gics
from app.integrations.fmp.client import FmpClient
from app.integrations.fmp.prices import eod_prices, profile
from app.models import DailyPrice, SecurityProfile
from app.prices.repository import PriceRow, ProfileRow

logger = logging.getLogger(__name__)


class PriceDataError(InputDataError):
    """FMP's answer cannot be loaded as it is; the message names the symbol."""


# --- CSV ------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
_SYMBOL = re.compile(r"[A-Z0-9.^=/_-]+")
_SYMBOL_MAX: int = DailyPrice.__table__.c.symbol.type.length  # type: ignore[attr-defined]
_prices = DailyPrice.__table__.c
_profiles = SecurityProfile.__table__.c


def normalise_symbol(text: str) -> str:
    """A ticker as stored: stripped, upper case, letters/digits/``. ^ = / _ -``, at most
    as long as the column (20)."""
    symbol = text.strip().upper()
    if not symbol:
        raise FieldError("symbol", "is empty")
    if (
        len(symbol) > _SYMBOL_MAX
        or not text.isascii()  # "ß".upper() is "SS": never let a non-ASCII name pass
        or not _SYMBOL.fullmatch(symbol)
        or not any(c.isalnum() for c in symbol)
    ):
        raise FieldError(
            "symbol",
            f"{shown(text)} is not a ticker (letters, digits and . ^ = / _ -, "
            f"at most {_SYMBOL_MAX} characters)",
        )
    return symbol


def _price(record: dict[str, str]) -> PriceRow:
    symbol = normalise_symbol(record["symbol"])
    try:
        day = parse_iso_date(record["date"])
    except ValueError as exc:
        raise FieldError("date", str(exc)) from None
    adjusted = record.get("adjusted_close", "")
    volume = record.get("volume", "")
    return PriceRow(
        symbol=symbol,
        date=day,
        close=decimal_value(record["close"], "close", _prices.close, positive=True),
        adjusted_close=decimal_value(
            adjusted, "adjusted_close", _prices.adjusted_close, positive=True
        )
        if adjusted
        else None,
        volume=integer_value(volume, "volume", _prices.volume) if volume else None,
    )


def _gics_or_none(label: str | None) -> str | None:
    if label is None or not label.strip():
        return None
    return to_gics(label)


def _profile(record: dict[str, str]) -> ProfileRow:
    symbol = normalise_symbol(record["symbol"])
    flag = record.get("is_etf", "").lower()
    if flag not in _TRUE | _FALSE:
        raise FieldError("is_etf", f"must be true or false, got {shown(record['is_etf'])}")
    try:
        sector = _gics_or_none(record["sector"])
    except UnknownSectorError as exc:
        raise FieldError("sector", str(exc)) from None
    return ProfileRow(
        symbol=symbol,
        sector=sector,
        is_etf=flag in _TRUE,
        name=text_value(record.get("name", ""), "name", _profiles.name),
        industry=text_value(record.get("industry", ""), "industry", _profiles.industry),
    )


def read_price_csv(path: Path) -> list[PriceRow]:
    """Every row of a prices CSV, validated; one (symbol, date) per file."""
    rows = parse_csv(path, read_text(path), required={"symbol", "date", "close"}, parse=_price)
    first_seen: dict[tuple[str, date], int] = {}
    for line, row in rows:
        key = (row.symbol, row.date)
        if key in first_seen:
            raise FileDataError(
                path,
                f"{row.date} appears more than once for this symbol (first on line "
                f"{first_seen[key]})",
                line=line,
                symbol=row.symbol,
            )
        first_seen[key] = line
    return [row for _, row in rows]


def read_profile_csv(path: Path) -> list[ProfileRow]:
    """Every row of a profiles CSV, validated; one row per symbol."""
    rows = parse_csv(path, read_text(path), required={"symbol", "sector"}, parse=_profile)
    first_seen: dict[str, int] = {}
    for line, row in rows:
        if row.symbol in first_seen:
            raise FileDataError(
                path,
                f"appears more than once (first on line {first_seen[row.symbol]})",
                line=line,
                symbol=row.symbol,
            )
        first_seen[row.symbol] = line
    return [row for _, row in rows]


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
