"""Sector weights service: computed from the fake FMP to the cent, validated, and upserted
into the real PostgreSQL (idempotent, per date, under an advisory lock)."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.benchmarks.files import load_sector_weights_file
from app.benchmarks.repository import UpsertResult, upsert_sector_weights
from app.benchmarks.sources import fetch_sector_weights
from app.benchmarks.weights import (
    BenchmarkDataError,
    SectorWeightRow,
    SectorWeights,
    apportion,
    compute_price_weights,
    compute_sector_weights,
    weights_from_inputs,
)
from app.config import BACKEND_DIR
from app.core.db import create_sessionmaker
from app.core.errors import FileDataError
from app.integrations.fmp.client import FmpClient
from app.integrations.fmp.schemas import (
    FmpConstituent,
    FmpMarketCap,
    FmpQuote,
    SectorWeightInput,
)
from tests.support.benchmark_expectations import (
    assert_weights_close,
    check_rows,
    expected_price_sectors,
    expected_sectors,
)
from tests.support.fake_fmp import (
    DJIA_COMPANIES_PER_SECTOR,
    DJIA_NAMED,
    FMP_LABEL,
    FakeFmp,
    Sp500Data,
)

GICS = sorted(FMP_LABEL)  # the 11 GICS names, from the fixture's own table
PREVIOUS = date(2025, 10, 31)


def inputs(data: Sp500Data) -> tuple[list[FmpConstituent], list[FmpMarketCap]]:
    constituents = [FmpConstituent.model_validate(r) for r in data.constituents]
    caps = [FmpMarketCap.model_validate(r) for r in data.cap_rows(data.symbols())]
    return constituents, caps


def compute(data: Sp500Data, source: str = "FMP") -> SectorWeights:
    constituents, caps = inputs(data)
    return compute_sector_weights(constituents, caps, benchmark_code="SP500", data_source=source)


def as_tuples(weights: SectorWeights) -> list[tuple[str, Decimal, Decimal | None, int | None]]:
    return [(r.sector, r.weight, r.market_cap, r.num_constituents) for r in weights.rows]


async def stored(session: AsyncSession, asof: date) -> list[tuple]:
    result = await session.execute(
        text(
            "SELECT sector, weight, market_cap, num_constituents, data_source "
            "FROM benchmarks_sector_weights WHERE benchmark_code = 'SP500' AND asof_date = :d "
            "ORDER BY sector"
        ),
        {"d": asof},
    )
    return [tuple(r) for r in result]


# --- the fixture data has the quirks it claims --------------------------------------------


def test_fake_data_has_dual_classes_a_dropped_symbol_fractions_and_mixed_labels() -> None:
    data = Sp500Data.default()
    ciks = [r["cik"] for r in data.constituents]
    assert len(ciks) == 503 and len(set(ciks)) == 500
    assert data.market_caps["BRK.B"] is None
    assert any(c is not None and c != c.to_integral_value() for c in data.market_caps.values())
    labels = {r["sector"] for r in data.constituents}
    assert {"Technology", "Information Technology", "Healthcare", "Health Care"} <= labels


# --- computing -----------------------------------------------------------------------------


async def test_fetch_computes_caps_counts_and_weights_to_the_cent(fake_fmp: FakeFmp) -> None:
    steps: list[tuple[int, int]] = []
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url) as fmp:
        weights = await fetch_sector_weights(fmp, on_progress=lambda d, t: steps.append((d, t)))

    check_rows(as_tuples(weights), expected_sectors(fake_fmp.data))
    assert weights.asof_date == fake_fmp.data.asof
    assert weights.data_source == "FMP"
    assert (weights.constituents, weights.priced, weights.companies) == (503, 502, 499)
    assert weights.missing_symbols == ("BRK.B",)
    assert len(fake_fmp.requests) == 7 <= 8
    assert steps == [(n, 7) for n in range(1, 8)]


def test_share_classes_of_one_company_count_once_at_the_larger_cap() -> None:
    data = Sp500Data.default()
    weights = {r.sector: r for r in compute(data).rows}
    caps = data.market_caps
    naive = sum(
        (caps[s] or Decimal(0) for s, g in data.gics.items() if g == "Communication Services"),
        Decimal(0),
    )
    # GOOG (the smaller class snapshot), FOX and NWS must not be added a second time.
    double_counted = caps["GOOG"] + caps["FOX"] + caps["NWS"]
    assert caps["GOOG"] < caps["GOOGL"]
    expected = (naive - double_counted).quantize(Decimal("0.01"))
    assert weights["Communication Services"].market_cap == expected
    assert weights["Communication Services"].num_constituents == 26  # symbols, not companies


def test_constituent_and_cap_order_do_not_matter() -> None:
    data = Sp500Data.default()
    constituents, caps = inputs(data)
    shuffled = compute_sector_weights(
        constituents[::-1],
        sorted(caps, key=lambda c: c.market_cap or 0),
        benchmark_code="SP500",
        data_source="FMP",
    )
    assert shuffled == compute(data)


def test_asof_date_is_the_date_fmp_reports_for_the_caps() -> None:
    data = Sp500Data.default()
    data.asof = date(2025, 12, 1)
    assert compute(data).asof_date == date(2025, 12, 1)


def test_coverage_below_98_percent_is_rejected_naming_missing_symbols() -> None:
    data = Sp500Data.default()
    dropped = data.symbols()[-10:]  # with BRK.B: 11 of 503 missing = 97.8 %
    for symbol in dropped:
        data.market_caps[symbol] = None
    with pytest.raises(BenchmarkDataError, match=r"cover only 492 of 503") as info:
        compute(data)
    for symbol in [*dropped, "BRK.B"]:
        assert symbol in str(info.value)


def test_coverage_of_exactly_98_percent_is_accepted() -> None:
    data = Sp500Data.default()
    for symbol in data.symbols()[-9:]:  # 10 of 503 missing = 98.01 %
        data.market_caps[symbol] = None
    assert compute(data).priced == 493


def test_unknown_sector_label_is_rejected() -> None:
    data = Sp500Data.default()
    data.constituents[7]["sector"] = "Crypto Assets"
    with pytest.raises(BenchmarkDataError, match=r"unknown sector label 'Crypto Assets'"):
        compute(data)


async def test_nasdaq_weights_come_from_its_own_constituents_and_their_caps(
    fake_fmp: FakeFmp,
) -> None:
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url) as fmp:
        weights = await fetch_sector_weights(fmp, benchmark_code="NDX")

    expected = expected_sectors(fake_fmp.ndx)
    assert len(expected) == 10  # no Real Estate: only the sectors the index is in
    check_rows(as_tuples(weights), expected)
    assert (weights.benchmark_code, weights.constituents) == ("NDX", 101)
    assert len(fake_fmp.requests) == 1 + 2  # 1 + ceil(101 / 100), as for the S&P 500
    assert len(fake_fmp.requests_to("nasdaq-constituent")) == 1
    assert not fake_fmp.requests_to("sp500-constituent")


async def test_the_dow_is_weighted_by_share_price_not_market_cap(fake_fmp: FakeFmp) -> None:
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url) as fmp:
        weights = await fetch_sector_weights(fmp, benchmark_code="DJIA")

    expected = expected_price_sectors(fake_fmp.djia)
    assert len(expected) == 8  # no Materials, Real Estate or Utilities
    assert [r.sector for r in weights.rows] == sorted(expected)
    assert [r.market_cap for r in weights.rows] == [None] * 8  # caps do not weigh it
    assert [r.num_constituents for r in weights.rows] == [
        expected[s].num_constituents for s in sorted(expected)
    ]
    assert_weights_close(
        {r.sector: r.weight for r in weights.rows},
        {s: e.exact_weight for s, e in expected.items()},
    )
    by_cap = expected_sectors(fake_fmp.djia)
    assert any(  # the fixture's prices and caps give different weights
        abs(by_cap[s].exact_weight - expected[s].exact_weight) > Decimal("0.05") for s in expected
    )
    assert weights.asof_date == fake_fmp.djia.asof  # 16:00 New York that day
    assert len(fake_fmp.requests) == 2  # constituents + one batch of quotes
    assert len(fake_fmp.requests_to("batch-quote")) == 1
    assert not fake_fmp.requests_to("market-capitalization-batch")


def test_a_price_weighted_index_needs_every_price_and_no_caps_file() -> None:
    djia = Sp500Data.build(DJIA_NAMED, DJIA_COMPANIES_PER_SECTOR, suffix="D", cik_base=4_000_000)
    constituents = [FmpConstituent.model_validate(r) for r in djia.constituents]
    quotes = [FmpQuote.model_validate(r) for r in djia.quote_rows(djia.symbols()[1:])]
    with pytest.raises(BenchmarkDataError, match=r"prices cover only 29 of 30 .* missing: AAPL"):
        compute_price_weights(constituents, quotes, benchmark_code="DJIA", data_source="FMP")
    with pytest.raises(BenchmarkDataError, match="weighted by share price, not market cap"):
        compute_sector_weights(constituents, [], benchmark_code="DJIA", data_source="file:x")


def test_an_index_sector_with_no_priced_constituent_is_rejected() -> None:
    # 60 of 61 priced: coverage passes (98.4%), but Energy has no cap at all.
    ndx = Sp500Data.build([], {"Energy": 1, "Utilities": 60}, suffix="T", cik_base=9_000_000)
    energy = next(s for s, g in ndx.gics.items() if g == "Energy")
    ndx.market_caps[energy] = None
    constituents = [FmpConstituent.model_validate(r) for r in ndx.constituents]
    caps = [FmpMarketCap.model_validate(r) for r in ndx.cap_rows(ndx.symbols())]
    with pytest.raises(BenchmarkDataError, match="no priced one: Energy"):
        compute_sector_weights(constituents, caps, benchmark_code="NDX", data_source="FMP")


def test_final_weights_of_fewer_sectors_are_refused_for_the_sp500_only() -> None:
    rows = [SectorWeightInput(sector=s, weight=Decimal("0.25")) for s in GICS[:4]]
    kept = weights_from_inputs(rows, asof_date=PREVIOUS, benchmark_code="DJIA", data_source="x")
    assert [r.sector for r in kept.rows] == sorted(GICS[:4])
    with pytest.raises(BenchmarkDataError, match="expected the 11 GICS sectors once each"):
        weights_from_inputs(rows, asof_date=PREVIOUS, benchmark_code="SP500", data_source="x")


@pytest.mark.parametrize("cap", ["0", "-125.5"])
def test_non_positive_cap_is_rejected(cap: str) -> None:
    data = Sp500Data.default()
    data.market_caps["MSFT"] = Decimal(cap)
    with pytest.raises(BenchmarkDataError, match=r"not positive for MSFT"):
        compute(data)


def test_a_missing_sector_is_rejected() -> None:
    data = Sp500Data.default()
    for row in data.constituents:
        if data.gics[row["symbol"]] == "Energy":
            row["sector"] = "Utilities"
    with pytest.raises(BenchmarkDataError, match=r"missing \(no priced constituent\): Energy"):
        compute(data)


def test_duplicate_constituent_symbols_are_rejected() -> None:
    data = Sp500Data.default()
    data.constituents.append(dict(data.constituents[0]))
    with pytest.raises(BenchmarkDataError, match=r"more than once: AAPL"):
        compute(data)


def test_empty_answers_are_rejected() -> None:
    with pytest.raises(BenchmarkDataError, match="empty"):
        compute_sector_weights([], [], benchmark_code="SP500", data_source="FMP")


def test_apportion_sums_to_exactly_one_where_plain_rounding_does_not() -> None:
    eleven = {f"s{i}": Decimal(1) for i in range(11)}
    # Rounding each share on its own loses a millionth: 11 x 0.090909 = 0.999999.
    assert sum((Decimal(1) / 11).quantize(Decimal("0.000001")) for _ in eleven) < 1
    shares = apportion(eleven)
    assert sum(shares.values()) == Decimal("1.000000")
    assert_weights_close(shares, {k: Decimal(1) / 11 for k in eleven})
    assert sorted(apportion({"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}).values()) == [
        Decimal("0.333333"),
        Decimal("0.333333"),
        Decimal("0.333334"),
    ]


def test_final_weights_are_normalised_to_gics_and_rounded_to_sum_one() -> None:
    rows = [
        SectorWeightInput(sector=FMP_LABEL[g], weight=Decimal(1) / 11, market_cap=None)
        for g in GICS
    ]
    weights = weights_from_inputs(
        rows, asof_date=PREVIOUS, benchmark_code="SP500", data_source="file:x"
    )
    assert [r.sector for r in weights.rows] == GICS
    assert sum(r.weight for r in weights.rows) == Decimal("1.000000")


@pytest.mark.parametrize(
    ("scale", "message"),
    [(Decimal(100), "percentages"), (Decimal("1.001"), "not 1")],
)
def test_final_weights_must_be_fractions_summing_to_one(scale: Decimal, message: str) -> None:
    rows = [SectorWeightInput(sector=g, weight=scale / 11) for g in GICS]
    with pytest.raises(BenchmarkDataError, match=message):
        weights_from_inputs(rows, asof_date=PREVIOUS, benchmark_code="SP500", data_source="f")


def test_final_weights_with_a_sector_twice_under_two_labels_are_rejected() -> None:
    rows = [SectorWeightInput(sector=g, weight=Decimal(1) / 12) for g in GICS]
    rows.append(SectorWeightInput(sector="Technology", weight=Decimal(1) / 12))
    with pytest.raises(BenchmarkDataError, match="Information Technology appears more than once"):
        weights_from_inputs(rows, asof_date=PREVIOUS, benchmark_code="SP500", data_source="f")


# --- writing -------------------------------------------------------------------------------


async def test_upsert_writes_eleven_rows_that_read_back_exactly(session: AsyncSession) -> None:
    data = Sp500Data.default()
    weights = compute(data)
    result = await upsert_sector_weights(session, weights)
    assert sorted(result.inserted) == GICS and not result.updated and not result.removed

    rows = await stored(session, data.asof)
    check_rows([r[:4] for r in rows], expected_sectors(data))
    assert {r[4] for r in rows} == {"FMP"}


async def test_rerun_changes_nothing(session: AsyncSession) -> None:
    weights = compute(Sp500Data.default())
    await upsert_sector_weights(session, weights)
    snapshot = (await session.execute(text("SELECT * FROM benchmarks_sector_weights"))).all()
    result = await upsert_sector_weights(session, weights)
    assert sorted(result.unchanged) == GICS and not (result.inserted or result.updated)
    after = (await session.execute(text("SELECT * FROM benchmarks_sector_weights"))).all()
    assert sorted(after) == sorted(snapshot)


async def test_new_values_for_a_date_update_only_that_date(session: AsyncSession) -> None:
    old = Sp500Data.default()
    old.asof = PREVIOUS
    await upsert_sector_weights(session, compute(old))
    before_previous = await stored(session, PREVIOUS)

    data = Sp500Data.default()
    await upsert_sector_weights(session, compute(data))
    data.market_caps["XOM"] = data.market_caps["XOM"] * 2  # type: ignore[operator]
    result = await upsert_sector_weights(session, compute(data))

    assert result.updated  # Energy and every weight moved
    assert "Energy" in result.updated and not result.inserted
    check_rows([r[:4] for r in await stored(session, data.asof)], expected_sectors(data))
    assert await stored(session, PREVIOUS) == before_previous


async def test_sectors_that_vanished_from_the_date_are_removed(session: AsyncSession) -> None:
    data = Sp500Data.default()
    for asof in (PREVIOUS, data.asof):
        await session.execute(
            text(
                "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, "
                "weight, market_cap, num_constituents) VALUES ('SP500', :d, "
                "'Telecommunication Services', 0.02, 1000.00, 3)"
            ),
            {"d": asof},
        )
    result = await upsert_sector_weights(session, compute(data))
    assert result.removed == ("Telecommunication Services",)
    assert [r[0] for r in await stored(session, data.asof)] == GICS
    assert [r[0] for r in await stored(session, PREVIOUS)] == ["Telecommunication Services"]


async def test_invalid_weights_are_refused_before_any_sql(session: AsyncSession) -> None:
    weights = compute(Sp500Data.default())
    broken = SectorWeights(
        benchmark_code="SP500",
        asof_date=weights.asof_date,
        data_source="FMP",
        rows=weights.rows[:10],
    )
    with pytest.raises(BenchmarkDataError, match="expected the 11 GICS sectors"):
        await upsert_sector_weights(session, broken)
    assert await stored(session, weights.asof_date) == []


async def test_concurrent_writers_wait_for_the_advisory_lock(
    engine: AsyncEngine, clean_tables: None
) -> None:
    weights = compute(Sp500Data.default())
    maker = create_sessionmaker(engine)
    async with maker() as first, maker() as second:
        await first.begin()
        await upsert_sector_weights(first, weights)  # holds the lock until commit
        waiting = asyncio.create_task(_upsert_and_commit(second, weights))
        for _ in range(100):
            if await _advisory_waiters(engine):
                break
            await asyncio.sleep(0.05)
        assert await _advisory_waiters(engine) == 1
        assert not waiting.done()
        await first.commit()
        result = await asyncio.wait_for(waiting, timeout=10)
    assert sorted(result.unchanged) == GICS  # saw the first writer's rows, changed nothing
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM benchmarks_sector_weights"))
    assert count == 11


async def _upsert_and_commit(session: AsyncSession, weights: SectorWeights) -> UpsertResult:
    async with session.begin():
        return await upsert_sector_weights(session, weights)


async def _advisory_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND NOT granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        )


# --- files ---------------------------------------------------------------------------------


def _fmp_json_file(tmp_path: Path, data: Sp500Data) -> Path:
    path = tmp_path / "sp500.json"
    payload = {
        "source": "saved FMP answers",
        "constituents": data.constituents,
        "market_caps": data.cap_rows(data.symbols()),
    }
    path.write_text(json.dumps(payload))
    return path


def test_constituents_json_file_gives_the_same_weights_as_fmp(tmp_path: Path) -> None:
    data = Sp500Data.default()
    weights = load_sector_weights_file(_fmp_json_file(tmp_path, data), benchmark_code="SP500")
    assert weights.data_source == "file:saved FMP answers"
    assert as_tuples(weights) == as_tuples(compute(data))
    assert weights.asof_date == data.asof


def test_constituents_csv_file_gives_the_same_weights_as_fmp(tmp_path: Path) -> None:
    data = Sp500Data.default()
    path = tmp_path / "sp500-2025-11-14.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["symbol", "sector", "cik", "market_cap", "date"])
        for row in data.constituents:
            cap = data.market_caps[row["symbol"]]
            writer.writerow(
                [row["symbol"], row["sector"], row["cik"], "" if cap is None else cap, data.asof]
            )
    weights = load_sector_weights_file(path, benchmark_code="SP500")
    assert weights.data_source == "file:sp500-2025-11-14.csv"
    assert as_tuples(weights) == as_tuples(compute(data))


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_final_weights_file_round_trips(tmp_path: Path, kind: str) -> None:
    original = compute(Sp500Data.default())
    path = tmp_path / f"weights.{kind}"
    rows = [
        {
            "sector": r.sector,
            "weight": str(r.weight),
            "market_cap": str(r.market_cap),
            "num_constituents": r.num_constituents,
        }
        for r in original.rows
    ]
    if kind == "json":
        path.write_text(json.dumps({"asof_date": str(original.asof_date), "weights": rows}))
    else:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["asof_date", *rows[0]])
            writer.writeheader()
            writer.writerows({"asof_date": str(original.asof_date), **r} for r in rows)
    loaded = load_sector_weights_file(path, benchmark_code="SP500")
    assert as_tuples(loaded) == as_tuples(original)
    assert loaded.asof_date == original.asof_date
    assert loaded.data_source == f"file:weights.{kind}"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", "{not json", "not valid JSON"),
        ("a.json", '{"rows": []}', "expected an object"),
        ("a.json", '{"asof_date": "2025-13-01", "weights": []}', "asof_date"),
        ("a.csv", "ticker,price\nAAPL,1\n", "CSV needs columns"),
        ("a.txt", "anything", "expected a .json or .csv"),
    ],
)
def test_unusable_files_are_file_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FileDataError, match=message):
        load_sector_weights_file(path, benchmark_code="SP500")


def test_file_source_is_never_fmp(tmp_path: Path) -> None:
    data = Sp500Data.default()
    path = _fmp_json_file(tmp_path, data)
    payload = json.loads(path.read_text())
    payload["source"] = "FMP"
    path.write_text(json.dumps(payload))
    assert load_sector_weights_file(path, benchmark_code="SP500").data_source == "file:FMP"


def test_row_values_are_what_the_table_stores() -> None:
    row = compute(Sp500Data.default()).rows[0]
    assert isinstance(row, SectorWeightRow)
    assert row.weight == row.weight.quantize(Decimal("0.000001"))
    assert row.market_cap == row.market_cap.quantize(Decimal("0.01"))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("sp500_weights_example.json", "file:example (synthetic)"),
        ("sp500_weights_example.csv", "file:sp500_weights_example.csv"),
    ],
)
def test_example_files_load_as_the_fake_data_weights(name: str, source: str) -> None:
    path = BACKEND_DIR / "examples" / name
    weights = load_sector_weights_file(path, benchmark_code="SP500")
    check_rows(as_tuples(weights), expected_sectors(Sp500Data.default()))
    assert weights.data_source == source
