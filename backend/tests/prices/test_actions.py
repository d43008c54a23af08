"""Corporate actions: the quantity a holder has after splits, the total-return factors of
closes as traded, and their one write."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CorporateAction
from app.prices.actions import (
    ActionRow,
    DividendTooLargeError,
    actions_of,
    merged,
    split_factor,
    total_return_factors,
    upsert_actions,
)
from tests.support.fake_fmp_market_data import FakeSecurity, market_days, quarterly, random_walk

D = Decimal
TWO_FOR_ONE = ActionRow.split("X", date(2025, 3, 3), D(2), D(1))
THREE_FOR_TWO = ActionRow.split("X", date(2025, 6, 2), D(3), D(2))
DIVIDEND = ActionRow.dividend("X", date(2025, 4, 1), D("0.5"))
ACTIONS = [TWO_FOR_ONE, DIVIDEND, THREE_FOR_TWO]


@pytest.mark.parametrize(
    ("entered", "on", "factor"),
    [
        (date(2025, 1, 2), date(2025, 12, 31), D(3)),  # 2 x 1.5
        (date(2025, 1, 2), date(2025, 3, 3), D(2)),  # on the ex-date the split is held
        (date(2025, 3, 3), date(2025, 12, 31), D("1.5")),  # bought at the new price
        (date(2025, 1, 2), date(2025, 3, 2), D(1)),
        (date(2025, 12, 31), date(2025, 1, 2), D(1) / D(3)),  # back in time: the inverse
    ],
)
def test_the_split_factor_is_the_shares_held_then_per_share_held_on_entry(
    entered: date, on: date, factor: Decimal
) -> None:
    assert split_factor(ACTIONS, entered, on) == factor


def test_actions_of_one_ex_date_merge_dividends_add_and_splits_compound() -> None:
    day = date(2025, 5, 1)
    rows = merged(
        [
            ActionRow.dividend("X", day, D("0.25")),
            ActionRow.split("X", day, D(2), D(1)),
            ActionRow.dividend("X", day, D("1.00")),  # a special dividend the same day
            ActionRow.split("X", day, D(3), D(2)),
        ]
    )
    assert rows == [
        ActionRow.dividend("X", day, D("1.25")),
        ActionRow.split("X", day, D(6), D(2)),
    ]


def test_total_return_factors_take_out_every_later_action_and_none_after_the_last_day() -> None:
    closes = {
        date(2025, 2, 28): D(100),
        date(2025, 3, 3): D(51),
        date(2025, 3, 31): D(50),
        date(2025, 4, 1): D(49),
    }
    got = total_return_factors(
        closes, [*ACTIONS, ActionRow.split("X", date(2026, 1, 2), D(9), D(1))]
    )
    dividend = 1 - D("0.5") / D(50)
    assert got == {
        date(2025, 2, 28): dividend / 2,
        date(2025, 3, 3): dividend,
        date(2025, 3, 31): dividend,
        date(2025, 4, 1): D(1),
    }
    with pytest.raises(DividendTooLargeError, match="not less than the close before it"):
        total_return_factors(closes, [ActionRow.dividend("X", date(2025, 4, 1), D(50))])


def test_total_return_factors_rebuild_the_providers_total_return_series() -> None:
    """From a fake FMP security's closes as traded and its actions, the total-return closes
    FMP serves: the same convention on both sides (to the provider's 6 decimals)."""
    days = market_days(date(2024, 1, 1), 260)
    plain = FakeSecurity(
        "Y", days, random_walk(len(days), seed=7), dividends=quarterly(days, D("0.75"))
    )
    security = plain.with_split("X", days[150], 4, 1)
    traded = {d: security.traded(i) for i, d in enumerate(days)}
    actions = [ActionRow.split("X", days[150], D(4), D(1))] + [
        ActionRow.dividend("X", d, a) for d, a in security.dividends.items()
    ]
    factors = total_return_factors(traded, actions)
    for i, day in enumerate(days):
        rebuilt = traded[day] * factors[day]
        assert abs(rebuilt - security.total_return[i]) <= D("2e-6") * security.total_return[i]


async def test_recording_an_action_twice_keeps_one_row_with_the_latest_values(
    session: AsyncSession,
) -> None:
    assert await upsert_actions(session, ACTIONS, "CSV") == 3
    corrected = ActionRow.dividend("X", DIVIDEND.ex_date, D("0.55"))
    assert await upsert_actions(session, [corrected], "FMP") == 1
    count = await session.scalar(select(func.count()).select_from(CorporateAction))
    assert count == 3
    found = await actions_of(session, ["X", "NONE"])
    assert found["NONE"] == []
    assert found["X"] == [TWO_FOR_ONE, corrected, THREE_FOR_TWO]
    assert (await actions_of(session, ["X"], "split"))["X"] == [TWO_FOR_ONE, THREE_FOR_TWO]
