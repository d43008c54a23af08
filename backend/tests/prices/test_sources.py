"""One source per symbol: a load over another source's rows is refused or, asked to,
replaces them; the engine's panel says which series mix sources, and the rule tells
which windows read two of them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DailyPrice, SecurityProfile
from app.prices.history import replace_history
from app.prices.repository import (
    PriceRow,
    ProfileRow,
    load_price_history,
    upsert_prices,
    upsert_profiles,
)
from app.prices.sources import (
    OtherSourceError,
    SourceSpan,
    StoredRows,
    mixed_in_window,
    mixed_sources_error,
    remove_source,
)

DAYS = [date(2025, 10, 13) + timedelta(days=d) for d in range(5)]  # Mon..Fri


def _prices(symbol: str, closes: list[float], days: list[date] = DAYS) -> list[PriceRow]:
    return [
        PriceRow(symbol, d, Decimal(str(c)), Decimal(str(c)))
        for d, c in zip(days, closes, strict=True)
    ]


async def _stored(session: AsyncSession) -> list[tuple[str, date, Decimal, str]]:
    rows = await session.execute(
        select(DailyPrice.symbol, DailyPrice.date, DailyPrice.close, DailyPrice.source)
        .order_by(DailyPrice.symbol, DailyPrice.date)
        .execution_options(populate_existing=True)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_a_load_over_another_sources_prices_is_refused_and_writes_nothing(
    session: AsyncSession,
) -> None:
    await upsert_prices(session, _prices("SPY", [500, 501, 502, 503, 504]), "DEMO")
    before = await _stored(session)
    # Not one date in common: the series would still mix sources.
    later = [d + timedelta(days=7) for d in DAYS]
    with pytest.raises(OtherSourceError) as refused:
        await upsert_prices(
            session,
            _prices("SPY", [600] * 5, later) + _prices("AAPL", [250] * 5, later),
            "CSV",
        )
    message = str(refused.value)
    assert message.startswith("prices of 1 symbol are stored from another source: SPY (5 rows")
    assert "from DEMO, 2025-10-13 .. 2025-10-17" in message
    assert "pass --replace-source to replace them with these CSV prices" in message
    assert "scripts/demo_data.py --remove" in message  # the other source is the demo's
    assert message.endswith("Nothing written.")
    assert refused.value.found == [StoredRows("SPY", "DEMO", 5, DAYS[0], DAYS[-1])]
    assert await _stored(session) == before  # AAPL, which had no rows, was not written either


async def test_replace_source_deletes_the_other_sources_rows_of_those_symbols_only(
    session: AsyncSession,
) -> None:
    await upsert_prices(session, _prices("SPY", [500, 501, 502, 503, 504]), "DEMO")
    await upsert_prices(session, _prices("KO", [60, 61, 62, 63, 64]), "DEMO")
    written = await upsert_prices(
        session, _prices("SPY", [600, 601], DAYS[3:]), "FMP", replace_source=True
    )
    assert written.rows == 2
    assert written.replaced == [StoredRows("SPY", "DEMO", 5, DAYS[0], DAYS[-1])]
    stored = await _stored(session)
    # SPY is FMP's alone (its three other DEMO days are gone, not left beside it); KO stays.
    assert [(s, d, src) for s, d, _, src in stored if s == "SPY"] == [
        ("SPY", DAYS[3], "FMP"),
        ("SPY", DAYS[4], "FMP"),
    ]
    assert {src for s, _, _, src in stored if s == "KO"} == {"DEMO"}
    # The same source again needs no flag: a re-load replaces values.
    again = await upsert_prices(session, _prices("SPY", [610], DAYS[4:]), "FMP")
    assert again.replaced == []
    assert [c for s, _, c, _ in await _stored(session) if s == "SPY"] == [600, 610]


async def test_replacing_a_history_obeys_the_rule_and_never_rescales_another_source(
    session: AsyncSession,
) -> None:
    # A week of the demo's SPY before the days FMP sends: a replace of FMP's own history
    # would rescale such older rows to join it; another source's are refused or deleted.
    earlier = [d - timedelta(days=7) for d in DAYS]
    await upsert_prices(session, _prices("SPY", [400, 401, 402, 403, 404], earlier), "DEMO")
    before = await _stored(session)
    fmp = _prices("SPY", [600, 601, 602], DAYS[:3])
    with pytest.raises(OtherSourceError, match=r"SPY \(5 rows from DEMO"):
        await replace_history(session, fmp, "FMP")
    assert await _stored(session) == before

    replaced = await replace_history(session, fmp, "FMP", replace_source=True)
    assert replaced.replaced == [StoredRows("SPY", "DEMO", 5, earlier[0], earlier[-1])]
    assert (replaced.rows_written, replaced.new_from) == (3, DAYS[0])
    # Figures read the demo's prices from its first day: they changed from there.
    assert replaced.changed_from == earlier[0]
    assert [(d, c, src) for _, d, c, src in await _stored(session)] == [
        (DAYS[0], 600, "FMP"),
        (DAYS[1], 601, "FMP"),
        (DAYS[2], 602, "FMP"),
    ]


async def test_profiles_follow_the_same_rule(session: AsyncSession) -> None:
    await upsert_profiles(session, [ProfileRow("AAPL", "Information Technology")], "DEMO")
    with pytest.raises(OtherSourceError, match=r"profiles of 1 symbol .* AAPL \(DEMO\)"):
        await upsert_profiles(session, [ProfileRow("AAPL", None, name="Apple")], "FMP")
    written = await upsert_profiles(
        session, [ProfileRow("AAPL", None, name="Apple")], "FMP", replace_source=True
    )
    assert written.replaced == [StoredRows("AAPL", "DEMO", 1)]
    profile = await session.scalar(
        select(SecurityProfile).execution_options(populate_existing=True)
    )
    assert profile is not None and (profile.source, profile.name) == ("FMP", "Apple")


async def test_removing_a_source_leaves_the_others(session: AsyncSession) -> None:
    await upsert_prices(session, _prices("SPY", [500] * 5), "DEMO")
    await upsert_prices(session, _prices("IBM", [200] * 5), "CSV")
    await upsert_profiles(session, [ProfileRow("SPY", None, is_etf=True)], "DEMO")
    assert await remove_source(session, "DEMO") == (5, 1)
    assert {(s, src) for s, _, _, src in await _stored(session)} == {("IBM", "CSV")}


async def test_the_panel_names_the_series_whose_loaded_prices_mix_sources(
    session: AsyncSession,
) -> None:
    await upsert_prices(session, _prices("SPY", [500, 501, 502, 503, 504]), "CSV")
    await upsert_prices(session, _prices("AAA", [10, 11, 12, 13, 14]), "CSV")
    await upsert_prices(session, _prices("BBB", [20, 21, 22, 23, 24]), "CSV")
    # Rows written by hand (or before the rule): AAA's first two days and SPY's last.
    await session.execute(
        text(
            "UPDATE daily_prices SET source = 'DEMO' WHERE (symbol = 'AAA' AND date <= "
            ":d1) OR (symbol = 'SPY' AND date = :d4)"
        ),
        {"d1": DAYS[1], "d4": DAYS[4]},
    )
    history = await load_price_history(
        session, ["AAA", "BBB"], start=DAYS[4], end=DAYS[4], rows_before_start=10
    )
    assert dict(history.mixed_sources) == {
        "AAA": (SourceSpan("DEMO", DAYS[0], DAYS[1]), SourceSpan("CSV", DAYS[2], DAYS[4])),
        "SPY": (SourceSpan("CSV", DAYS[0], DAYS[3]), SourceSpan("DEMO", DAYS[4], DAYS[4])),
    }
    # Only the rows loaded count: from DAYS[2] on, AAA is CSV's alone.
    later = await load_price_history(
        session, ["AAA"], start=DAYS[3], end=DAYS[3], rows_before_start=1
    )
    assert dict(later.mixed_sources) == {}


def test_a_window_mixes_sources_only_where_it_reaches_two_of_them() -> None:
    spans = {
        "AAA": (
            SourceSpan("DEMO", date(2024, 1, 1), date(2024, 12, 31)),
            SourceSpan("FMP", date(2025, 1, 2), date(2025, 10, 17)),
        )
    }
    assert mixed_in_window(spans, ["AAA", "BBB"], date(2025, 1, 2), date(2025, 10, 17)) == []
    assert mixed_in_window(spans, ["BBB"], date(2024, 6, 1), date(2025, 10, 17)) == []
    mixed = mixed_in_window(spans, ["AAA", "BBB"], date(2024, 12, 31), date(2025, 1, 3))
    assert mixed == [
        (
            "AAA",
            [
                SourceSpan("DEMO", date(2024, 12, 31), date(2024, 12, 31)),
                SourceSpan("FMP", date(2025, 1, 2), date(2025, 1, 3)),
            ],
        )
    ]
    assert str(mixed_sources_error(mixed, date(2024, 12, 31), date(2025, 1, 3))) == (
        "prices read from 2024-12-31 to 2025-01-03 mix sources for AAA (DEMO 2024-12-31 .. "
        "2024-12-31, FMP 2025-01-02 .. 2025-01-03): nothing computed. Keep one source per "
        "symbol: reload it with scripts/load_prices.py --replace-source, or take the demo "
        "out: scripts/demo_data.py --remove"
    )
