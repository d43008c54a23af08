"""Bringing prices current from FMP (app.prices.sync) against the fake FMP over HTTP, into
PostgreSQL: what is asked, how many requests it takes, what is stored, and how one
symbol's trouble stays its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.fmp.client import FmpAuthError, FmpClient
from app.models import CorporateAction, DailyPrice, SecurityProfile
from app.prices.actions import actions_of, split_factor
from app.prices.repository import PriceRow, upsert_prices
from app.prices.sources import StoredRows
from app.prices.sync import (
    HISTORY_SPAN,
    SymbolSync,
    SyncPlan,
    fetch_missing_profiles,
    last_completed_trading_day,
    plan_sync,
    run_sync,
)
from tests.support.fake_fmp import FakeFmp
from tests.support.fake_fmp_market_data import (
    FakeMarket,
    FakeSecurity,
    fmp_profile,
    market_days,
    quarterly,
    random_walk,
)

NEW_YORK = ZoneInfo("America/New_York")
DAYS = market_days(date(2024, 1, 1), 300)
SPLIT_DAY = DAYS[280]
OVERLAP = 5
PRICE_PATHS = ("historical-price-eod/dividend-adjusted", "historical-price-eod/non-split-adjusted")
CALENDARS = ("/stable/splits-calendar", "/stable/dividends-calendar")


def _market() -> FakeMarket:
    bbb = FakeSecurity("BBB", DAYS, random_walk(len(DAYS), seed=3, first=80))
    securities = [
        FakeSecurity(
            "SPY",
            DAYS,
            random_walk(len(DAYS), seed=1, first=400, vol=0.01),
            dividends=quarterly(DAYS, Decimal("1.50")),
        ),
        FakeSecurity(
            "AAA",
            DAYS,
            random_walk(len(DAYS), seed=2),
            dividends=quarterly(DAYS, Decimal("0.40"), first=30),
        ),
        bbb,
        bbb.with_split("SPLT", SPLIT_DAY, 4, 1),
        *(FakeSecurity(f"S{k}", DAYS, random_walk(len(DAYS), seed=10 + k)) for k in range(5)),
    ]
    profiles = {s.symbol: fmp_profile(s.symbol, "Technology") for s in securities}
    return FakeMarket(securities, profiles)


@pytest.fixture
def market(fake_fmp: FakeFmp) -> FakeMarket:
    return _market().serve(fake_fmp)


@pytest.fixture
async def fmp(fake_fmp: FakeFmp) -> AsyncIterator[FmpClient]:
    async with FmpClient(
        fake_fmp.api_key, fake_fmp.base_url, backoff=0.001, max_backoff=0.01
    ) as client:
        yield client


async def _sync(
    session: AsyncSession, client: FmpClient, symbols: list[str], through: date
) -> tuple[SyncPlan, dict[str, SymbolSync]]:
    plan = await plan_sync(session, client, symbols, through=through, overlap_days=OVERLAP)
    outcomes = {o.symbol: o async for o in run_sync(session, client, plan)}
    return plan, outcomes


async def _stored(session: AsyncSession, symbol: str) -> list[tuple[date, Decimal, Decimal]]:
    rows = await session.execute(
        select(DailyPrice.date, DailyPrice.close, DailyPrice.adjusted_close)
        .where(DailyPrice.symbol == symbol)
        .order_by(DailyPrice.date)
        .execution_options(populate_existing=True)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _served(market: FakeMarket, symbol: str) -> list[tuple[date, Decimal, Decimal]]:
    """What FMP says of ``symbol`` today: both closes of every day up to asof."""
    s = market.securities[symbol]
    return [
        (day, s.traded(i), s.total_return_asof(i, market.asof))
        for i, day in enumerate(s.days)
        if day <= market.asof
    ]


def _requests(fake: FakeFmp) -> list[str]:
    return [r.path.removeprefix("/stable/") for r in fake.requests]


async def _loaded(
    session: AsyncSession, fmp: FmpClient, market: FakeMarket, symbols: list[str], upto: int
) -> None:
    """Symbols stored through DAYS[upto], as a first run leaves them."""
    market.asof = DAYS[upto]
    _, outcomes = await _sync(session, fmp, symbols, DAYS[upto])
    assert {o.status for o in outcomes.values()} == {"loaded"}, outcomes


# --- a new symbol ------------------------------------------------------------------------


async def test_a_new_symbol_gets_its_whole_history_both_closes_and_its_actions(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    market.asof = DAYS[-1]
    plan, outcomes = await _sync(session, fmp, ["SPLT", "AAA"], DAYS[-1])

    assert [p.mode for p in plan.symbols] == ["load", "load"]
    assert plan.symbols[0].start == DAYS[-1] - HISTORY_SPAN
    for symbol in ("AAA", "SPLT"):
        assert outcomes[symbol].status == "loaded"
        assert outcomes[symbol].new_from == DAYS[0] and outcomes[symbol].last_date == DAYS[-1]
        assert await _stored(session, symbol) == _served(market, symbol)
    # Four requests each: the two series, splits and dividends; no calendar for new ones.
    assert sorted(_requests(fake_fmp)) == sorted([*PRICE_PATHS, "splits", "dividends"] * 2)
    assert outcomes["AAA"].requests == 4 and fmp.request_count == 8
    # The split's day: the close as traded falls to a quarter, the total return does not.
    stored = {d: (c, a) for d, c, a in await _stored(session, "SPLT")}
    before, on = stored[DAYS[279]], stored[SPLIT_DAY]
    assert on[0] / before[0] < Decimal("0.3")
    assert Decimal("0.9") < on[1] / before[1] < Decimal("1.1")
    recorded = await actions_of(session, ["SPLT", "AAA"])
    assert [(a.ex_date, a.kind) for a in recorded["SPLT"]] == [(SPLIT_DAY, "split")]
    assert len(recorded["AAA"]) == len(market.securities["AAA"].dividends)
    assert split_factor(recorded["SPLT"], DAYS[0], DAYS[-1]) == 4


async def test_an_unknown_symbol_is_reported_as_unknown_after_one_request(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    _, outcomes = await _sync(session, fmp, ["NOPE"], DAYS[-1])
    assert outcomes["NOPE"].status == "unknown"
    assert outcomes["NOPE"].reason == "FMP has no prices for NOPE"
    assert _requests(fake_fmp) == ["historical-price-eod/dividend-adjusted"]


# --- a daily run -------------------------------------------------------------------------


async def test_a_daily_run_asks_one_series_per_symbol_and_the_two_calendars(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    symbols = ["SPY", "AAA", "BBB", "S0", "S1", "S2", "S3", "S4"]
    await _loaded(session, fmp, market, symbols, 200)
    market.asof = DAYS[201]
    fake_fmp.requests.clear()
    sent = fmp.request_count

    evening = datetime.combine(DAYS[201], time(18, 0), NEW_YORK)
    day = await last_completed_trading_day(fmp, evening)
    assert day == DAYS[201]
    _, outcomes = await _sync(session, fmp, symbols, day)

    assert {o.status for o in outcomes.values()} == {"updated"}
    assert all(o.new_from == DAYS[201] and o.rows_written == 1 for o in outcomes.values())
    # The market's day (1), the two calendars (2), one series per symbol (N).
    assert fmp.request_count - sent == len(symbols) + 3
    assert sorted(_requests(fake_fmp)) == sorted(
        ["historical-price-eod/dividend-adjusted"] * (len(symbols) + 1)
        + ["splits-calendar", "dividends-calendar"]
    )
    calendar = next(r for r in fake_fmp.requests if r.path == CALENDARS[0])
    assert calendar.query == {"from": DAYS[201].isoformat(), "to": DAYS[201].isoformat()}
    # The overlap asked again, and the new day's close as traded is its total return.
    series = next(r for r in fake_fmp.requests if r.query.get("symbol") == "AAA")
    assert series.query["from"] == DAYS[201 - OVERLAP].isoformat()
    for symbol in symbols:
        assert await _stored(session, symbol) == _served(market, symbol)

    # Right after: every symbol is current, nothing is asked.
    fake_fmp.requests.clear()
    _, again = await _sync(session, fmp, symbols, day)
    assert {o.status for o in again.values()} == {"current"}
    assert fake_fmp.requests == []


async def test_a_weekend_run_asks_for_the_markets_day_once_and_nothing_else(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    friday = next(d for d in DAYS[150:] if d.weekday() == 4)
    await _loaded(session, fmp, market, ["SPY", "AAA"], DAYS.index(friday))
    fake_fmp.requests.clear()
    saturday_noon = datetime.combine(friday + timedelta(days=1), time(12, 0), NEW_YORK)

    day = await last_completed_trading_day(fmp, saturday_noon)
    assert day == friday  # the last stored SPY day: nothing is due
    _, outcomes = await _sync(session, fmp, ["SPY", "AAA"], day)
    assert {o.status for o in outcomes.values()} == {"current"}
    assert len(fake_fmp.requests) == 1


@pytest.mark.parametrize(
    ("new_york_time", "expected"),
    [
        ((2024, 3, 12, 10, 0), date(2024, 3, 11)),  # Tuesday morning: Monday's close
        ((2024, 3, 12, 16, 45), date(2024, 3, 12)),  # after the close: Tuesday
        ((2024, 3, 10, 12, 0), date(2024, 3, 8)),  # Sunday: Friday
        ((2024, 3, 11, 9, 0), date(2024, 3, 8)),  # Monday before the close: Friday
    ],
)
async def test_the_last_completed_trading_day_is_the_last_market_day_of_a_finished_session(
    fake_fmp: FakeFmp,
    fmp: FmpClient,
    market: FakeMarket,
    new_york_time: tuple[int, ...],
    expected: date,
) -> None:
    now = datetime(*new_york_time, tzinfo=NEW_YORK)  # type: ignore[misc]
    assert await last_completed_trading_day(fmp, now) == expected
    (request,) = fake_fmp.requests
    assert request.query["symbol"] == "SPY"


# --- corporate actions and revisions -----------------------------------------------------


async def test_a_split_the_calendar_names_reloads_that_symbol_at_once(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _loaded(session, fmp, market, ["SPLT", "BBB"], 279)
    market.asof = SPLIT_DAY
    fake_fmp.requests.clear()

    plan, outcomes = await _sync(session, fmp, ["SPLT", "BBB"], SPLIT_DAY)

    assert {p.symbol: p.mode for p in plan.symbols} == {"BBB": "append", "SPLT": "reload"}
    splt = outcomes["SPLT"]
    assert (splt.status, splt.new_from, splt.changed_from) == ("reloaded", SPLIT_DAY, None)
    # Its two series over the whole history; its split came with the calendar.
    assert splt.requests == 2
    assert outcomes["BBB"].status == "updated" and outcomes["BBB"].requests == 1
    assert await _stored(session, "SPLT") == _served(market, "SPLT")
    recorded = await session.scalars(
        select(CorporateAction).where(CorporateAction.symbol == "SPLT")
    )
    assert [(a.ex_date, a.split_numerator) for a in recorded] == [(SPLIT_DAY, 4)]
    # Stored before the split, now a quarter: the total-return closes of the two twins.
    bbb, split = await _stored(session, "BBB"), await _stored(session, "SPLT")
    assert [a / 4 for _, _, a in bbb] == [a for _, _, a in split]


async def test_a_dividend_the_calendars_missed_is_caught_by_the_overlap_and_reloaded(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    aaa = market.securities["AAA"]
    ex_day = max(aaa.dividends)
    await _loaded(session, fmp, market, ["AAA"], DAYS.index(ex_day) - 1)
    market.unlisted.add("AAA")
    market.asof = ex_day
    fake_fmp.requests.clear()

    _, outcomes = await _sync(session, fmp, ["AAA"], ex_day)

    out = outcomes["AAA"]
    # Every earlier total-return close was rescaled, but no return changed: nothing stored
    # before is stale.
    assert (out.status, out.new_from, out.changed_from) == ("reloaded", ex_day, None)
    assert _requests(fake_fmp) == [
        "splits-calendar",
        "dividends-calendar",
        "historical-price-eod/dividend-adjusted",  # the overlap disagrees
        *PRICE_PATHS,
        "splits",
        "dividends",
    ]
    assert await _stored(session, "AAA") == _served(market, "AAA")
    recorded = await actions_of(session, ["AAA"])
    assert recorded["AAA"][-1].ex_date == ex_day and recorded["AAA"][-1].amount == Decimal("0.4")


async def test_a_revised_close_in_the_overlap_reloads_and_names_the_day_it_changed(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _loaded(session, fmp, market, ["BBB", "S0"], 250)
    market.securities["BBB"].revise(DAYS[248], Decimal("1.01"))
    market.asof = DAYS[251]

    _, outcomes = await _sync(session, fmp, ["BBB", "S0"], DAYS[251])

    assert outcomes["BBB"].status == "reloaded"
    assert outcomes["BBB"].changed_from == DAYS[248]
    assert outcomes["BBB"].new_from == DAYS[251]
    assert outcomes["S0"].status == "updated" and outcomes["S0"].changed_from is None
    assert await _stored(session, "BBB") == _served(market, "BBB")


async def test_without_the_calendars_in_the_plan_actions_are_asked_per_symbol(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _loaded(session, fmp, market, ["SPLT", "AAA", "S0"], 279)
    fake_fmp.restricted_paths.update(CALENDARS)
    market.asof = SPLIT_DAY
    fake_fmp.requests.clear()

    plan, outcomes = await _sync(session, fmp, ["SPLT", "AAA", "S0"], SPLIT_DAY)

    assert plan.notes == [
        "/splits-calendar: not in your FMP plan (HTTP 402); asked per symbol instead",
        "/dividends-calendar: not in your FMP plan (HTTP 402); asked per symbol instead",
    ]
    asked = _requests(fake_fmp)
    assert asked.count("splits") == 3 and asked.count("dividends") == 3
    assert outcomes["SPLT"].status == "reloaded" and outcomes["SPLT"].requests == 2
    assert {outcomes["AAA"].status, outcomes["S0"].status} == {"updated"}
    assert await _stored(session, "SPLT") == _served(market, "SPLT")
    recorded = await actions_of(session, ["SPLT"], "split")
    assert [a.ex_date for a in recorded["SPLT"]] == [SPLIT_DAY]


async def test_a_calendar_that_keeps_failing_is_replaced_by_per_symbol_requests(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _loaded(session, fmp, market, ["AAA", "S0"], 200)
    market.asof = DAYS[201]
    fake_fmp.requests.clear()
    fake_fmp.fail_next(fmp.max_attempts, 503, path=CALENDARS[1])

    plan, outcomes = await _sync(session, fmp, ["AAA", "S0"], DAYS[201])

    assert plan.notes == [
        "/dividends-calendar: FMP is unavailable (HTTP 503 for /dividends-calendar): try again "
        "later (gave up after 4 attempts); asked per symbol instead"
    ]
    assert {o.status for o in outcomes.values()} == {"updated"}
    assert len(fake_fmp.requests_to("dividends")) == 2


async def test_a_full_calendar_is_asked_again_in_halves(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _loaded(session, fmp, market, ["AAA"], 200)
    market.asof = DAYS[210]
    market.foreign_per_day = 400  # the world's dividends: 14 days do not fit one answer
    fake_fmp.requests.clear()

    _, outcomes = await _sync(session, fmp, ["AAA"], DAYS[210])

    assert outcomes["AAA"].status in ("updated", "reloaded")
    for path in CALENDARS:
        windows = [
            (date.fromisoformat(r.query["from"]), date.fromisoformat(r.query["to"]))
            for r in fake_fmp.requests
            if r.path == path
        ]
        assert windows[0] == (DAYS[201], DAYS[210]) and len(windows) > 2
        # The windows answered in full were asked again in halves; the rest tile the range.
        leaves = [
            w for w in windows if not any(o != w and w[0] <= o[0] <= o[1] <= w[1] for o in windows)
        ]
        assert leaves[0][0] == DAYS[201] and leaves[-1][1] == DAYS[210]
        assert all(a[1] + timedelta(days=1) == b[0] for a, b in pairwise(leaves))
    assert await _stored(session, "AAA") == _served(market, "AAA")


# --- trouble -----------------------------------------------------------------------------


async def test_a_429_burst_is_waited_out_and_counted(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    symbols = ["AAA", "BBB", "S0"]
    await _loaded(session, fmp, market, symbols, 200)
    market.asof = DAYS[201]
    sent = fmp.request_count
    fake_fmp.fail_next(
        3, 429, body='{"Error Message": "Limit Reach"}', headers={"Retry-After": "0"}
    )

    _, outcomes = await _sync(session, fmp, symbols, DAYS[201])

    assert {o.status for o in outcomes.values()} == {"updated"}
    assert fmp.request_count - sent == len(symbols) + 2 + 3  # the three 429s were asked again


async def test_one_symbols_errors_leave_the_others_current(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    market.not_found.add("S1")
    market.bad_payload.add("S2")
    market.asof = DAYS[100]

    _, outcomes = await _sync(session, fmp, ["AAA", "NOPE", "S1", "S2", "S3"], DAYS[100])

    assert {s: o.status for s, o in outcomes.items()} == {
        "AAA": "loaded",
        "NOPE": "unknown",
        "S1": "failed",
        "S2": "failed",
        "S3": "loaded",
    }
    assert outcomes["S1"].reason == (
        "FMP answered 404 (not found) for S1 on /historical-price-eod/dividend-adjusted"
    )
    assert "S2" in (outcomes["S2"].reason or "") and "unexpected shape" in (
        outcomes["S2"].reason or ""
    )
    assert await _stored(session, "S3") == _served(market, "S3")
    assert await _stored(session, "S1") == [] and await _stored(session, "S2") == []


async def test_a_symbol_that_times_out_after_its_retries_fails_alone(
    session: AsyncSession, fake_fmp: FakeFmp, market: FakeMarket
) -> None:
    market.asof = DAYS[100]
    import httpx

    async with FmpClient(
        fake_fmp.api_key,
        fake_fmp.base_url,
        timeout=httpx.Timeout(0.3),
        max_attempts=2,
        backoff=0.001,
        max_backoff=0.01,
    ) as client:
        fake_fmp.fail_next(2, delay=1.0)  # the first symbol's two attempts
        _, outcomes = await _sync(session, client, ["AAA", "BBB"], DAYS[100])

    assert outcomes["AAA"].status == "failed"
    assert "did not answer in time" in (outcomes["AAA"].reason or "")
    assert "gave up after 2 attempts" in (outcomes["AAA"].reason or "")
    assert outcomes["BBB"].status == "loaded"


async def test_outside_the_plan_a_symbol_is_restricted_and_a_bad_key_stops_everything(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    fake_fmp.restricted_paths.add("/stable/historical-price-eod/dividend-adjusted")
    _, outcomes = await _sync(session, fmp, ["AAA"], DAYS[100])
    assert outcomes["AAA"].status == "restricted"
    assert "HTTP 402" in (outcomes["AAA"].reason or "")

    async with FmpClient("wrong-key", fake_fmp.base_url, backoff=0.001) as bad:
        with pytest.raises(FmpAuthError):
            await _sync(session, bad, ["BBB"], DAYS[100])


async def test_a_symbol_stored_from_another_source_is_left_alone_unless_replaced(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    demo = [PriceRow("AAA", d, Decimal(50), Decimal(50)) for d in DAYS[:60]]
    await upsert_prices(session, demo, "DEMO")
    market.asof = DAYS[100]

    plan, outcomes = await _sync(session, fmp, ["AAA", "BBB"], DAYS[100])

    assert [p.mode for p in plan.symbols] == ["other_source", "load"]
    refused = outcomes["AAA"]
    assert (refused.status, refused.last_date, refused.requests) == ("other_source", DAYS[59], 0)
    assert "AAA (60 rows from DEMO" in (refused.reason or "")
    assert "--replace-source" in (refused.reason or "")
    assert not [r for r in fake_fmp.requests if r.query.get("symbol") == "AAA"]
    assert {d for d, _, _ in await _stored(session, "AAA")} == set(DAYS[:60])
    assert outcomes["BBB"].status == "loaded"

    plan = await plan_sync(
        session, fmp, ["AAA", "BBB"], through=DAYS[100], overlap_days=OVERLAP, replace_source=True
    )
    outcomes = {o.symbol: o async for o in run_sync(session, fmp, plan)}
    replaced = outcomes["AAA"]
    assert replaced.status == "loaded"
    assert replaced.replaced == (StoredRows("AAA", "DEMO", 60, DAYS[0], DAYS[59]),)
    assert replaced.changed_from == DAYS[0]  # figures read the demo's closes from there
    assert await _stored(session, "AAA") == _served(market, "AAA")
    sources = await session.scalars(
        select(DailyPrice.source).where(DailyPrice.symbol == "AAA").distinct()
    )
    assert sources.all() == ["FMP"]
    assert outcomes["BBB"].status == "current"


# --- profiles ----------------------------------------------------------------------------


async def test_profiles_are_asked_for_symbols_without_one(
    session: AsyncSession, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    session.add(SecurityProfile(symbol="AAA", sector="Energy", source="CSV"))
    await session.flush()
    market.not_found.add("S1")

    found = await fetch_missing_profiles(session, fmp, ["AAA", "BBB", "NOPE", "S1"])

    assert [(p.symbol, p.status) for p in found] == [
        ("BBB", "loaded"),
        ("NOPE", "unknown"),
        ("S1", "failed"),
    ]
    assert [r.query["symbol"] for r in fake_fmp.requests] == ["BBB", "NOPE", "S1"]
    stored = dict(
        (await session.execute(select(SecurityProfile.symbol, SecurityProfile.sector))).all()
    )
    assert stored == {"AAA": "Energy", "BBB": "Information Technology"}
