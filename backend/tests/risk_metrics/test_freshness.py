"""Figures never silently degraded: a position without a fresh price gets no figures, is
named with its reason, and counts as uncovered exposure; positions are valued at the
close as traded times the quantity held that day, across a 4:1 split."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.models import DailyPrice, PortfolioSnapshot, PositionMarketBeta, PositionVolatility, User
from app.prices.actions import ActionRow, total_return_factors, upsert_actions
from app.prices.demo import demo_calendar
from app.risk_metrics.calculation import calculate_portfolio_risk
from tests.support.factories import make_portfolio, make_position

CALC = date(2025, 11, 28)
DAYS = 200
CALENDAR = demo_calendar(CALC, DAYS)
STALE_AGE = 30  # six weeks of trading days
RECENT_AGE = 2


def _walk(seed: int, start: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(start * np.cumprod(1 + rng.normal(0.0003, 0.012, DAYS)), 6)


async def _prices(session: AsyncSession, symbol: str, closes: np.ndarray, upto: int = 0) -> None:
    """``symbol``'s closes on the calendar, the last ``upto`` days left out."""
    days = CALENDAR[: len(CALENDAR) - upto]
    await session.execute(
        pg_insert(DailyPrice),
        [
            {"symbol": symbol, "date": d, "close": c, "adjusted_close": c, "source": "CSV"}
            for d, c in zip(days, closes.tolist(), strict=False)
        ],
    )


async def _stale_book(session: AsyncSession, owner: User | None = None) -> dict[str, object]:
    series = {s: _walk(i, 50 + 10 * i) for i, s in enumerate(("SPY", "AAA", "BBB", "OLD", "NEW"))}
    for symbol in ("SPY", "AAA", "BBB"):
        await _prices(session, symbol, series[symbol])
    await _prices(session, "OLD", series["OLD"], upto=STALE_AGE)
    await _prices(session, "NEW", series["NEW"], upto=RECENT_AGE)
    portfolio = await make_portfolio(session, "Stale book", owner=owner)
    positions = {
        symbol: await make_position(
            session, portfolio, symbol, "100", entry_date=CALENDAR[0], entry_price=Decimal("20")
        )
        for symbol in ("AAA", "BBB", "OLD", "NEW", "GHOST")  # GHOST: never priced
    }
    return {"portfolio": portfolio, "positions": positions, "series": series}


async def _rows(session: AsyncSession, model: type, column: str, ids: list[object]) -> set[object]:
    found = await session.scalars(select(model.position_id).where(getattr(model, column).in_(ids)))  # type: ignore[attr-defined]
    return set(found)


async def test_a_price_six_weeks_old_gets_no_figures_is_named_and_lowers_coverage(
    session: AsyncSession,
) -> None:
    book = await _stale_book(session)
    portfolio, positions, series = book["portfolio"], book["positions"], book["series"]
    summary = await calculate_portfolio_risk(session, portfolio.id, CALC)  # type: ignore[attr-defined]

    ids = {s: p.id for s, p in positions.items()}  # type: ignore[attr-defined]
    betas = await _rows(session, PositionMarketBeta, "position_id", list(ids.values()))
    vols = await _rows(session, PositionVolatility, "position_id", list(ids.values()))
    assert betas == vols == {ids["AAA"], ids["BBB"], ids["NEW"]}  # 2 days old: within 3

    named = dict(summary.excluded)
    assert set(named) == {"OLD", "GHOST"}
    old_day = CALENDAR[-1 - STALE_AGE]
    assert named["OLD"].startswith(f"last OLD price is of {old_day}, {STALE_AGE} trading days")
    assert named["GHOST"] == f"no GHOST price on or before {CALC}: no figures"

    snap = await session.scalar(
        select(PortfolioSnapshot).where(PortfolioSnapshot.portfolio_id == portfolio.id)  # type: ignore[attr-defined]
    )
    assert snap is not None
    assert snap.excluded_positions == [  # by symbol
        {
            "position_id": str(ids["GHOST"]),
            "symbol": "GHOST",
            "reason": "no_price",
            "detail": named["GHOST"],
            "last_price_date": None,
            "uncovered_exposure": "2000.00",  # never priced: 100 at its entry price of 20
        },
        {
            "position_id": str(ids["OLD"]),
            "symbol": "OLD",
            "reason": "stale_price",
            "detail": named["OLD"],
            "last_price_date": str(old_day),
            "uncovered_exposure": f"{100 * series['OLD'][-1 - STALE_AGE]:.2f}",  # type: ignore[index]
        },
    ]
    closes = series  # type: ignore[assignment]
    covered = {
        "AAA": 100 * closes["AAA"][-1],  # type: ignore[index]
        "BBB": 100 * closes["BBB"][-1],  # type: ignore[index]
        "NEW": 100 * closes["NEW"][-1 - RECENT_AGE],  # type: ignore[index]
    }
    # Left out, at its last close and (never priced) at its entry price: uncovered.
    uncovered = 100 * closes["OLD"][-1 - STALE_AGE] + 100 * 20  # type: ignore[index]
    book_gross = sum(covered.values()) + uncovered
    assert float(snap.gross_exposure) == pytest.approx(sum(covered.values()), abs=0.01)
    assert float(snap.beta_coverage) == pytest.approx(sum(covered.values()) / book_gross, abs=1e-4)
    assert summary.beta_coverage == pytest.approx(sum(covered.values()) / book_gross)
    assert float(snap.beta_coverage) < 1
    # Concentration: the three covered names' weights of the whole book.
    weights = sorted((v / book_gross for v in covered.values()), reverse=True)
    assert float(snap.top_10_concentration) == pytest.approx(sum(weights), abs=1e-4)
    assert float(snap.top_3_concentration) < 1
    assert float(snap.hhi) == pytest.approx(sum(w * w for w in weights) * 1e4, abs=0.01)


