"""The daily refresh (app.refresh.service) against the fake FMP over HTTP, into PostgreSQL:
an empty database with a book gets figures for every trading day in one run, the next
day adds one day, a day without trading asks one question, one symbol's trouble stays its
own, a rescaled history is noticed and recomputed, and one refresh runs at a time."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.integrations.fmp.client import FmpClient
from app.portfolios.imports import import_book
from app.refresh.lock import REFRESH_LOCK_KEY, RefreshRunningError
from app.refresh.service import RefreshReport, refresh
from tests.support.fake_fmp import FakeFmp
from tests.support.fake_fmp_market_data import (
    FakeMarket,
    FakeSecurity,
    fmp_profile,
    market_days,
    quarterly,
    random_walk,
)

pytestmark = pytest.mark.usefixtures("clean_tables")

DAYS = market_days(date(2024, 1, 1), 290)
ENTRY = 200  # the book is entered on DAYS[200]
FIRST_RUN = 240  # the first refresh runs after the close of DAYS[240]
SPLIT = 260  # SPLT splits 4 for 1 on DAYS[260]
HELD = ("AAA", "BBB", "SPLT", "GHOST")  # GHOST: a symbol FMP does not know


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
        bbb.with_split("SPLT", DAYS[SPLIT], 4, 1),
    ]
    profiles = {s.symbol: fmp_profile(s.symbol, "Information Technology") for s in securities}
    profiles["SPY"] = fmp_profile("SPY", "", is_etf=True)
    return FakeMarket(securities, profiles, asof=DAYS[FIRST_RUN])


@pytest.fixture
def market(fake_fmp: FakeFmp) -> FakeMarket:
    return _market().serve(fake_fmp)


@pytest.fixture
async def fmp(fake_fmp: FakeFmp) -> AsyncIterator[FmpClient]:
    async with FmpClient(
        fake_fmp.api_key, fake_fmp.base_url, backoff=0.001, max_backoff=0.01
    ) as client:
        yield client


async def _sql(engine: AsyncEngine, statement: str, **params: object) -> list[tuple[object, ...]]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []


@pytest.fixture
async def book(engine: AsyncEngine) -> None:
    """Two portfolios: one holding every symbol, one BBB alone."""
    for name, symbols in (("Core", HELD), ("Solo", ("BBB",))):
        await _sql(
            engine,
            "WITH p AS (INSERT INTO portfolios (name, equity_balance) VALUES (:name, 100000)"
            " RETURNING id)"
            " INSERT INTO positions (portfolio_id, symbol, position_type, quantity,"
            " entry_price, entry_date) SELECT p.id, s, 'LONG', 100, 50, :entry"
            " FROM p, unnest(CAST(:symbols AS text[])) s",
            name=name,
            symbols=list(symbols),
            entry=DAYS[ENTRY],
        )


async def _run(
    engine: AsyncEngine,
    fmp: FmpClient,
    through: date,
    *,
    catch_up: bool = False,
    factor_etfs: tuple[str, ...] = (),
) -> tuple[RefreshReport, int]:
    """A refresh (by default without the factor ETFs, so counts are the book's own)."""
    before = fmp.request_count
    report = RefreshReport()
    await refresh(engine, fmp, report, through=through, catch_up=catch_up, factor_etfs=factor_etfs)
    return report, fmp.request_count - before


async def _snapshot_days(engine: AsyncEngine) -> dict[str, list[date]]:
    rows = await _sql(
        engine,
        "SELECT p.name, s.calculation_date FROM portfolio_snapshots s"
        " JOIN portfolios p ON p.id = s.portfolio_id ORDER BY 1, 2",
    )
    out: dict[str, list[date]] = {}
    for name, day in rows:
        out.setdefault(str(name), []).append(day)  # type: ignore[arg-type]
    return out


async def _figures_dump(engine: AsyncEngine) -> list[tuple[object, ...]]:
    return await _sql(
        engine,
        "SELECT s.portfolio_id, s.calculation_date, s.market_beta_weighted, s.updated_at"
        " FROM portfolio_snapshots s ORDER BY 1, 2",
    )


@pytest.mark.usefixtures("book")
async def test_one_run_takes_an_empty_database_to_figures_for_every_trading_day(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    report, requests = await _run(engine, fmp, DAYS[FIRST_RUN])

    assert report.market_day == DAYS[FIRST_RUN] and report.stored_market_day is None
    statuses = {s.symbol: s.status for s in report.symbols}
    assert statuses == {"AAA": "loaded", "BBB": "loaded", "SPLT": "loaded", "SPY": "loaded",
                        "GHOST": "unknown"}  # fmt: skip
    # Unknown to FMP: reported, positions show no_prices, but not a failure.
    assert report.no_prices == ["GHOST"]
    assert report.failures() == [] and report.exit_code == 0
    assert report.weights is not None and report.weights.status == "seeded"
    assert {p.symbol for p in report.profiles if p.status == "loaded"} == {
        "AAA", "BBB", "SPLT", "SPY"
    }  # fmt: skip
    expected = DAYS[ENTRY : FIRST_RUN + 1]
    assert await _snapshot_days(engine) == {"Core": expected, "Solo": expected}
    assert report.requests == requests == len(fake_fmp.requests)

    # Right after: nothing changes, and FMP is asked one question.
    before = await _figures_dump(engine)
    fake_fmp.requests.clear()
    again, requests = await _run(engine, fmp, DAYS[FIRST_RUN])
    assert requests == again.requests == 1 and not again.fetched and again.symbols == []
    assert again.exit_code == 0 and again.figures.due == []
    assert again.no_prices == ["GHOST"]  # still reported
    assert await _figures_dump(engine) == before


@pytest.mark.usefixtures("book")
async def test_the_next_day_adds_exactly_one_day_with_about_one_request_per_symbol(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _run(engine, fmp, DAYS[FIRST_RUN])
    before = await _snapshot_days(engine)
    market.asof = DAYS[FIRST_RUN + 1]
    fake_fmp.requests.clear()

    report, requests = await _run(engine, fmp, DAYS[FIRST_RUN + 1])

    assert report.exit_code == 0, report.failures()
    assert {s.symbol: s.status for s in report.symbols if s.status != "unknown"} == {
        "AAA": "updated", "BBB": "updated", "SPLT": "updated", "SPY": "updated"
    }  # fmt: skip
    after = await _snapshot_days(engine)
    assert {k: v[len(before[k]) :] for k, v in after.items()} == {
        "Core": [DAYS[FIRST_RUN + 1]],
        "Solo": [DAYS[FIRST_RUN + 1]],
    }
    assert {k: v[: len(before[k])] for k, v in after.items()} == before
    # The market's day, the two calendars, one series per known symbol, and GHOST's series
    # tried again (no profile is asked of a symbol FMP has no prices of).
    assert requests == 1 + 2 + 4 + 1
    assert report.weights is not None and report.weights.status == "current"


@pytest.mark.usefixtures("book")
async def test_a_day_without_trading_asks_one_question_and_catch_up_asks_the_rest(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    friday = next(i for i in range(FIRST_RUN, len(DAYS)) if DAYS[i].weekday() == 4)
    market.asof = DAYS[friday]
    await _run(engine, fmp, DAYS[friday])
    saturday, sunday = DAYS[friday] + timedelta(days=1), DAYS[friday] + timedelta(days=2)

    for day in (saturday, sunday):
        report, requests = await _run(engine, fmp, day)
        assert requests == 1 and report.market_day == DAYS[friday]
        assert report.exit_code == 0 and not report.fetched

    # --catch-up asks anyway: the symbols are current, GHOST is tried again.
    report, requests = await _run(engine, fmp, sunday, catch_up=True)
    assert report.fetched and {s.status for s in report.symbols} == {"current", "unknown"}
    assert requests == 1 + 1  # the market's day and GHOST's series


@pytest.mark.usefixtures("book")
async def test_a_404_symbol_and_a_429_burst_leave_the_others_current_and_a_rerun_finishes(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    market.not_found = {"BBB"}
    fake_fmp.rate_limit_next(3)  # FMP's 429 burst: retried by the client, then answered

    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN])

    assert report.exit_code == 1
    statuses = {s.symbol: s.status for s in report.symbols}
    assert statuses["BBB"] == "failed" and statuses["AAA"] == statuses["SPY"] == "loaded"
    failures = report.failures()
    assert any(f.startswith("BBB: FMP answered 404") for f in failures), failures
    assert sum(1 for r in fake_fmp.requests if r.path.endswith("dividend-adjusted")) > 5
    # Solo holds only BBB: computed, BBB's figures NULL for want of prices; stored anyway.
    days = await _snapshot_days(engine)
    assert days["Core"] == days["Solo"] == DAYS[ENTRY : FIRST_RUN + 1]

    # FMP answers again: BBB loads, and the figures that were computed without it are
    # marked stale and computed again from their first day; the mark is cleared.
    market.not_found = set()
    before = {row[:2]: row[3] for row in await _figures_dump(engine)}
    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN], catch_up=True)
    assert report.exit_code == 0, report.failures()
    assert {m.portfolio_name for m in report.marked} == {"Core", "Solo"}
    assert {m.stale_from for m in report.marked} == {DAYS[ENTRY]}
    after = {row[:2]: row[3] for row in await _figures_dump(engine)}
    assert after.keys() == before.keys()
    assert all(after[k] > before[k] for k in before)  # every one recomputed
    assert await _sql(engine, "SELECT count(*) FROM portfolios WHERE stale_from IS NOT NULL") == [
        (0,)
    ]


@pytest.mark.usefixtures("book")
async def test_a_history_the_provider_revised_is_reloaded_and_its_figures_recomputed(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _run(engine, fmp, DAYS[FIRST_RUN])
    revised = DAYS[FIRST_RUN - 2]
    market.securities["AAA"].revise(revised, Decimal("1.05"))
    market.asof = DAYS[FIRST_RUN + 1]
    before = {row[:2]: row[3] for row in await _figures_dump(engine)}

    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN + 1])

    aaa = next(s for s in report.symbols if s.symbol == "AAA")
    assert aaa.status == "reloaded" and aaa.changed_from == revised
    assert [(m.portfolio_name, m.stale_from) for m in report.marked] == [("Core", revised)]
    after = {row[:2]: row[3] for row in await _figures_dump(engine)}
    core = {k for k in before if k[1] >= revised and after[k] != before[k]}
    assert {k[1] for k in core} == {revised, DAYS[FIRST_RUN - 1], DAYS[FIRST_RUN]}
    assert all(after[k] == before[k] for k in before if k[1] < revised)


