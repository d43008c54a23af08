"""Reading end-of-day prices, corporate actions and security profiles from FMP or CSV,
validated in full.

Two sources: FMP (``app.prices.history``) and CSV files for offline installs. Everything
is read and validated before anything is written; writes are bulk upserts (INSERT ... ON
CONFLICT DO UPDATE), so a re-load replaces values and never duplicates.

CSV formats (UTF-8, header row required, other columns ignored, every row as many fields
as the header):
- prices: ``symbol,date,close[,adjusted_close][,volume][,split][,dividend]``, one row per
  symbol and date (YYYY-MM-DD). ``close`` is the close as traded that day (> 0);
  ``adjusted_close`` the total-return close (splits and dividends after the day taken
  out), on every row of a symbol or on none. ``split`` (``N:D``, e.g. ``4:1``) and
  ``dividend`` (cash per share, as traded) record an action whose ex-date is the row's
  date. A symbol without adjusted_close gets close times the factors of the recorded
  actions after each day (the file's and the database's); such a symbol cannot span a
  recorded split (its returns would read the split as a gain or a loss).
- profiles: ``symbol,sector[,is_etf][,name][,industry]`` (sector: a GICS or FMP label,
  empty for ETFs/unclassified; is_etf: true/false/1/0/yes/no, default false); one row
  per symbol.

A file problem is a FileDataError naming the file, line, field and symbol.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

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
from app.integrations.fmp.prices import FmpProfile, profile
from app.models import CorporateAction, DailyPrice, SecurityProfile
from app.prices.actions import (
    ActionRow,
    DividendTooLargeError,
    actions_of,
    merged,
    total_return_factors,
)
from app.prices.history import STORED_STEP, SymbolHistory, fetch_history
from app.prices.repository import PriceRow, ProfileRow, price_series

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
_actions = CorporateAction.__table__.c


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


@dataclass(frozen=True)
class CsvPrice:
    """A row of a prices CSV, as read: the close as traded, the total-return close if
    given, and the action whose ex-date it is, if any."""

    symbol: str
    date: date
    close: Decimal
    adjusted_close: Decimal | None
    volume: int | None
    split: tuple[Decimal, Decimal] | None = None
    dividend: Decimal | None = None


def _split(text: str) -> tuple[Decimal, Decimal] | None:
    if not text:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise FieldError("split", f"must be N:D (4:1 for a four-for-one split), got {shown(text)}")
    numerator, denominator = (
        decimal_value(part.strip(), "split", _actions.split_numerator, positive=True)
        for part in parts
    )
    return numerator, denominator


def _price(record: dict[str, str]) -> CsvPrice:
    symbol = normalise_symbol(record["symbol"])
    try:
        day = parse_iso_date(record["date"])
    except ValueError as exc:
        raise FieldError("date", str(exc)) from None
    adjusted = record.get("adjusted_close", "")
    volume = record.get("volume", "")
    dividend = record.get("dividend", "")
    amount = (
        decimal_value(dividend, "dividend", _actions.dividend_amount, positive=False)
        if dividend
        else None
    )
    if amount is not None and amount < 0:
        raise FieldError("dividend", f"must not be negative, got {shown(dividend)}")
    return CsvPrice(
        symbol=symbol,
        date=day,
        close=decimal_value(record["close"], "close", _prices.close, positive=True),
        adjusted_close=decimal_value(
            adjusted, "adjusted_close", _prices.adjusted_close, positive=True
        )
        if adjusted
        else None,
        volume=integer_value(volume, "volume", _prices.volume) if volume else None,
        split=_split(record.get("split", "")),
        dividend=amount or None,  # 0: no dividend (as exports write it)
    )


@dataclass(frozen=True)
class PriceFile:
    """A prices CSV read in full: its rows with their lines, by symbol and date."""

    path: Path
    rows: list[tuple[int, CsvPrice]]

    @property
    def actions(self) -> list[ActionRow]:
        found: list[ActionRow] = []
        for _, row in self.rows:
            if row.split is not None:
                found.append(ActionRow.split(row.symbol, row.date, *row.split))
            if row.dividend is not None:
                found.append(ActionRow.dividend(row.symbol, row.date, row.dividend))
        return merged(found)

    def symbols(self) -> list[str]:
        return sorted({row.symbol for _, row in self.rows})


def read_price_csv(path: Path) -> PriceFile:
    """Every row of a prices CSV, validated; one (symbol, date) per file, and
    adjusted_close on every row of a symbol or on none."""
    rows = parse_csv(path, read_text(path), required={"symbol", "date", "close"}, parse=_price)
    first_seen: dict[tuple[str, date], int] = {}
    adjusted_seen: dict[str, tuple[int, bool]] = {}
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
        given = row.adjusted_close is not None
        first_line, first_given = adjusted_seen.setdefault(row.symbol, (line, given))
        if given != first_given:
            raise FileDataError(
                path,
                f"adjusted_close is {'given' if given else 'empty'} here but "
                f"{'given' if first_given else 'empty'} on line {first_line}: give it on "
                "every row of a symbol or on none",
                line=line,
                field="adjusted_close",
                symbol=row.symbol,
            )
    return PriceFile(path, sorted(rows, key=lambda item: (item[1].symbol, item[1].date)))


def _refuse_a_recorded_split(
    path: Path, lines: Mapping[date, int], closes: Mapping[date, Decimal], split: ActionRow
) -> None:
    """A symbol with closes only, around a recorded split: one line saying what its close
    did on the split's ex-date."""
    days = sorted(closes)
    after = next(d for d in days if d >= split.ex_date)
    before = days[days.index(after) - 1]
    move = closes[after] / closes[before]
    expected = 1 / split.shares_per_share
    if abs(math.log(move) - math.log(expected)) < abs(math.log(move)):
        what = (
            f"close goes from {closes[before]} on {before} to {closes[after]} on {after}, "
            f"the ex-date of a recorded {split.ratio_text} split: returns would read it as "
            f"a {float(move) - 1:+.1%} day"
        )
    else:
        what = (
            f"close goes from {closes[before]} on {before} to {closes[after]} on {after}, "
            f"across a recorded {split.ratio_text} split it does not show: close must be "
            "the price as traded"
        )
    raise FileDataError(
        path,
        f"{what}; give this symbol an adjusted_close column (the total-return close)",
        line=lines[after],
        symbol=split.symbol,
    )


