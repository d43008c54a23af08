"""GET /api/v1/benchmarks/{code}/sector-weights[/history]."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BenchmarkSectorWeight

IT, HC, FIN, EN, UT = (
    "Information Technology",
    "Health Care",
    "Financials",
    "Energy",
    "Utilities",
)
# Each date has a different sector set, so a response mixing dates would show it.
SP500 = {
    date(2025, 1, 2): {IT: "0.300000", HC: "0.120000", FIN: "0.130000", EN: "0.040000"},
    date(2025, 2, 3): {IT: "0.310000", HC: "0.110000", FIN: "0.135000"},
    date(2025, 3, 3): {
        IT: "0.320000",
        HC: "0.100000",
        FIN: "0.140000",
        EN: "0.035000",
        UT: "0.025000",
    },
}
NDX = {date(2025, 4, 1): {IT: "0.500000"}}


@pytest_asyncio.fixture(scope="module", loop_scope="session", autouse=True)
async def seeded(seed_session: AsyncSession) -> None:
    for code, dates in (("SP500", SP500), ("NDX", NDX)):
        for day, weights in dates.items():
            for sector, weight in weights.items():
                seed_session.add(
                    BenchmarkSectorWeight(
                        benchmark_code=code,
                        asof_date=day,
                        sector=sector,
                        weight=Decimal(weight),
                        market_cap=Decimal("1000000.00"),
                        num_constituents=10,
                    )
                )
    await seed_session.commit()


def _weights(body: dict[str, object]) -> dict[str, str]:
    return {w["sector"]: w["weight"] for w in body["weights"]}  # type: ignore[attr-defined]


async def test_default_is_the_latest_date_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/benchmarks/SP500/sector-weights")
    assert response.status_code == 200
    body = response.json()
    assert body["benchmark_code"] == "SP500"
    assert body["asof_date"] == "2025-03-03"
    assert _weights(body) == SP500[date(2025, 3, 3)]
    assert [w["sector"] for w in body["weights"]] == sorted(SP500[date(2025, 3, 3)])
    assert body["weights"][0]["market_cap"] == "1000000.00"
    assert body["weights"][0]["data_source"] == "FMP"


@pytest.mark.parametrize(
    ("asof", "expected"),
    [
        ("2025-02-20", date(2025, 2, 3)),  # between dates: the earlier one, all its sectors
        ("2025-02-03", date(2025, 2, 3)),  # exactly a stored date
        ("2025-03-02", date(2025, 2, 3)),  # the day before the next date
        ("2030-01-01", date(2025, 3, 3)),  # after everything; NDX's later date is not used
    ],
)
async def test_asof_picks_one_date_on_or_before(
    client: httpx.AsyncClient, asof: str, expected: date
) -> None:
    response = await client.get("/api/v1/benchmarks/SP500/sector-weights", params={"asof": asof})
    assert response.status_code == 200
    body = response.json()
    assert body["asof_date"] == expected.isoformat()
    assert _weights(body) == SP500[expected]


async def test_other_benchmarks_are_not_mixed_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/benchmarks/NDX/sector-weights")
    assert response.status_code == 200
    assert response.json()["asof_date"] == "2025-04-01"
    assert _weights(response.json()) == {IT: "0.500000"}


async def test_asof_before_the_first_date_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/benchmarks/SP500/sector-weights", params={"asof": "2025-01-01"}
    )
    assert response.status_code == 404
    assert response.json() == {
        "detail": "benchmark 'SP500' has no sector weights on or before 2025-01-01"
    }


async def test_unknown_benchmark_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/benchmarks/FTSE100/sector-weights")
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown benchmark 'FTSE100': no sector weights stored"


@pytest.mark.parametrize("asof", ["2025-13-01", "2025-02-30", "yesterday", "20250101x"])
async def test_malformed_asof_is_422_naming_the_parameter(
    client: httpx.AsyncClient, asof: str
) -> None:
    response = await client.get("/api/v1/benchmarks/SP500/sector-weights", params={"asof": asof})
    assert response.status_code == 422
    body = response.json()
    assert [e["location"] for e in body["errors"]] == ["query.asof"]
    assert body["detail"].startswith("Invalid request: query.asof: ")
    assert "Traceback" not in response.text


@pytest.mark.parametrize("code", ["SP%20500", "x" * 33, "SP500%00"])
async def test_malformed_benchmark_code_is_422(client: httpx.AsyncClient, code: str) -> None:
    response = await client.get(f"/api/v1/benchmarks/{code}/sector-weights")
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "path.code"


async def test_history_of_one_sector_accepts_provider_labels(client: httpx.AsyncClient) -> None:
    # "Technology" is FMP's label for GICS Information Technology.
    response = await client.get(
        "/api/v1/benchmarks/SP500/sector-weights/history", params={"sector": "Technology"}
    )
    assert response.status_code == 200
    points = response.json()["points"]
    assert [(p["asof_date"], p["sector"], p["weight"]) for p in points] == [
        ("2025-01-02", IT, "0.300000"),
        ("2025-02-03", IT, "0.310000"),
        ("2025-03-03", IT, "0.320000"),
    ]


async def test_history_range_is_inclusive_and_ordered_by_date_then_sector(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/benchmarks/SP500/sector-weights/history",
        params={"from": "2025-02-03", "to": "2025-03-03"},
    )
    assert response.status_code == 200
    points = response.json()["points"]
    expected = [
        (day.isoformat(), sector)
        for day in (date(2025, 2, 3), date(2025, 3, 3))
        for sector in sorted(SP500[day])
    ]
    assert [(p["asof_date"], p["sector"]) for p in points] == expected


async def test_history_with_no_rows_in_range_is_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/benchmarks/SP500/sector-weights/history",
        params={"from": "2024-01-01", "to": "2024-12-31"},
    )
    assert response.status_code == 200
    assert response.json() == {"benchmark_code": "SP500", "points": []}


async def test_history_from_after_to_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/benchmarks/SP500/sector-weights/history",
        params={"from": "2025-03-01", "to": "2025-02-01"},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "'from' (2025-03-01) is after 'to' (2025-02-01)"}


async def test_history_unknown_sector_is_400_listing_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/benchmarks/SP500/sector-weights/history", params={"sector": "Crypto"}
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("unknown sector label 'Crypto'")
    assert "Information Technology" in detail


async def test_history_unknown_benchmark_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/benchmarks/NOPE/sector-weights/history")
    assert response.status_code == 404
