"""FMP ``/stable`` endpoints for splits and cash dividends, validated.

- ``splits?symbol=X`` and ``splits-calendar?from=&to=`` (every symbol): rows ``{symbol,
  date, numerator, denominator, splitType?}``; ``date`` is the ex-date; 4 for 1 is
  numerator 4, denominator 1; stock dividends come as odd ratios (223 for 250).
- ``dividends?symbol=X`` and ``dividends-calendar?from=&to=``: rows ``{symbol, date,
  recordDate, paymentDate, declarationDate, adjDividend, dividend, yield, frequency}``;
  ``date`` is the ex-date, ``dividend`` the amount per share as declared, ``adjDividend``
  the same scaled for later splits; the calendar leaves dates it lacks as ``""``.

Lists come newest first (returned oldest first); an unknown symbol gets ``[]``. The
calendars answer at most 90 days and 3,000 rows a request: a longer range is asked in
90-day windows, and a window that comes back full is asked again in halves.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from app.integrations.fmp.client import FmpBadResponseError, FmpClient, FmpError, parse_payload

SPLITS_PATH = "splits"
DIVIDENDS_PATH = "dividends"
SPLITS_CALENDAR_PATH = "splits-calendar"
DIVIDENDS_CALENDAR_PATH = "dividends-calendar"

CALENDAR_MAX_DAYS = 90
"""The longest range, in days, a calendar request may ask (FMP's documented limit)."""
CALENDAR_MAX_ROWS = 3_000
"""Rows a calendar answer holds at most: a full answer may have left rows out."""


class FmpCalendarTruncatedError(FmpError):
    """A single day of a calendar has more rows than one answer holds."""


class _Action(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    symbol: str = Field(min_length=1)
    ex_date: date = Field(alias="date")

    @field_validator("symbol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class FmpSplit(_Action):
    numerator: Decimal = Field(gt=0)
    denominator: Decimal = Field(gt=0)


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class FmpDividend(_Action):
    dividend: Decimal | None = Field(default=None, ge=0)
    adj_dividend: Decimal | None = Field(default=None, alias="adjDividend", ge=0)
    record_date: date | None = Field(default=None, alias="recordDate")
    payment_date: date | None = Field(default=None, alias="paymentDate")

    _blanks = field_validator(
        "dividend", "adj_dividend", "record_date", "payment_date", mode="before"
    )(_blank_to_none)

    @model_validator(mode="after")
    def _has_amount(self) -> FmpDividend:
        if self.dividend is None and self.adj_dividend is None:
            raise ValueError("neither dividend nor adjDividend is given")
        return self

    @property
    def amount(self) -> Decimal:
        """Per share as declared; ``adjDividend`` stands in when FMP leaves it out."""
        found = self.dividend if self.dividend is not None else self.adj_dividend
        assert found is not None
        return found


A = TypeVar("A", bound=_Action)

_SPLITS = TypeAdapter(list[FmpSplit])
_DIVIDENDS = TypeAdapter(list[FmpDividend])


def _oldest_first(rows: list[A]) -> list[A]:
    return sorted(rows, key=lambda r: (r.ex_date, r.symbol))


async def _of_symbol(
    client: FmpClient, path: str, adapter: TypeAdapter[list[A]], symbol: str
) -> list[A]:
    payload = await client.get_json(path, {"symbol": symbol}, exact_decimals=True)
    rows = parse_payload(adapter, payload, path, symbol)
    foreign = {r.symbol for r in rows} - {symbol.upper()}
    if foreign:
        raise FmpBadResponseError(
            f"FMP /{path} for {symbol} returned rows for {sorted(foreign)}", path=path
        )
    return _oldest_first(rows)


async def splits(client: FmpClient, symbol: str) -> list[FmpSplit]:
    """Every split FMP records for ``symbol``, oldest first."""
    return await _of_symbol(client, SPLITS_PATH, _SPLITS, symbol)


async def dividends(client: FmpClient, symbol: str) -> list[FmpDividend]:
    """Every cash dividend FMP records for ``symbol``, oldest first."""
    return await _of_symbol(client, DIVIDENDS_PATH, _DIVIDENDS, symbol)


async def _calendar(
    client: FmpClient,
    path: str,
    adapter: TypeAdapter[list[A]],
    start: date,
    end: date,
    symbols: Collection[str],
) -> list[A]:
    rows: list[A] = []
    window_start = start
    while window_start <= end:
        window_end = min(end, window_start + timedelta(days=CALENDAR_MAX_DAYS - 1))
        rows.extend(
            await _calendar_window(client, path, adapter, window_start, window_end, symbols)
        )
        window_start = window_end + timedelta(days=1)
    return _oldest_first([r for r in rows if start <= r.ex_date <= end])


async def _calendar_window(
    client: FmpClient,
    path: str,
    adapter: TypeAdapter[list[A]],
    start: date,
    end: date,
    symbols: Collection[str],
) -> list[A]:
    params = {"from": start.isoformat(), "to": end.isoformat()}
    payload: Any = await client.get_json(path, params, exact_decimals=True)
    if not isinstance(payload, list):
        parse_payload(adapter, payload, path)  # raises: not a list
    if len(payload) >= CALENDAR_MAX_ROWS:
        if start == end:
            raise FmpCalendarTruncatedError(
                f"FMP /{path} lists {len(payload):,} rows for {start} alone, as many as "
                "one answer holds: some may be missing",
                path=path,
            )
        middle = start + (end - start) // 2
        return [
            *await _calendar_window(client, path, adapter, start, middle, symbols),
            *await _calendar_window(
                client, path, adapter, middle + timedelta(days=1), end, symbols
            ),
        ]
    # Only the rows of the symbols asked about are validated: a malformed row of some
    # other listing in the world must not cost the whole calendar.
    wanted = {s.upper() for s in symbols}
    ours = [
        item
        for item in payload
        if isinstance(item, dict) and str(item.get("symbol", "")).strip().upper() in wanted
    ]
    return parse_payload(adapter, ours, path)


async def splits_calendar(
    client: FmpClient, start: date, end: date, symbols: Collection[str]
) -> list[FmpSplit]:
    """Splits with an ex-date in [start, end] of those of ``symbols`` that have one,
    oldest first (one request per 90 days, whatever the number of symbols)."""
    return await _calendar(client, SPLITS_CALENDAR_PATH, _SPLITS, start, end, symbols)


async def dividends_calendar(
    client: FmpClient, start: date, end: date, symbols: Collection[str]
) -> list[FmpDividend]:
    """Cash dividends with an ex-date in [start, end] of those of ``symbols`` that have
    one, oldest first (one request per 90 days, whatever the number of symbols)."""
    return await _calendar(client, DIVIDENDS_CALENDAR_PATH, _DIVIDENDS, start, end, symbols)
