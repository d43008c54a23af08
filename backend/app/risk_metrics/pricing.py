"""What the engine values each held position at on a date, and which positions a date's
figures may rest on.

- Value: the close as traded on the position's last priced day times the shares held
  that day (app.prices.actions.shares_held: a 4:1 split after the day means a quarter of
  today's shares, each at the pre-split close), signed by its type
  (app.formulas.exposure.signed_exposure), as GET /positions values it
  (app.portfolios.service.position_exposures). Returns come from the total-return closes
  (app.formulas.returns); only the valuation reads traded closes.
- Freshness (app.formulas.freshness): a position whose last price is more than the limit's
  trading days before the date, or that has none, is excluded. Its exposure (at its last
  close, or at its entry value without any) counts as uncovered, and it is named with its
  reason in :attr:`DatedBook.excluded`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
from numpy.typing import NDArray

from app.formulas.exposure import signed_exposure
from app.formulas.freshness import ExclusionReason, exclusion_detail, fresh_prices
from app.formulas.returns import FloatArray
from app.portfolios.repository import HeldPosition
from app.prices.actions import shares_held
from app.prices.repository import PriceHistory
from app.risk_metrics.rows import uuid_array


@dataclass(frozen=True)
class Excluded:
    """A position left out of a date's figures."""

    position_id: uuid.UUID
    symbol: str
    reason: ExclusionReason
    detail: str
    last_price_date: date | None
    uncovered: float
    """Its gross exposure counted as uncovered (NaN: unknown)."""

    def as_json(self) -> dict[str, str | None]:
        """The snapshot's ``excluded_positions`` item."""
        return {
            "position_id": str(self.position_id),
            "symbol": self.symbol,
            "reason": self.reason,
            "detail": self.detail,
            "last_price_date": None if self.last_price_date is None else str(self.last_price_date),
            # Exact text, as the API shows decimals (a JSON number would come back as 2000.0).
            "uncovered_exposure": f"{self.uncovered:.2f}" if np.isfinite(self.uncovered) else None,
        }


@dataclass(frozen=True)
class DatedBook:
    """One date's book as the engine computes it."""

    cols: NDArray[np.intp]
    """Each held position's column in the panel."""
    exposures: FloatArray
    """Signed exposure per held position; NaN for an excluded one."""
    uncovered: float
    """Gross exposure of the excluded positions (NaN: some value unknown)."""
    excluded: list[Excluded]
    figured: Sequence[HeldPosition]
    """The positions that get figures of their own (the held ones but the excluded)."""
    figured_cols: NDArray[np.intp]
    figured_ids: NDArray[np.void]


@dataclass(frozen=True)
class _Held:
    """A book's per-position arrays, built once per book list (dates share lists)."""

    positions: Sequence[HeldPosition]
    cols: NDArray[np.intp]
    size: FloatArray
    """Signed units: the exposure per unit of price of the stored quantity."""
    entry_value: FloatArray
    ids: NDArray[np.void]
    with_splits: list[int]
    """Positions whose series has recorded splits."""


class Panel:
    """The price rows ``first:last`` of ``history`` for the series ``columns`` (in the
    order of ``column_of``), and the freshness limit ``max_age`` in trading days."""

    def __init__(
        self,
        history: PriceHistory,
        first: int,
        last: int,
        columns: Sequence[int],
        column_of: Mapping[str, int],
        max_age: int,
    ) -> None:
        self.history = history
        self.first = first
        self.closes: FloatArray = history.closes[first:last][:, columns]
        self.traded: FloatArray = history.traded_closes[first:last][:, columns]
        self.column_of = column_of
        self.max_age = max_age
        # The last row with a price of each series, at every row (-1: none yet).
        seen = np.where(np.isfinite(self.closes), np.arange(self.closes.shape[0])[:, None], -1)
        self.last_priced = np.maximum.accumulate(seen, axis=0) if self.closes.size else seen
        self.today = datetime.now(UTC).date()
        self._held: _Held | None = None
        self._factor: dict[tuple[str, int, date | None], float] = {}

    def _arrays(self, held: Sequence[HeldPosition]) -> _Held:
        if self._held is None or self._held.positions is not held:
            self._held = _Held(
                held,
                np.array([self.column_of[p.series_symbol] for p in held], dtype=np.intp),
                np.array(
                    [signed_exposure(p.position_type, p.quantity, 1.0) for p in held],
                    dtype=np.float64,
                ),
                np.array([p.entry_value_price for p in held], dtype=np.float64),
                uuid_array([p.id for p in held]),
                [i for i, p in enumerate(held) if p.series_symbol in self.history.splits],
            )
        return self._held

    def _shares_then(self, position: HeldPosition, row: int) -> float:
        """Shares held on panel row ``row`` for each share of the stored quantity."""
        key = (position.series_symbol, row, position.quantity_date)
        if key not in self._factor:
            splits = self.history.splits[position.series_symbol]
            day = self.history.dates[self.first + row]
            self._factor[key] = float(
                shares_held(splits, position.quantity_date, day, today=self.today)
            )
        return self._factor[key]

    def book(self, held: Sequence[HeldPosition], row: int, calc_date: date) -> DatedBook:
        """The book ``held`` on panel row ``row`` (the last trading day on or before
        ``calc_date``), valued, with the freshness rule applied."""
        a = self._arrays(held)
        priced_row = self.last_priced[row, a.cols] if held else np.zeros(0, dtype=np.intp)
        fresh = fresh_prices(priced_row, row, self.max_age)
        has_price = priced_row >= 0
        value = a.size * self.traded[np.maximum(priced_row, 0), a.cols] if held else np.zeros(0)
        for i in a.with_splits:
            if has_price[i]:
                value[i] *= self._shares_then(held[i], int(priced_row[i]))
        value = np.where(has_price, value, a.size * a.entry_value)
        if fresh.all():
            return DatedBook(a.cols, value, 0.0, [], held, a.cols, a.ids)
        left_out = np.flatnonzero(~fresh)
        excluded = []
        for i in left_out.tolist():
            p = held[i]
            last_price = (
                self.history.dates[self.first + int(priced_row[i])] if has_price[i] else None
            )
            reason, detail = exclusion_detail(
                p.series_symbol, calc_date, last_price, row - int(priced_row[i]), self.max_age
            )
            excluded.append(
                Excluded(p.id, p.symbol, reason, detail, last_price, float(abs(value[i])))
            )
        kept = np.flatnonzero(fresh)
        return DatedBook(
            a.cols,
            np.where(fresh, value, np.nan),
            float(np.abs(value[left_out]).sum()),
            excluded,
            [held[i] for i in kept.tolist()],
            a.cols[kept],
            a.ids[kept],
        )
