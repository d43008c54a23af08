"""Prices, splits, dividends and profiles on the fake FMP server, in FMP's response shapes.

A :class:`FakeSecurity` is one listing's history as of its last day: its total-return
closes (what ``historical-price-eod/dividend-adjusted`` answers then), its splits and its
cash dividends (per share as traded on the ex-date). From them follow, consistently, the
close as traded of every day (``non-split-adjusted``) and the split-adjusted one
(``full``): going back from the last day, each action's factor (D / N for a split,
``1 - dividend / close the day before`` for a dividend, the convention FMP's adjusted
series follows) divides the total-return close into the traded one.

A :class:`FakeMarket` serves securities up to its ``asof`` day, as FMP would have then:
days after it do not exist yet, and the total-return closes are scaled for the actions up
to it only, so moving ``asof`` past a split or dividend rescales every earlier close, as
FMP does. Its quirks, as FMP's: lists newest first; ``[]`` for a symbol it does not know;
``not_found`` symbols answer 404; calendars refuse more than 90 days (400), answer at most
``calendar_cap`` rows, list other listings of the world (one malformed), and leave some
dates ``""``; ``fake.restricted_paths`` answers 402 (plans); ``fake.rate_limit_next`` and
``fake.fail_next`` inject 429s and other faults.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from devtools.fake_fmp import STABLE, FakeFmp, FakeResponse, RecordedRequest

ONE = Decimal(1)
CENT_4 = Decimal("0.0001")
STEP_6 = Decimal("0.000001")


def market_days(start: date, count: int) -> list[date]:
    """``count`` weekdays from ``start`` (the fake market trades every weekday)."""
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def random_walk(
    count: int, *, seed: int, first: float = 100.0, vol: float = 0.015
) -> list[Decimal]:
    """``count`` positive closes (4 decimals) of a seeded random walk."""
    rng = random.Random(seed)
    closes, level = [], first
    for _ in range(count):
        closes.append(Decimal(f"{level:.4f}"))
        level *= 1 + rng.gauss(0.0003, vol)
    return closes


def quarterly(
    days: Sequence[date], amount: Decimal, *, every: int = 63, first: int = 20
) -> dict[date, Decimal]:
    """A dividend of ``amount`` every ``every`` trading days from day ``first``."""
    return {days[i]: amount for i in range(first, len(days), every)}


@dataclass
class FakeSecurity:
    symbol: str
    days: list[date]
    total_return: list[Decimal]
    """Total-return closes as of the last day (FMP's dividend-adjusted series then)."""
    splits: dict[date, tuple[int, int]] = field(default_factory=dict)
    dividends: dict[date, Decimal] = field(default_factory=dict)
    volume: int = 1_000_000

    def __post_init__(self) -> None:
        assert len(self.days) == len(self.total_return) and self.days == sorted(self.days)
        assert not set(self.splits) & set(self.dividends), "one action per ex-date here"
        self._factor_after = self._factors()

    def _factors(self) -> list[Decimal]:
        """For each day, the product of the factors of the actions after it."""
        out = [ONE] * len(self.days)
        running = ONE
        for i in range(len(self.days) - 1, -1, -1):
            out[i] = running
            day = self.days[i]
            if i == 0:
                break
            if day in self.splits:
                numerator, denominator = self.splits[day]
                running *= Decimal(denominator) / Decimal(numerator)
            elif day in self.dividends:
                # f = 1 - D / P(prev) with P(prev) = TR(prev) / (F(day) * f): solved for f.
                amount = self.dividends[day]
                running *= ONE / (ONE + amount * running / self.total_return[i - 1])
        return out

    def index(self, day: date) -> int:
        return self.days.index(day)

    def traded(self, i: int) -> Decimal:
        """Day i's close as traded (to the same 6 decimals as the total return, so the two
        are one number on days no action follows)."""
        return (self.total_return[i] / self._factor_after[i]).quantize(STEP_6)

    def _rescale(self, asof: date) -> Decimal:
        """The factor of the actions after ``asof``: as of then, they were not in the
        series yet, so its closes were the final ones divided by it."""
        last = bisect_right(self.days, asof) - 1  # days are sorted (checked above)
        return ONE if last < 0 else self._factor_after[last]

    def total_return_asof(self, i: int, asof: date) -> Decimal:
        return (self.total_return[i] / self._rescale(asof)).quantize(STEP_6)

    def split_adjusted(self, i: int, asof: date) -> Decimal:
        factor = ONE
        for day, (numerator, denominator) in self.splits.items():
            if self.days[i] < day <= asof:
                factor *= Decimal(denominator) / Decimal(numerator)
        return (self.traded(i) * factor).quantize(CENT_4)

    def split_factor_after(self, day: date, asof: date) -> Decimal:
        factor = ONE
        for ex, (numerator, denominator) in self.splits.items():
            if day < ex <= asof:
                factor *= Decimal(denominator) / Decimal(numerator)
        return factor

    def revise(self, day: date, factor: Decimal) -> None:
        """The provider corrects ``day``'s close (both series) by ``factor``."""
        i = self.index(day)
        self.total_return[i] = (self.total_return[i] * factor).quantize(CENT_4)
        self._factor_after = self._factors()

    def with_split(self, symbol: str, on: date, numerator: int, denominator: int) -> FakeSecurity:
        """This security's twin that split ``numerator`` for ``denominator`` on ``on``:
        the same returns, so its total-return closes are these times D / N (exactly, for
        a 4:1 split of 4-decimal closes), its later closes and dividends D / N of these."""
        ratio = Decimal(denominator) / Decimal(numerator)
        return FakeSecurity(
            symbol,
            list(self.days),
            [(c * ratio).quantize(STEP_6) for c in self.total_return],
            {**self.splits, on: (numerator, denominator)},
            {d: (a * ratio if d >= on else a) for d, a in self.dividends.items()},
            self.volume,
        )


def _num(value: Decimal) -> float:
    return float(value)


class FakeMarket:
    """Securities and profiles served by a fake FMP, as of ``asof``."""

    def __init__(
        self,
        securities: Iterable[FakeSecurity] = (),
        profiles: dict[str, dict[str, Any]] | None = None,
        *,
        asof: date | None = None,
    ) -> None:
        self.securities = {s.symbol: s for s in securities}
        self.profiles = dict(profiles or {})
        self.asof = asof or max((s.days[-1] for s in self.securities.values()), default=date.max)
        self.not_found: set[str] = set()
        """Symbols whose per-symbol endpoints answer 404."""
        self.bad_payload: set[str] = set()
        """Symbols whose price series carry a negative close (an answer we cannot use)."""
        self.unlisted: set[str] = set()
        """Symbols whose actions the calendars leave out (FMP's calendars miss some)."""
        self.calendar_cap = 3_000
        self.foreign_per_day = 1
        """Rows of the world's other listings the calendars hold per day (every third day
        when 1; 0: none)."""

    def add(self, security: FakeSecurity) -> None:
        self.securities[security.symbol] = security

    def serve(self, fake: FakeFmp) -> FakeMarket:
        routes = {
            "historical-price-eod/full": self._full,
            "historical-price-eod/non-split-adjusted": self._traded,
            "historical-price-eod/dividend-adjusted": self._total_return,
            "splits": self._splits,
            "dividends": self._dividends,
            "splits-calendar": self._splits_calendar,
            "dividends-calendar": self._dividends_calendar,
            "profile": self._profile,
        }
        for path, handler in routes.items():
            fake.add_route(f"{STABLE}/{path}", handler)
        return self

    # -- per symbol ----------------------------------------------------------------------

    def _security(self, request: RecordedRequest) -> FakeSecurity | FakeResponse | None:
        symbol = request.query.get("symbol", "")
        if not symbol:
            return FakeResponse.text("Invalid or missing query parameter: symbol", 400)
        if symbol in self.not_found:
            return FakeResponse.json({"message": "Not Found"}, 404)
        return self.securities.get(symbol)

    def _series(self, request: RecordedRequest, row: Any) -> FakeResponse:
        found = self._security(request)
        if isinstance(found, FakeResponse):
            return found
        if found is None:
            return FakeResponse.json([])
        start = request.query.get("from", "0001-01-01")
        end = min(request.query.get("to", "9999-12-31"), self.asof.isoformat())
        rows = [
            row(found, i) for i, day in enumerate(found.days) if start <= day.isoformat() <= end
        ]
        if found.symbol in self.bad_payload and rows:
            rows[0] = {**rows[0], "adjClose": -1.0, "close": -1.0}
        return FakeResponse.json(rows[::-1])

    def _adjusted_row(self, security: FakeSecurity, i: int, close: Decimal) -> dict[str, Any]:
        return {
            "symbol": security.symbol,
            "date": security.days[i].isoformat(),
            "adjOpen": _num(close),
            "adjHigh": _num(close),
            "adjLow": _num(close),
            "adjClose": _num(close),
            "volume": security.volume + i,
        }

    def _traded(self, request: RecordedRequest) -> FakeResponse:
        return self._series(request, lambda s, i: self._adjusted_row(s, i, s.traded(i)))

    def _total_return(self, request: RecordedRequest) -> FakeResponse:
        return self._series(
            request, lambda s, i: self._adjusted_row(s, i, s.total_return_asof(i, self.asof))
        )

    def _full(self, request: RecordedRequest) -> FakeResponse:
        def row(s: FakeSecurity, i: int) -> dict[str, Any]:
            close = _num(s.split_adjusted(i, self.asof))
            return {
                "symbol": s.symbol,
                "date": s.days[i].isoformat(),
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "volume": s.volume + i,
                "change": 0.0,
                "changePercent": 0.0,
                "vwap": close,
            }

        return self._series(request, row)

    def _announced(self, day: date) -> bool:
        """Per-symbol lists include actions announced for the next month."""
        return day <= self.asof + timedelta(days=30)

    def _split_row(self, symbol: str, day: date, ratio: tuple[int, int]) -> dict[str, Any]:
        return {
            "symbol": symbol,
            "date": day.isoformat(),
            "numerator": ratio[0],
            "denominator": ratio[1],
            "splitType": "stock-split",
        }

    def _dividend_row(
        self, security: FakeSecurity, day: date, amount: Decimal, *, calendar: bool
    ) -> dict[str, Any]:
        adjusted = amount * security.split_factor_after(day, self.asof)
        return {
            "symbol": security.symbol,
            "date": day.isoformat(),
            "recordDate": (day + timedelta(days=1)).isoformat(),
            "paymentDate": "" if calendar else (day + timedelta(days=14)).isoformat(),
            "declarationDate": "",
            "adjDividend": _num(adjusted),
            "dividend": _num(amount),
            "yield": 1.5,
            "frequency": "Quarterly",
        }

    def _splits(self, request: RecordedRequest) -> FakeResponse:
        found = self._security(request)
        if isinstance(found, FakeResponse):
            return found
        if found is None:
            return FakeResponse.json([])
        rows = [
            self._split_row(found.symbol, day, ratio)
            for day, ratio in sorted(found.splits.items(), reverse=True)
            if self._announced(day)
        ]
        return FakeResponse.json(rows)

    def _dividends(self, request: RecordedRequest) -> FakeResponse:
        found = self._security(request)
        if isinstance(found, FakeResponse):
            return found
        if found is None:
            return FakeResponse.json([])
        rows = [
            self._dividend_row(found, day, amount, calendar=False)
            for day, amount in sorted(found.dividends.items(), reverse=True)
            if self._announced(day)
        ]
        return FakeResponse.json(rows)

    # -- calendars -----------------------------------------------------------------------

    def _calendar(
        self, request: RecordedRequest, rows_in: Any, foreign: list[dict[str, Any]]
    ) -> FakeResponse:
        try:
            start = date.fromisoformat(request.query["from"])
            end = date.fromisoformat(request.query["to"])
        except (KeyError, ValueError):
            return FakeResponse.text("Invalid or missing query parameter: from, to", 400)
        if (end - start).days >= 90:
            return FakeResponse.text("Bad Request: the range is limited to 90 days", 400)
        rows = [*rows_in(start, end)]
        rows += [r for r in foreign if start.isoformat() <= r["date"] <= end.isoformat()]
        rows.sort(key=lambda r: (r["date"], r["symbol"]), reverse=True)
        return FakeResponse.json(rows[: self.calendar_cap])

    def _splits_calendar(self, request: RecordedRequest) -> FakeResponse:
        def ours(start: date, end: date) -> list[dict[str, Any]]:
            return [
                self._split_row(s.symbol, day, ratio)
                for s in self.securities.values()
                for day, ratio in s.splits.items()
                if start <= day <= end and s.symbol not in self.unlisted
            ]

        foreign = [
            self._split_row("6251.TW", day, (223, 250)) for day in self._foreign_days(request)
        ] + [
            {"symbol": "BAD.L", "date": d.isoformat(), "numerator": 0, "denominator": 0}
            for d in self._foreign_days(request)
        ]
        return self._calendar(request, ours, foreign)

    def _dividends_calendar(self, request: RecordedRequest) -> FakeResponse:
        def ours(start: date, end: date) -> list[dict[str, Any]]:
            return [
                self._dividend_row(s, day, amount, calendar=True)
                for s in self.securities.values()
                for day, amount in s.dividends.items()
                if start <= day <= end and s.symbol not in self.unlisted
            ]

        foreign = [
            {
                "symbol": "1D0.SI",
                "date": day.isoformat(),
                "recordDate": "",
                "paymentDate": "",
                "declarationDate": "",
                "adjDividend": 0.01,
                "dividend": 0.01,
                "yield": 6.25,
                "frequency": "Semi-Annual",
            }
            for day in self._foreign_days(request)
        ]
        return self._calendar(request, ours, foreign)

    def _foreign_days(self, request: RecordedRequest) -> list[date]:
        """A day per foreign row: every third day, or ``foreign_per_day`` rows every day."""
        try:
            start = date.fromisoformat(request.query["from"])
            end = date.fromisoformat(request.query["to"])
        except (KeyError, ValueError):
            return []
        span = range((end - start).days + 1)
        if self.foreign_per_day == 0:
            return []
        if self.foreign_per_day == 1:
            return [start + timedelta(days=k) for k in span[::3]]
        return [start + timedelta(days=k) for k in span for _ in range(self.foreign_per_day)]

    # -- profiles ------------------------------------------------------------------------

    def _profile(self, request: RecordedRequest) -> FakeResponse:
        symbol = request.query.get("symbol", "")
        if symbol in self.not_found:
            return FakeResponse.json({"message": "Not Found"}, 404)
        found = self.profiles.get(symbol)
        return FakeResponse.json([found] if found else [])


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