async def resolve_price_file(
    session: AsyncSession, prices: PriceFile
) -> tuple[list[PriceRow], list[ActionRow]]:
    """The rows to store (both closes) and the actions the file records. A symbol without
    adjusted_close gets close times the factors of the actions recorded after each day
    (in the file or the database; the file's win), its stored closes filling the days
    the file lacks; it is refused if a recorded split falls inside its dates."""
    file_actions = prices.actions
    close_only = sorted({r.symbol for _, r in prices.rows if r.adjusted_close is None})
    recorded = await actions_of(session, close_only)
    out: list[PriceRow] = []
    for symbol in prices.symbols():
        rows = [(line, r) for line, r in prices.rows if r.symbol == symbol]
        mine = {(a.ex_date, a.kind): a for a in recorded.get(symbol, [])}
        mine.update({(a.ex_date, a.kind): a for a in file_actions if a.symbol == symbol})
        actions = sorted(mine.values(), key=lambda a: a.ex_date)
        if symbol not in recorded or not actions:  # total return given, or nothing to adjust
            out += [
                PriceRow(symbol, r.date, r.close, r.adjusted_close or r.close, r.volume)
                for _, r in rows
            ]
            continue
        file_closes = {r.date: r.close for _, r in rows}
        lines = {r.date: line for line, r in rows}
        for split in (a for a in actions if a.kind == "split"):
            if rows[0][1].date < split.ex_date <= rows[-1][1].date:
                _refuse_a_recorded_split(prices.path, lines, file_closes, split)
        known = {p.date: p.close for p in await price_series(session, symbol)} | file_closes
        try:
            factors = total_return_factors(known, actions)
        except DividendTooLargeError as exc:
            line = lines.get(exc.action.ex_date)
            raise FileDataError(prices.path, str(exc), line=line, symbol=symbol) from None
        out += [
            PriceRow(
                symbol,
                r.date,
                r.close,
                max(STORED_STEP, (r.close * factors[r.date]).quantize(STORED_STEP)),
                r.volume,
            )
            for _, r in rows
        ]
    return out, file_actions


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


async def fetch_fmp_histories(
    client: FmpClient,
    spans: Mapping[str, tuple[date, date]],
    on_symbol: Callable[[str], None] | None = None,
) -> list[SymbolHistory]:
    """Each symbol's prices in its span (both closes) with its splits and dividends, from
    FMP; a symbol without any price is an error."""
    found: list[SymbolHistory] = []
    for symbol, (start, end) in spans.items():
        history = await fetch_history(client, symbol, start, end)
        if not history.rows:
            raise PriceDataError(f"FMP has no prices for {symbol} between {start} and {end}")
        found.append(history)
        if on_symbol:
            on_symbol(symbol)
    return found


def profile_row(found: FmpProfile) -> ProfileRow:
    """An FMP profile as stored: the sector mapped to GICS; ETFs get none; a label outside
    the mapping is stored as none (logged), never guessed."""
    sector: str | None = None
    if not found.is_etf:
        try:
            sector = _gics_or_none(found.sector)
        except UnknownSectorError:
            logger.warning("%s: unknown sector label %r stored as none", found.symbol, found.sector)
    return ProfileRow(
        found.symbol.upper(), sector, found.is_etf, found.company_name, found.industry
    )


async def fetch_fmp_profiles(
    client: FmpClient, symbols: Iterable[str], on_symbol: Callable[[str], None] | None = None
) -> list[ProfileRow]:
    """Profiles from FMP, sectors mapped to GICS; a symbol without one is an error."""
    rows: list[ProfileRow] = []
    for symbol in symbols:
        found = await profile(client, symbol)
        if found is None:
            raise PriceDataError(f"FMP has no profile for {symbol}")
        rows.append(profile_row(found))
        if on_symbol:
            on_symbol(symbol)
    return rows
