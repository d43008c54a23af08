"""GET /api/v1/portfolios/{id}/risk and /market-betas."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BenchmarkSectorWeight
from app.risk_metrics.queries import SNAPSHOT_FIGURE_COLUMNS
from tests.support.api import all_pages
from tests.support.factories import (
    beta_row,
    make_portfolio,
    make_position,
    make_user,
    snapshot_row,
)

IT, HC, FIN, EN, UT = (
    "Information Technology",
    "Health Care",
    "Financials",
    "Energy",
    "Utilities",
)
BETA_DAYS = [date(2025, 3, 3) + timedelta(days=i) for i in range(5)]


@dataclass
class Seed:
    owner: uuid.UUID
    portfolio: uuid.UUID
    before_benchmarks: uuid.UUID
    no_exposure: uuid.UUID
    no_snapshots: uuid.UUID
    deleted: uuid.UUID
    beta_ids: list[tuple[date, uuid.UUID]] = field(default_factory=list)
    symbols: dict[uuid.UUID, str] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    owner = await make_user(db, "owner@example.com")
    main = await make_portfolio(db, "Main", owner=owner)
    early = await make_portfolio(db, "Early", owner=owner)
    bare = await make_portfolio(db, "No exposure", owner=owner)
    empty = await make_portfolio(db, "No snapshots", owner=owner)
    gone = await make_portfolio(db, "Deleted", owner=owner, deleted=True)
    positions = [await make_position(db, main, symbol) for symbol in ("AAPL", "MSFT", "XOM")]
    other_position = await make_position(db, early, "JNJ")

    benchmark = {
        date(2025, 3, 1): {IT: "0.300000", HC: "0.120000", FIN: "0.130000"},
        date(2025, 3, 5): {IT: "0.310000", HC: "0.110000", FIN: "0.140000", UT: "0.020000"},
        date(2025, 3, 20): {IT: "0.900000"},  # after every snapshot: never used
    }
    for day, weights in benchmark.items():
        for sector, weight in weights.items():
            db.add(
                BenchmarkSectorWeight(
                    benchmark_code="SP500", asof_date=day, sector=sector, weight=Decimal(weight)
                )
            )
    db.add_all(
        [
            snapshot_row(
                main.id,
                date(2025, 3, 10),
                market_beta_weighted=Decimal("1.1500"),
                market_beta_r_squared=Decimal("0.8200"),
                market_beta_observations=90,
                # FMP's "Technology" label: reported as GICS Information Technology.
                sector_exposure={"Technology": 0.35, "Health Care": 0.18, "Energy": 0.47},
                hhi=Decimal("1234.50"),
                effective_num_positions=Decimal("8.10"),
                top_3_concentration=Decimal("0.4500"),
                top_10_concentration=Decimal("0.9000"),
                realized_volatility_21d=Decimal("0.1800"),
                realized_volatility_63d=Decimal("0.2000"),
                expected_volatility_21d=Decimal("0.1900"),
                volatility_trend="increasing",
                volatility_percentile=Decimal("0.7500"),
            ),
            snapshot_row(
                main.id,
                date(2025, 3, 3),
                market_beta_weighted=Decimal("0.9000"),
                sector_exposure={IT: 0.6, FIN: 0.4},
            ),
            snapshot_row(early.id, date(2025, 2, 1), sector_exposure={IT: 1.0}),
            snapshot_row(bare.id, date(2025, 3, 10), market_beta_weighted=Decimal("1.0000")),
            snapshot_row(gone.id, date(2025, 3, 10), sector_exposure={IT: 1.0}),
        ]
    )
    seed = Seed(owner.id, main.id, early.id, bare.id, empty.id, gone.id)
    seed.symbols = {p.id: p.symbol for p in positions}
    for day in BETA_DAYS:
        for i, position in enumerate(positions):
            row = beta_row(
                main.id,
                position.id,
                day,
                id=uuid.uuid4(),
                beta=Decimal("1.000000") + Decimal(i) / 10,
            )
            db.add(row)
            seed.beta_ids.append((day, row.id))
    db.add(beta_row(early.id, other_position.id, BETA_DAYS[-1], beta=Decimal("2.000000")))
    await db.commit()
    return seed


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    """``client`` is the owner of the seeded portfolios."""
    return seed.owner


def _active(body: dict[str, object]) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    sectors = body["benchmark_comparison"]["sectors"]  # type: ignore[index]
    return [
        (
            s["sector"],
            Decimal(s["portfolio_weight"]),
            Decimal(s["benchmark_weight"]),
            Decimal(s["active_weight"]),
        )
        for s in sectors
    ]


async def test_risk_defaults_to_the_latest_snapshot_with_its_columns(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.portfolio}/risk")
    assert response.status_code == 200
    body = response.json()
    assert body["calculation_date"] == "2025-03-10"
    assert body["portfolio_id"] == str(seed.portfolio)
    assert body["market_beta_weighted"] == "1.1500"
    assert body["market_beta_r_squared"] == "0.8200"
    assert body["market_beta_observations"] == 90
    assert body["market_beta_direct"] is None
    assert body["hhi"] == "1234.50"
    assert body["effective_num_positions"] == "8.10"
    assert body["top_3_concentration"] == "0.4500"
    assert body["top_10_concentration"] == "0.9000"
    assert body["realized_volatility_21d"] == "0.1800"
    assert body["realized_volatility_63d"] == "0.2000"
    assert body["expected_volatility_21d"] == "0.1900"
    assert body["volatility_trend"] == "increasing"
    assert body["volatility_percentile"] == "0.7500"
    assert {k: Decimal(v) for k, v in body["sector_exposure"].items()} == {
        IT: Decimal("0.35"),
        HC: Decimal("0.18"),
        EN: Decimal("0.47"),
    }


async def test_risk_over_and_underweights_use_the_benchmark_of_that_date(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.portfolio}/risk")
    comparison = response.json()["benchmark_comparison"]
    assert response.json()["benchmark_comparison_reason"] is None
    assert comparison["benchmark_code"] == "SP500"
    # Snapshot 2025-03-10 -> weights of 2025-03-05 (not the later 2025-03-20).
    assert comparison["asof_date"] == "2025-03-05"
    # Worked by hand: portfolio - benchmark, sectors from both sides, largest first.
    assert _active(response.json()) == [
        (EN, Decimal("0.47"), Decimal(0), Decimal("0.47")),
        (HC, Decimal("0.18"), Decimal("0.11"), Decimal("0.07")),
        (IT, Decimal("0.35"), Decimal("0.31"), Decimal("0.04")),
        (UT, Decimal(0), Decimal("0.02"), Decimal("-0.02")),
        (FIN, Decimal(0), Decimal("0.14"), Decimal("-0.14")),
    ]


async def test_risk_on_a_date_uses_the_snapshot_and_weights_on_or_before_it(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/risk", params={"date": "2025-03-07"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["calculation_date"] == "2025-03-03"
    assert body["market_beta_weighted"] == "0.9000"
    assert body["benchmark_comparison"]["asof_date"] == "2025-03-01"
    assert _active(body) == [
        (IT, Decimal("0.6"), Decimal("0.30"), Decimal("0.30")),
        (FIN, Decimal("0.4"), Decimal("0.13"), Decimal("0.27")),
        (HC, Decimal(0), Decimal("0.12"), Decimal("-0.12")),
    ]


async def test_risk_without_benchmark_weights_before_the_snapshot_has_no_comparison(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    for params in ({}, {"benchmark": "SP500"}):
        response = await client.get(
            f"/api/v1/portfolios/{seed.before_benchmarks}/risk", params=params
        )
        assert response.status_code == 200
        body = response.json()
        assert body["benchmark_comparison"] is None
        assert body["benchmark_comparison_reason"] == (
            f"no SP500 sector weights on or before {body['calculation_date']}: the earliest "
            "stored are of 2025-03-01"
        )
        assert body["sector_exposure"] == {IT: "1.0"}


async def test_risk_without_sector_exposure_has_no_comparison(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.no_exposure}/risk")
    assert response.status_code == 200
    body = response.json()
    assert body["sector_exposure"] is None
    assert body["benchmark_comparison"] is None
    day = body["calculation_date"]
    assert body["benchmark_comparison_reason"] == (
        f"the snapshot of {day} has no sector exposure: run "
        f"scripts/calculate_risk_metrics.py --date {day}"
    )
    assert body["market_beta_weighted"] == "1.0000"


async def test_risk_with_an_unknown_benchmark_is_404(client: httpx.AsyncClient, seed: Seed) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/risk", params={"benchmark": "NOPE"}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown benchmark 'NOPE': no sector weights stored"}


@pytest.mark.parametrize("which", ["unknown", "deleted"])
async def test_risk_of_an_unknown_or_deleted_portfolio_is_404(
    client: httpx.AsyncClient, seed: Seed, which: str
) -> None:
    portfolio_id = uuid.uuid4() if which == "unknown" else seed.deleted
    response = await client.get(f"/api/v1/portfolios/{portfolio_id}/risk")
    assert response.status_code == 404
    assert response.json() == {"detail": f"unknown portfolio {portfolio_id}"}


async def test_risk_without_a_snapshot_on_or_before_the_date_is_404(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.no_snapshots}/risk")
    assert response.status_code == 404
    assert response.json()["detail"] == f"portfolio {seed.no_snapshots} has no snapshot"
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/risk", params={"date": "2025-03-02"}
    )
    assert response.status_code == 404
    assert response.json()["detail"].endswith("has no snapshot on or before 2025-03-02")


@pytest.mark.parametrize(
    ("path", "params", "location"),
    [
        ("/api/v1/portfolios/not-a-uuid/risk", {}, "path.portfolio_id"),
        ("/api/v1/portfolios/1234/market-betas", {}, "path.portfolio_id"),
        ("/api/v1/portfolios/{id}/risk", {"date": "2025-02-30"}, "query.date"),
        ("/api/v1/portfolios/{id}/risk", {"benchmark": "S&P 500"}, "query.benchmark"),
        ("/api/v1/portfolios/{id}/market-betas", {"date": "03/05/2025"}, "query.date"),
        ("/api/v1/portfolios/{id}/market-betas", {"limit": "0"}, "query.limit"),
        ("/api/v1/portfolios/{id}/market-betas", {"limit": "501"}, "query.limit"),
        ("/api/v1/portfolios/{id}/market-betas", {"limit": "ten"}, "query.limit"),
        ("/api/v1/portfolios/{id}/market-betas", {"cursor": "x" * 201}, "query.cursor"),
        ("/api/v1/portfolios/{id}/risk/history", {"from": "2025-13-01"}, "query.from"),
        ("/api/v1/portfolios/{id}/risk/history", {"to": "yesterday"}, "query.to"),
    ],
)
async def test_malformed_input_is_422_naming_the_parameter(
    client: httpx.AsyncClient, seed: Seed, path: str, params: dict[str, str], location: str
) -> None:
    response = await client.get(path.format(id=seed.portfolio), params=params)
    assert response.status_code == 422
    body = response.json()
    assert [e["location"] for e in body["errors"]] == [location]
    assert body["detail"].startswith(f"Invalid request: {location}: ")
    assert "Traceback" not in response.text


def _newest_first(rows: list[tuple[date, uuid.UUID]]) -> list[str]:
    return [str(row_id) for _, row_id in sorted(rows, reverse=True)]


@pytest.mark.parametrize("limit", [1, 4, 14, 15, 500])
async def test_market_beta_pages_cover_every_row_once_newest_first(
    client: httpx.AsyncClient, seed: Seed, limit: int
) -> None:
    pages = await all_pages(
        client, f"/api/v1/portfolios/{seed.portfolio}/market-betas", limit=limit
    )
    expected = _newest_first(seed.beta_ids)
    assert [row_id for page in pages for row_id in page] == expected
    # Full pages except the last, and no empty trailing page when the count divides evenly.
    assert [len(page) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert len(pages) == -(-len(expected) // limit)


async def test_market_betas_of_one_date(client: httpx.AsyncClient, seed: Seed) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/market-betas", params={"date": "2025-03-05"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    expected = [(d, i) for d, i in seed.beta_ids if d == date(2025, 3, 5)]
    assert [item["id"] for item in body["items"]] == _newest_first(expected)
    assert {item["calc_date"] for item in body["items"]} == {"2025-03-05"}
    assert sorted(item["beta"] for item in body["items"]) == ["1.000000", "1.100000", "1.200000"]
    assert body["items"][0]["method"] == "OLS_SIMPLE"
    assert body["items"][0]["market_index"] == "SPY"
    assert body["items"][0]["window_days"] == 90


async def test_market_betas_of_an_unknown_portfolio_is_404(client: httpx.AsyncClient) -> None:
    portfolio_id = uuid.uuid4()
    response = await client.get(f"/api/v1/portfolios/{portfolio_id}/market-betas")
    assert response.status_code == 404
    assert response.json() == {"detail": f"unknown portfolio {portfolio_id}"}


@pytest.mark.parametrize("cursor", ["garbage!", "e30", "WyIyMDI1LTAzLTA1Iiwibm9wZSJd"])
async def test_a_cursor_that_was_not_issued_is_400(
    client: httpx.AsyncClient, seed: Seed, cursor: str
) -> None:
    # "e30" is base64 of "{}"; the last is ["2025-03-05","nope"]: well-formed, wrong content.
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/market-betas", params={"cursor": cursor}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("invalid cursor")


async def test_market_betas_carry_their_positions_symbol(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/market-betas", params={"limit": "500"}
    )
    items = response.json()["items"]
    assert len(items) == len(seed.beta_ids)
    assert all(item["symbol"] == seed.symbols[uuid.UUID(item["position_id"])] for item in items)
    assert {item["symbol"] for item in items} == {"AAPL", "MSFT", "XOM"}


@pytest.mark.parametrize(
    ("on", "calc_date"),
    [("2025-03-09", "2025-03-07"), ("2025-03-04", "2025-03-04"), ("2025-03-03", "2025-03-03")],
)
async def test_market_betas_as_of_a_date_are_those_of_the_latest_calc_date_on_or_before_it(
    client: httpx.AsyncClient, seed: Seed, on: str, calc_date: str
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/market-betas", params={"date": on}
    )
    assert response.status_code == 200
    expected = [(d, i) for d, i in seed.beta_ids if d.isoformat() == calc_date]
    assert [item["id"] for item in response.json()["items"]] == _newest_first(expected)
    assert len(expected) == 3


async def test_market_betas_as_of_a_date_before_any_are_an_empty_page(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/market-betas", params={"date": "2025-03-02"}
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_market_betas_as_of_a_date_page_exactly(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    pages = await all_pages(
        client, f"/api/v1/portfolios/{seed.portfolio}/market-betas", limit=2, date="2025-03-06"
    )
    expected = [(d, i) for d, i in seed.beta_ids if d == date(2025, 3, 6)]
    assert pages == [_newest_first(expected)[:2], _newest_first(expected)[2:]]


def _history(portfolio_id: uuid.UUID) -> str:
    return f"/api/v1/portfolios/{portfolio_id}/risk/history"


async def test_risk_history_is_every_snapshot_oldest_first_with_every_figure_column(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(_history(seed.portfolio))
    assert response.status_code == 200
    body = response.json()
    assert body["portfolio_id"] == str(seed.portfolio)
    assert [p["calculation_date"] for p in body["points"]] == ["2025-03-03", "2025-03-10"]
    assert all(set(p) == {"calculation_date", *SNAPSHOT_FIGURE_COLUMNS} for p in body["points"])
    assert "sector_exposure" not in body["points"][0]
    first, last = body["points"]
    assert first["market_beta_weighted"] == "0.9000"
    assert first["hhi"] is None
    # The same figures, at the same scale, as GET /risk of that date.
    risk = (await client.get(f"/api/v1/portfolios/{seed.portfolio}/risk")).json()
    assert last == {k: risk[k] for k in last}
    assert (last["hhi"], last["volatility_trend"], last["market_beta_observations"]) == (
        "1234.50",
        "increasing",
        90,
    )


@pytest.mark.parametrize(
    ("params", "days"),
    [
        ({"from": "2025-03-04"}, ["2025-03-10"]),
        ({"to": "2025-03-09"}, ["2025-03-03"]),
        ({"from": "2025-03-03", "to": "2025-03-10"}, ["2025-03-03", "2025-03-10"]),
        ({"from": "2025-03-10", "to": "2025-03-10"}, ["2025-03-10"]),
        ({"from": "2025-03-04", "to": "2025-03-09"}, []),
    ],
)
async def test_risk_history_from_and_to_are_inclusive(
    client: httpx.AsyncClient, seed: Seed, params: dict[str, str], days: list[str]
) -> None:
    response = await client.get(_history(seed.portfolio), params=params)
    assert response.status_code == 200
    assert [p["calculation_date"] for p in response.json()["points"]] == days


async def test_risk_history_from_after_to_is_400(client: httpx.AsyncClient, seed: Seed) -> None:
    response = await client.get(
        _history(seed.portfolio), params={"from": "2025-03-10", "to": "2025-03-01"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "'from' (2025-03-10) is after 'to' (2025-03-01)"}


async def test_risk_history_without_snapshots_is_empty_and_of_a_deleted_portfolio_404(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(_history(seed.no_snapshots))
    assert response.json() == {"portfolio_id": str(seed.no_snapshots), "points": []}
    gone = await client.get(_history(seed.deleted))
    assert gone.status_code == 404
    assert gone.json() == {"detail": f"unknown portfolio {seed.deleted}"}


def test_every_risk_figure_is_described_with_its_unit(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    point = schemas["RiskHistoryPoint"]["properties"]
    assert set(point) == {"calculation_date", *SNAPSHOT_FIGURE_COLUMNS}
    for name in SNAPSHOT_FIGURE_COLUMNS:
        assert point[name].get("description"), name
    assert "HHI on the 0-10,000 scale" in point["hhi"]["description"]
    assert "beta to SPY, dimensionless" in point["market_beta_weighted"]["description"]
    assert "(0.25 = 25%)" in point["realized_volatility_63d"]["description"]
    for model in ("MarketBetaRead", "PositionVolatilityRead"):
        properties = schemas[model]["properties"]
        undocumented = {"id", "portfolio_id", "position_id", "calc_date", "calculation_date"}
        undocumented |= {"method", "market_index"}
        for name, prop in properties.items():
            assert name in undocumented or prop.get("description"), (model, name)
    operation = app.openapi()["paths"]["/api/v1/portfolios/{portfolio_id}/market-betas"]["get"]
    (param,) = [p for p in operation["parameters"] if p["name"] == "date"]
    assert "on or before" in param["description"]