@pytest.mark.usefixtures("book")
async def test_a_split_after_the_first_load_reloads_the_symbol_without_touching_figures(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _run(engine, fmp, DAYS[FIRST_RUN])
    market.asof = DAYS[SPLIT + 2]

    report, _ = await _run(engine, fmp, DAYS[SPLIT + 2])

    splt = next(s for s in report.symbols if s.symbol == "SPLT")
    assert splt.status == "reloaded" and splt.changed_from is None  # a rescale only
    assert report.marked == [] and report.exit_code == 0
    assert await _sql(
        engine, "SELECT symbol, ex_date FROM corporate_actions WHERE kind = 'split'"
    ) == [("SPLT", DAYS[SPLIT])]
    days = await _snapshot_days(engine)
    assert days["Core"][-1] == DAYS[SPLIT + 2]


@pytest.mark.usefixtures("book")
async def test_a_second_refresh_says_which_one_is_running_and_does_nothing(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    async with engine.connect() as holder:
        await holder.execute(text("SET application_name = 'refresh.py pid 4242 on host'"))
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": REFRESH_LOCK_KEY})
        await holder.commit()
        with pytest.raises(RefreshRunningError, match=r"refresh\.py pid 4242 on host") as raised:
            await _run(engine, fmp, DAYS[FIRST_RUN])
        assert raised.value.exit_code == 3
        assert fake_fmp.requests == []
    # Released with its connection: the next one runs.
    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN])
    assert report.exit_code == 0