async def test_a_longer_limit_lets_the_old_price_count_again(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STALE_PRICE_TRADING_DAYS", str(STALE_AGE))
    get_settings.cache_clear()
    try:
        book = await _stale_book(session)
        summary = await calculate_portfolio_risk(session, book["portfolio"].id, CALC)  # type: ignore[attr-defined]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert [symbol for symbol, _ in summary.excluded] == ["GHOST"]
    old = book["positions"]["OLD"]  # type: ignore[index]
    assert old.id in await _rows(session, PositionMarketBeta, "position_id", [old.id])


async def test_every_position_fresh_keeps_full_coverage_and_no_exclusions(
    session: AsyncSession,
) -> None:
    series = {s: _walk(i, 60) for i, s in enumerate(("SPY", "AAA"))}
    for symbol, closes in series.items():
        await _prices(session, symbol, closes)
    portfolio = await make_portfolio(session, "Fresh book")
    await make_position(session, portfolio, "AAA", "10", entry_date=CALENDAR[0])
    summary = await calculate_portfolio_risk(session, portfolio.id, CALC)
    snap = await session.scalar(
        select(PortfolioSnapshot).where(PortfolioSnapshot.portfolio_id == portfolio.id)
    )
    assert snap is not None
    assert summary.excluded == [] and snap.excluded_positions is None
    assert float(snap.beta_coverage) == 1.0 and float(snap.top_10_concentration) == 1.0


# --- valuation across a 4:1 split -------------------------------------------------------

SPLIT_DAY = CALENDAR[-40]
DIVIDEND_DAY = CALENDAR[-20]
BEFORE_SPLIT = CALENDAR[-60]
AFTER_SPLIT = CALENDAR[-10]


async def _split_stock(session: AsyncSession) -> np.ndarray:
    """SPLT's closes as traded: a 4:1 split on SPLIT_DAY (the close falls to a quarter)
    and a dividend on DIVIDEND_DAY; its total-return closes come from those actions."""
    await _prices(session, "SPY", _walk(1, 400))
    traded = _walk(2, 100) * np.where(np.array(CALENDAR) < SPLIT_DAY, 4.0, 1.0)
    traded = np.round(traded, 6)
    actions = [
        ActionRow.split("SPLT", SPLIT_DAY, Decimal(4), Decimal(1)),
        ActionRow.dividend("SPLT", DIVIDEND_DAY, Decimal("1.5")),
    ]
    closes = {d: Decimal(repr(float(c))) for d, c in zip(CALENDAR, traded, strict=True)}
    factors = total_return_factors(closes, actions)
    await session.execute(
        pg_insert(DailyPrice),
        [
            {
                "symbol": "SPLT",
                "date": d,
                "close": closes[d],
                "adjusted_close": (closes[d] * factors[d]).quantize(Decimal("0.000001")),
                "source": "CSV",
            }
            for d in CALENDAR
        ],
    )
    await upsert_actions(session, actions, "CSV")
    return traded


async def _gross(session: AsyncSession, portfolio_id: object, day: date) -> float:
    await calculate_portfolio_risk(session, portfolio_id, day)  # type: ignore[arg-type]
    snap = await session.scalar(
        select(PortfolioSnapshot).where(
            PortfolioSnapshot.portfolio_id == portfolio_id,
            PortfolioSnapshot.calculation_date == day,
        )
    )
    assert snap is not None and snap.gross_exposure is not None
    return float(snap.gross_exposure)


async def test_past_dates_are_valued_at_the_traded_close_times_the_shares_held_then(
    session: AsyncSession,
) -> None:
    traded = await _split_stock(session)
    close_on = dict(zip(CALENDAR, traded.tolist(), strict=True))
    # 400 shares today: 100 before the split, each at the pre-split close.
    held = await make_portfolio(session, "Held through the split")
    await make_position(session, held, "SPLT", "400", entry_date=CALENDAR[0])
    assert await _gross(session, held.id, BEFORE_SPLIT) == pytest.approx(
        100 * close_on[BEFORE_SPLIT], abs=0.01
    )
    assert await _gross(session, held.id, AFTER_SPLIT) == pytest.approx(
        400 * close_on[AFTER_SPLIT], abs=0.01
    )
    # Sold before the split: its 100 shares are those of its last held day.
    sold = await make_portfolio(session, "Sold before the split")
    await make_position(
        session, sold, "SPLT", "100", entry_date=CALENDAR[0], exit_date=CALENDAR[-45]
    )
    assert await _gross(session, sold.id, BEFORE_SPLIT) == pytest.approx(
        100 * close_on[BEFORE_SPLIT], abs=0.01
    )
