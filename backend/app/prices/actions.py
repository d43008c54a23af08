"""Corporate actions (splits and cash dividends): what they do to a close and to a holding,
their reads and their one write.

- A holding: a split of N for D turns each share held before its ex-date into N / D
  shares; :func:`split_factor` is the factor between the quantity held on two dates, and
  :func:`shares_held` the shares a position holds on a day for each share of its stored
  quantity (a position's value on a day is its close as traded times those shares, signed
  by app.formulas.exposure: the engine's and the API's valuations both read it here).
- A close: the total-return close of a day is its close as traded times the factor of
  every action after it (ex-date later than the day, up to the last day priced): D / N
  for a split, ``1 - dividend / close the day before the ex-date`` for a dividend (the
  dividend reinvested at that close, the convention of CRSP and of FMP's adjusted series).
  :func:`total_return_factors` is that product for each day, for sources that give closes
  as traded only (a CSV without adjusted_close).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.repository import upsert
from app.models import CorporateAction

ActionKind = Literal["split", "dividend"]
ONE = Decimal(1)


@dataclass(frozen=True)
class ActionRow:
    """A split (``numerator`` for ``denominator``) or a cash dividend (``amount`` per share
    as traded on its ex-date) of ``symbol``."""

    symbol: str
    ex_date: date
    kind: ActionKind
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    amount: Decimal | None = None

    @classmethod
    def split(
        cls, symbol: str, ex_date: date, numerator: Decimal, denominator: Decimal
    ) -> ActionRow:
        return cls(symbol, ex_date, "split", numerator=numerator, denominator=denominator)

    @classmethod
    def dividend(cls, symbol: str, ex_date: date, amount: Decimal) -> ActionRow:
        return cls(symbol, ex_date, "dividend", amount=amount)

    @property
    def shares_per_share(self) -> Decimal:
        """Shares held from the ex-date on for each share held before (1 for a dividend)."""
        if self.kind != "split":
            return ONE
        assert self.numerator is not None and self.denominator is not None
        return self.numerator / self.denominator

    @property
    def ratio_text(self) -> str:
        return (
            f"{self.numerator.normalize():f}:{self.denominator.normalize():f}"
            if (self.numerator is not None and self.denominator is not None)
            else ""
        )


def merged(rows: Iterable[ActionRow]) -> list[ActionRow]:
    """One row per (symbol, ex-date, kind), sorted: dividends of one ex-date (a regular
    and a special one) add up, splits of one ex-date compound."""
    out: dict[tuple[str, date, str], ActionRow] = {}
    for row in rows:
        key = (row.symbol, row.ex_date, row.kind)
        seen = out.get(key)
        if seen is None:
            out[key] = row
        elif row.kind == "dividend":
            assert seen.amount is not None and row.amount is not None
            out[key] = replace(seen, amount=seen.amount + row.amount)
        else:
            assert seen.numerator is not None and seen.denominator is not None
            assert row.numerator is not None and row.denominator is not None
            out[key] = replace(
                seen,
                numerator=seen.numerator * row.numerator,
                denominator=seen.denominator * row.denominator,
            )
    return [out[k] for k in sorted(out)]


def split_factor(actions: Iterable[ActionRow], entered: date, on: date) -> Decimal:
    """Shares held on ``on`` for each share held on ``entered``: the product of N / D of
    the splits with an ex-date after ``entered`` and on or before ``on`` (a position
    entered on an ex-date was bought at the split's new price). Before ``entered``: the
    inverse, so that quantities convert both ways."""
    if on < entered:
        return ONE / split_factor(actions, on, entered)
    factor = ONE
    for action in actions:
        if action.kind == "split" and entered < action.ex_date <= on:
            factor *= action.shares_per_share
    return factor


def shares_held(
    splits: Iterable[ActionRow], quantity_date: date | None, day: date, *, today: date | None = None
) -> Decimal:
    """Shares a position holds on ``day`` for each share of its stored quantity. The stored
    quantity counts on ``quantity_date`` (a closed position's last held day) or, while the
    position is held still (None), on ``today`` (the current UTC date if not given): it
    is the quantity after every split up to that day."""
    counted_on = quantity_date or today or datetime.now(UTC).date()
    return split_factor(splits, counted_on, day)


class DividendTooLargeError(ValueError):
    """A dividend not smaller than the close it is paid out of: a wrong amount or scale."""

    def __init__(self, action: ActionRow, close: Decimal) -> None:
        super().__init__(
            f"the dividend of {action.amount} on {action.ex_date} is not less than the close "
            f"before it ({close}): is it per share, on the scale of that day's close?"
        )
        self.action = action


def total_return_factors(
    closes: Mapping[date, Decimal], actions: Iterable[ActionRow]
) -> dict[date, Decimal]:
    """For each day of ``closes`` (the symbol's closes as traded, by day), the factor that
    turns its close into the total-return close: the product of the factors of the
    actions with an ex-date after that day, up to the last day of ``closes``.

    An action with an ex-date on or before the first day changes no day's factor; one
    after the last day is not in the prices yet (their latest close is as traded)."""
    days = sorted(closes)
    if not days:
        return {}
    step: dict[date, Decimal] = {}  # ex-date -> the factor of the actions on it
    for action in actions:
        if not days[0] < action.ex_date <= days[-1]:
            continue
        if action.kind == "split":
            factor = ONE / action.shares_per_share
        else:
            assert action.amount is not None
            before = closes[days[bisect_left(days, action.ex_date) - 1]]
            if action.amount >= before:
                raise DividendTooLargeError(action, before)
            factor = ONE - action.amount / before
        step[action.ex_date] = step.get(action.ex_date, ONE) * factor
    out: dict[date, Decimal] = {}
    running = ONE
    ex_dates = sorted(step, reverse=True)
    for day in reversed(days):
        while ex_dates and ex_dates[0] > day:
            running *= step[ex_dates.pop(0)]
        out[day] = running
    return out


# --- reads and the write ----------------------------------------------------------------


def _row(action: CorporateAction) -> ActionRow:
    kind: ActionKind = "split" if action.kind == "split" else "dividend"
    return ActionRow(
        action.symbol,
        action.ex_date,
        kind,
        action.split_numerator,
        action.split_denominator,
        action.dividend_amount,
    )


async def actions_of(
    session: AsyncSession, symbols: Sequence[str], kind: ActionKind | None = None
) -> dict[str, list[ActionRow]]:
    """The recorded actions of each of ``symbols`` (only ``kind``, if given), oldest first;
    every symbol is a key."""
    query = select(CorporateAction).where(CorporateAction.symbol.in_(list(symbols)))
    if kind is not None:
        query = query.where(CorporateAction.kind == kind)
    found: dict[str, list[ActionRow]] = {s: [] for s in symbols}
    for action in await session.scalars(query.order_by(CorporateAction.ex_date)):
        found[action.symbol].append(_row(action))
    return found


async def upsert_actions(session: AsyncSession, rows: Sequence[ActionRow], source: str) -> int:
    """Record ``rows`` (merged per symbol, ex-date and kind); an action recorded before is
    replaced. Returns the number of rows written."""
    rows = merged(rows)
    if not rows:
        return 0
    stmt = upsert(
        CorporateAction,
        constraint="uq_corporate_actions_symbol_ex_date_kind",
        update=("split_numerator", "split_denominator", "dividend_amount", "source"),
    )
    await session.execute(
        stmt,
        [
            {
                "symbol": r.symbol,
                "ex_date": r.ex_date,
                "kind": r.kind,
                "split_numerator": r.numerator,
                "split_denominator": r.denominator,
                "dividend_amount": r.amount,
                "source": source,
            }
            for r in rows
        ],
    )
    await session.flush()
    return len(rows)