@pytest.mark.usefixtures("book")
async def test_sector_weights_are_seeded_again_once_older_than_the_setting(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _run(engine, fmp, DAYS[FIRST_RUN])
    seeded = await _sql(engine, "SELECT DISTINCT asof_date FROM benchmarks_sector_weights")
    # As if seeded 31 days before the next trading day: not older than the setting yet.
    await _sql(
        engine,
        "UPDATE benchmarks_sector_weights SET asof_date = :day",
        day=DAYS[FIRST_RUN + 1] - timedelta(days=31),
    )
    market.asof = DAYS[FIRST_RUN + 1]
    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN + 1])
    assert report.weights is not None and report.weights.status == "current"
    assert len(fake_fmp.requests_to("sp500-constituent")) == 1  # the first run's alone

    # A trading day later they are older than 31 days: fetched again (constituents and
    # market caps).
    market.asof = DAYS[FIRST_RUN + 2]
    fake_fmp.requests.clear()
    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN + 2])
    assert report.weights is not None and report.weights.status == "seeded"
    assert len(fake_fmp.requests_to("sp500-constituent")) == 1
    now = await _sql(engine, "SELECT DISTINCT asof_date FROM benchmarks_sector_weights ORDER BY 1")
    assert now[-1] == seeded[0]


async def test_a_book_imported_through_the_import_service_is_computed_and_its_mark_cleared(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    owner, portfolio = uuid.uuid4(), uuid.uuid4()
    await _sql(
        engine,
        "INSERT INTO users (id, email, password_hash) VALUES (:owner, 'ann@example.com', 'x')",
        owner=owner,
    )
    await _sql(
        engine,
        "INSERT INTO portfolios (id, name, owner_id) VALUES (:id, 'Imported', :owner)",
        id=portfolio,
        owner=owner,
    )
    entry = DAYS[ENTRY].isoformat()
    book = f"symbol,quantity,entry_date,entry_price\nAAA,100,{entry},50\nSPLT,-40,{entry},20\n"
    async with AsyncSession(engine) as session, session.begin():
        await import_book(
            session, portfolio, book, owner=owner, as_of=DAYS[ENTRY], today=DAYS[FIRST_RUN]
        )
    assert await _sql(engine, "SELECT stale_from FROM portfolios") == [(DAYS[ENTRY],)]

    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN])

    assert report.exit_code == 0, report.failures()
    assert await _snapshot_days(engine) == {"Imported": DAYS[ENTRY : FIRST_RUN + 1]}
    assert report.figures.marks_cleared == 1
    assert await _sql(engine, "SELECT stale_from FROM portfolios") == [(None,)]


