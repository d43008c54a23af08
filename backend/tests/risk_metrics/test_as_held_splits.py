"""The as-held series across a split: each position counts the shares it held each day,
whether it is held still or was closed before the split (its stored quantity is then the
pre-split count, and the total-return closes are on today's post-split basis)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from app.portfolios.repository import HeldPosition, HeldSpan
from app.prices.actions import ActionRow
from app.prices.repository import PriceHistory
from app.risk_metrics.as_held import as_held_figures

DAYS = [date(2025, 3, 3) + timedelta(days=n) for n in range(8)]
SPLIT_ROW = 4
"""A 2-for-1 split of ACME goes ex on this row: its close halves, a holder's shares double."""
ACME_TRADED = [100.0, 102.0, 101.0, 103.0, 52.0, 51.0, 53.0, 54.0]
BOLT_TRADED = [20.0, 21.0, 20.5, 21.5, 22.0, 21.0, 23.0, 24.0]
TODAY = DAYS[-1] + timedelta(days=3)


def _history() -> PriceHistory:
    acme_total_return = [c / 2 if row < SPLIT_ROW else c for row, c in enumerate(ACME_TRADED)]
    return PriceHistory(
        dates=DAYS,
        symbols=["ACME", "BOLT"],
        closes=np.array([acme_total_return, BOLT_TRADED]).T,
        market=np.linspace(400.0, 410.0, len(DAYS)),
        traded=np.array([ACME_TRADED, BOLT_TRADED]).T,
        splits={"ACME": (ActionRow.split("ACME", DAYS[SPLIT_ROW], Decimal(2), Decimal(1)),)},
    )


def _span(symbol: str, quantity: float, first: int, last: int | None) -> HeldSpan:
    last_day = None if last is None else DAYS[last]
    position = HeldPosition(uuid.uuid4(), symbol, symbol, "LONG", quantity, last_day)
    return HeldSpan(position, DAYS[first], last_day)


def _shares(span: HeldSpan, row: int) -> float:
    """Shares held on ``row``, from the stored quantity and the day it counts on."""
    counted_on = span.position.quantity_date or TODAY
    split_between = (DAYS[row] < DAYS[SPLIT_ROW] <= counted_on) and span.position.symbol == "ACME"
    return span.position.quantity / 2 if split_between else span.position.quantity


def _expected_returns(spans: list[HeldSpan]) -> list[float]:
    """Each day's P&L over the previous close's gross, from the closes as traded and the
    shares held at the previous close (a split on the day doubles them at its open)."""
    traded = {"ACME": ACME_TRADED, "BOLT": BOLT_TRADED}
    out = []
    for row in range(1, len(DAYS)):
        pnl = gross = 0.0
        for span in spans:
            if not span.held_on(DAYS[row - 1]):
                continue
            close = traded[span.position.symbol]
            shares = _shares(span, row - 1)
            ratio = 2.0 if span.position.symbol == "ACME" and row == SPLIT_ROW else 1.0
            pnl += shares * (close[row] * ratio - close[row - 1])
            gross += shares * close[row - 1]
        out.append(pnl / gross if gross else float("nan"))
    return out


def test_a_position_closed_before_a_split_weighs_what_it_was_worth_then() -> None:
    spans = [
        _span("ACME", 100, first=0, last=2),  # sold before the split: 100 pre-split shares
        _span("BOLT", 500, first=0, last=None),
    ]
    result = as_held_figures(_history(), spans, [len(DAYS) - 1], None, 20, today=TODAY)
    # Day 1: ACME 100 x (102 - 100) + BOLT 500 x (21 - 20) over 100 x 100 + 500 x 20.
    assert result.returns[0] == np.float64(700 / 20_000)
    np.testing.assert_allclose(result.returns, _expected_returns(spans), rtol=1e-12)


def test_a_position_held_through_the_split_counts_the_shares_of_each_day() -> None:
    spans = [
        _span("ACME", 200, first=0, last=None),  # held still: 200 shares today, 100 before
        _span("ACME", 60, first=1, last=6),  # closed after the split: 60 post-split shares
        _span("BOLT", 300, first=2, last=None),
    ]
    result = as_held_figures(_history(), spans, [len(DAYS) - 1], None, 20, today=TODAY)
    np.testing.assert_allclose(result.returns, _expected_returns(spans), rtol=1e-12)
