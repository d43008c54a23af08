"""FMP's price series, splits, dividends and their calendars against the fake FMP over real
HTTP: the documented shapes, their quirks, and answers that cannot be used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.integrations.fmp import actions as fmp_actions
from app.integrations.fmp.actions import (
    FmpCalendarTruncatedError,
    dividends,
    dividends_calendar,
    splits,
    splits_calendar,
)
from app.integrations.fmp.client import FmpBadResponseError, FmpClient, FmpPlanError
from app.integrations.fmp.prices import total_return_closes, traded_closes
from tests.support.fake_fmp import STABLE, FakeFmp, FakeResponse, RecordedRequest


@pytest.fixture
async def fmp(fake_fmp: FakeFmp) -> AsyncIterator[FmpClient]:
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.001) as client:
        yield client


def _serve(fake: FakeFmp, path: str, payload: Any) -> None:
    fake.add_route(f"{STABLE}/{path}", lambda request: FakeResponse.json(payload))


async def test_dividends_come_oldest_first_with_blank_dates_and_the_adjusted_amount_standing_in(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    _serve(
        fake_fmp,
        "dividends",
        [
            {
                "symbol": "AAPL",
                "date": "2025-08-11",
                "recordDate": "2025-08-11",
                "paymentDate": "2025-08-14",
                "declarationDate": "2025-07-31",
                "adjDividend": 0.26,
                "dividend": 0.26,
                "yield": 0.44,
                "frequency": "Quarterly",
            },
            {
                "symbol": "AAPL",
                "date": "1995-11-21",
                "recordDate": "",
                "paymentDate": "",
                "declarationDate": "",
                "adjDividend": 0.00107,
                "dividend": None,
                "yield": 0,
                "frequency": "Quarterly",
            },
        ],
    )
    got = await dividends(fmp, "AAPL")
    assert [(d.ex_date, d.amount, d.payment_date) for d in got] == [
        (date(1995, 11, 21), Decimal("0.00107"), None),
        (date(2025, 8, 11), Decimal("0.26"), date(2025, 8, 14)),
    ]
    assert all(isinstance(d.amount, Decimal) for d in got)


async def test_splits_come_oldest_first_as_numerator_and_denominator(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    _serve(
        fake_fmp,
        "splits",
        [
            {"symbol": "AAPL", "date": "2020-08-31", "numerator": 4, "denominator": 1},
            {"symbol": "AAPL", "date": "2014-06-09", "numerator": 7, "denominator": 1},
        ],
    )
    got = await splits(fmp, "AAPL")
    assert [(s.ex_date, s.numerator, s.denominator) for s in got] == [
        (date(2014, 6, 9), 7, 1),
        (date(2020, 8, 31), 4, 1),
    ]
    (request,) = fake_fmp.requests
    assert request.query == {"symbol": "AAPL"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([{"symbol": "MSFT", "date": "2020-08-31", "numerator": 4, "denominator": 1}], "MSFT"),
        ([{"symbol": "AAPL", "date": "2020-08-31", "numerator": 0, "denominator": 1}], "numerator"),
        ({"Error Message": "Something went wrong"}, "Something went wrong"),
        ({"historical": []}, "unexpected shape"),
    ],
)
async def test_an_answer_that_cannot_be_used_is_a_bad_response(
    fake_fmp: FakeFmp, fmp: FmpClient, payload: Any, message: str
) -> None:
    _serve(fake_fmp, "splits", payload)
    with pytest.raises(FmpBadResponseError, match=message):
        await splits(fmp, "AAPL")


async def test_price_series_read_adj_close_and_refuse_a_repeated_day_or_another_symbol(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    row = {
        "symbol": "AAPL",
        "date": "2025-02-04",
        "adjOpen": 1,
        "adjHigh": 2,
        "adjLow": 0.5,
        "adjClose": 232.8,
        "volume": 44489128,
    }
    older = {**row, "date": "2025-02-03", "adjClose": 228.01}
    _serve(fake_fmp, "historical-price-eod/non-split-adjusted", [row, older])
    got = await traded_closes(fmp, "AAPL", date(2025, 2, 1), date(2025, 2, 4))
    assert [(r.date, r.close, r.volume) for r in got] == [
        (date(2025, 2, 3), Decimal("228.01"), 44489128),
        (date(2025, 2, 4), Decimal("232.8"), 44489128),
    ]
    _serve(fake_fmp, "historical-price-eod/dividend-adjusted", [row, row])
    with pytest.raises(FmpBadResponseError, match="lists a date twice"):
        await total_return_closes(fmp, "AAPL", date(2025, 2, 1), date(2025, 2, 4))
    _serve(fake_fmp, "historical-price-eod/dividend-adjusted", [{**row, "symbol": "MSFT"}])
    with pytest.raises(FmpBadResponseError, match=r"returned rows for \['MSFT'\]"):
        await total_return_closes(fmp, "AAPL", date(2025, 2, 1), date(2025, 2, 4))


def _calendar_route(fake: FakeFmp, rows_per_day: int) -> None:
    def answer(request: RecordedRequest) -> FakeResponse:
        start = date.fromisoformat(request.query["from"])
        end = date.fromisoformat(request.query["to"])
        if (end - start).days >= 90:
            return FakeResponse.text("Bad Request: at most 90 days", 400)
        rows = [
            {
                "symbol": f"W{k}.XX",
                "date": (start + timedelta(days=d)).isoformat(),
                "numerator": 2,
                "denominator": 1,
            }
            for d in range((end - start).days + 1)
            for k in range(rows_per_day)
        ]
        rows.append({"symbol": "AAPL", "date": end.isoformat(), "numerator": 4, "denominator": 1})
        return FakeResponse.json(rows[::-1][: fmp_actions.CALENDAR_MAX_ROWS])

    fake.add_route(f"{STABLE}/splits-calendar", answer)


async def test_a_long_calendar_range_is_asked_in_90_day_windows(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    _calendar_route(fake_fmp, rows_per_day=1)
    got = await splits_calendar(fmp, date(2025, 1, 1), date(2025, 7, 31), ["AAPL"])
    windows = [(r.query["from"], r.query["to"]) for r in fake_fmp.requests]
    assert windows == [
        ("2025-01-01", "2025-03-31"),
        ("2025-04-01", "2025-06-29"),
        ("2025-06-30", "2025-07-31"),
    ]
    # Only the symbols asked about: one AAPL split at the end of each window.
    assert [(s.symbol, s.ex_date) for s in got] == [
        ("AAPL", date(2025, 3, 31)),
        ("AAPL", date(2025, 6, 29)),
        ("AAPL", date(2025, 7, 31)),
    ]


async def test_a_single_day_that_fills_an_answer_is_an_error_the_caller_can_work_around(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    _calendar_route(fake_fmp, rows_per_day=fmp_actions.CALENDAR_MAX_ROWS)
    with pytest.raises(FmpCalendarTruncatedError, match="as many as one answer holds"):
        await splits_calendar(fmp, date(2025, 1, 1), date(2025, 1, 4), ["AAPL"])
    # Halved down to single days: 4 days -> 2 + 2 -> the first day alone.
    assert [(r.query["from"], r.query["to"]) for r in fake_fmp.requests] == [
        ("2025-01-01", "2025-01-04"),
        ("2025-01-01", "2025-01-02"),
        ("2025-01-01", "2025-01-01"),
    ]


async def test_a_calendar_outside_the_plan_is_a_plan_error_and_every_request_is_counted(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    fake_fmp.restricted_paths.add(f"{STABLE}/dividends-calendar")
    with pytest.raises(FmpPlanError, match="402"):
        await dividends_calendar(fmp, date(2025, 1, 1), date(2025, 1, 2), ["AAPL"])
    fake_fmp.fail_next(2, 503)
    _serve(fake_fmp, "splits", [])
    assert await splits(fmp, "AAPL") == []
    assert fmp.requests_sent == {"dividends-calendar": 1, "splits": 3}
    assert fmp.request_count == 4