@pytest.mark.usefixtures("book")
async def test_calendars_outside_the_plan_fall_back_to_each_symbol_and_retry_after_is_waited(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient, market: FakeMarket
) -> None:
    await _run(engine, fmp, DAYS[FIRST_RUN])
    market.asof = DAYS[FIRST_RUN + 1]
    fake_fmp.restricted_paths |= {"/stable/splits-calendar", "/stable/dividends-calendar"}
    # A 429 with Retry-After on the first request: waited, then answered.
    fake_fmp.fail_next(
        1, 429, body='{"Error Message": "Limit Reach"}', headers={"Retry-After": "1"}
    )
    fake_fmp.requests.clear()
    started = time.monotonic()

    report, requests = await _run(engine, fmp, DAYS[FIRST_RUN + 1])

    assert time.monotonic() - started >= 1.0
    assert report.exit_code == 0, report.failures()
    assert any("HTTP 402" in note for note in report.notes), report.notes
    appended = ["AAA", "BBB", "SPLT", "SPY"]
    assert {s.symbol: s.status for s in report.symbols if s.symbol in appended} == dict.fromkeys(
        appended, "updated"
    )
    # The 429 and its retry, the two refused calendars, splits and dividends of each
    # appended symbol, one series each, and GHOST's.
    assert requests == 2 + 2 + 2 * len(appended) + len(appended) + 1
    assert len(fake_fmp.requests_to("splits")) == len(appended)


@pytest.mark.usefixtures("book")
async def test_the_factor_etfs_are_brought_like_held_symbols(
    engine: AsyncEngine, fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    market = _market()
    market.securities["TLT"] = FakeSecurity("TLT", DAYS, random_walk(len(DAYS), seed=7))
    market.serve(fake_fmp)

    report, _ = await _run(engine, fmp, DAYS[FIRST_RUN], factor_etfs=("TLT", "SPY"))

    assert {s.symbol: s.status for s in report.symbols}["TLT"] == "loaded"
    stored = await _sql(engine, "SELECT count(*) FROM daily_prices WHERE symbol = 'TLT'")
    assert stored == [(FIRST_RUN + 1,)]
