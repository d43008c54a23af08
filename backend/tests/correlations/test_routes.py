"""GET /api/v1/portfolios/{id}/correlations: the largest holdings' correlations from
stored total-return closes, checked against numpy on the same prices; holdings that
cannot take part are named with their reason; another user's portfolio is a 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import httpx
import numpy as np
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DailyPrice
from tests.support.api import signed_in
from tests.support.factories import make_portfolio, make_position, make_user

WINDOW = 90
DAYS = [d for d in (date(2025, 1, 2) + timedelta(n) for n in range(200)) if d.weekday() < 5][:130]
LAST = DAYS[-1]
# Shares held (negative: SHORT), all priced near 100 at the end: weights are distinct.
HELD = {"AAPL": 500, "MSFT": 400, "XOM": -300, "KO": 200, "JNJ": 100, "PG": 50}


@dataclass
class Seed:
    owner: uuid.UUID
    other: uuid.UUID
    portfolio: uuid.UUID
    empty: uuid.UUID
    adjusted: dict[str, np.ndarray] = field(default_factory=dict)
    positions: dict[str, uuid.UUID] = field(default_factory=dict)


def _walk(rng: np.random.Generator, factor: np.ndarray, loading: float) -> np.ndarray:
    returns = loading * factor + rng.normal(0, 0.01, factor.size)
    path = 100 * np.cumprod(1 + returns)
    return np.round(path * 100 / path[-1], 6)  # ends at 100


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    rng = np.random.default_rng(11)
    owner = await make_user(db, "corr-owner@example.com")
    other = await make_user(db, "corr-other@example.com")
    book = await make_portfolio(db, "Correlated", owner=owner)
    empty = await make_portfolio(db, "Nothing held", owner=owner)
    seed = Seed(owner.id, other.id, book.id, empty.id)

    factor = rng.normal(0, 0.01, len(DAYS))
    series = {"SPY": 1.0, "AAPL": 1.2, "MSFT": 1.0, "XOM": 0.6, "KO": 0.3, "JNJ": 0.2, "PG": 0.1}
    for symbol, loading in series.items():
        seed.adjusted[symbol] = _walk(rng, factor, loading)
    seed.adjusted["THIN"] = _walk(rng, factor, 0.5)
    for symbol, path in seed.adjusted.items():
        days = DAYS[-30:] if symbol == "THIN" else DAYS  # 29 returns: too few
        path = path[-len(days) :]
        for n, (day, price) in enumerate(zip(days, path, strict=True)):
            # The close as traded halves on a 2-for-1 split halfway: a return read from it
            # would show a -50% day; the total-return close does not.
            traded = price * (2 if n < len(days) // 2 else 1)
            db.add(
                DailyPrice(
                    symbol=symbol,
                    date=day,
                    close=Decimal(str(round(traded, 6))),
                    adjusted_close=Decimal(str(price)),
                    source="CSV",
                )
            )
    for symbol, shares in HELD.items():
        position = await make_position(
            db, book, symbol, str(abs(shares)), "SHORT" if shares < 0 else "LONG"
        )
        seed.positions[symbol] = position.id
    # AAPL calls: they move with AAPL (exposure 6 x 100 x 100 = 60,000, the largest).
    call = await make_position(
        db,
        book,
        "AAPL250117C00150000",
        "6",
        "LC",
        underlying_symbol="AAPL",
        strike_price=Decimal("150"),
        expiration_date=date(2026, 1, 16),
    )
    seed.positions["CALL"] = call.id
    seed.positions["THIN"] = (await make_position(db, book, "THIN", "100")).id
    seed.positions["NONE"] = (await make_position(db, book, "NOPRICE", "100")).id
    await db.commit()
    return seed


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    return seed.owner


def _returns(prices: np.ndarray) -> np.ndarray:
    return prices[1:] / prices[:-1] - 1


async def test_the_matrix_is_numpys_over_the_beta_window_of_total_return_closes(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.portfolio}/correlations")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == LAST.isoformat()
    assert (body["window_days"], body["observations"]) == (WINDOW, WINDOW)

    # Largest |weight| first: the calls (60,000), AAPL, MSFT, XOM (short), KO, JNJ, PG;
    # THIN is among them but has too few prices; NOPRICE has none.
    symbols = [h["symbol"] for h in body["holdings"]]
    assert symbols == ["AAPL250117C00150000", "AAPL", "MSFT", "XOM", "KO", "JNJ", "PG"]
    gross = 60_000 + sum(abs(s) * 100 for s in HELD.values()) + 100 * 100
    weights = {h["symbol"]: Decimal(h["weight"]) for h in body["holdings"]}
    assert weights["XOM"] == (Decimal(-300 * 100) / gross).quantize(Decimal("1e-6"))
    assert weights["AAPL250117C00150000"] == (Decimal(60_000) / gross).quantize(Decimal("1e-6"))

    series = [h["series"] for h in body["holdings"]]
    returns = np.column_stack([_returns(seed.adjusted[s])[-WINDOW:] for s in series])
    expected = np.corrcoef(returns, rowvar=False)
    matrix = np.array([[float(v) for v in row] for row in body["matrix"]])
    np.testing.assert_allclose(matrix, expected, atol=2e-6)  # to the 6 decimals sent
    assert body["matrix"][0][1] == "1.000000"  # the call moves with its underlying
    vols = [float(h["volatility"]) for h in body["holdings"]]
    np.testing.assert_allclose(vols, returns.std(axis=0, ddof=1) * np.sqrt(252), atol=2e-6)

    w = np.array([float(weights[s]) for s in symbols])
    covariance = np.cov(returns, rowvar=False)
    ratio = np.abs(w) @ np.sqrt(np.diag(covariance)) / np.sqrt(w @ covariance @ w)
    assert float(body["diversification_ratio"]) == pytest.approx(ratio, abs=2e-6)
    assert body["diversification_ratio_reason"] is None

    reasons = {x["symbol"]: x["reason"] for x in body["left_out"]}
    assert reasons == {
        "NOPRICE": f"no price of NOPRICE on or before {LAST} to weigh it",
        "THIN": "29 of 90 days with a return, at least 72 needed",
    }
    assert body["smaller_holdings"] == 0


async def test_top_keeps_the_largest_and_counts_the_rest(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    body = (
        await client.get(f"/api/v1/portfolios/{seed.portfolio}/correlations", params={"top": 3})
    ).json()
    assert [h["symbol"] for h in body["holdings"]] == ["AAPL250117C00150000", "AAPL", "MSFT"]
    assert len(body["matrix"]) == 3 and all(len(row) == 3 for row in body["matrix"])
    assert body["smaller_holdings"] == 5  # XOM, KO, THIN, JNJ, PG
    assert [x["symbol"] for x in body["left_out"]] == ["NOPRICE"]


async def test_a_date_reads_the_window_ending_on_the_trading_day_on_or_before_it(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    saturday = next(d for d in (LAST - timedelta(n) for n in range(1, 9)) if d.weekday() == 5)
    friday = saturday - timedelta(1)
    body = (
        await client.get(
            f"/api/v1/portfolios/{seed.portfolio}/correlations",
            params={"date": saturday.isoformat(), "top": 3},
        )
    ).json()
    assert body["as_of"] == friday.isoformat()
    end = DAYS.index(friday)
    aapl, msft = (_returns(seed.adjusted[s][: end + 1])[-WINDOW:] for s in ("AAPL", "MSFT"))
    assert float(body["matrix"][2][1]) == pytest.approx(np.corrcoef(aapl, msft)[0, 1], abs=2e-6)


async def test_an_empty_book_has_no_matrix_and_says_why(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    body = (await client.get(f"/api/v1/portfolios/{seed.empty}/correlations")).json()
    assert body["holdings"] == [] and body["matrix"] == []
    assert body["diversification_ratio"] is None
    assert body["diversification_ratio_reason"] == f"no position with a price is held on {LAST}"


@pytest.mark.parametrize("top", [0, 26, "ten"])
async def test_top_outside_1_to_25_is_refused(
    client: httpx.AsyncClient, seed: Seed, top: object
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/correlations", params={"top": top}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["location"] == "query.top"


async def test_a_date_before_any_market_price_has_nothing_and_says_what_to_load(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.portfolio}/correlations", params={"date": "2024-12-31"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["as_of"], body["holdings"], body["matrix"]) == (None, [], [])
    assert body["diversification_ratio_reason"].startswith(
        "no SPY prices on or before 2024-12-31: load prices first"
    )


async def test_another_users_or_a_missing_portfolio_is_404(app: FastAPI, seed: Seed) -> None:
    async with signed_in(app, seed.other) as other:
        theirs = await other.get(f"/api/v1/portfolios/{seed.portfolio}/correlations")
        missing = await other.get(f"/api/v1/portfolios/{uuid.uuid4()}/correlations")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].startswith("unknown portfolio")
