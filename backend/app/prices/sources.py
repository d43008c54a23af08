"""Where stored prices and profiles come from, and the rule that keeps one source per symbol.

Every price and profile row names its source (``PRICE_SOURCES``: FMP, CSV, DEMO). One
symbol's prices, and its profile, come from one source, so the demo's made-up closes never
pass for real ones and a real series never gets a synthetic stretch:
- a load refuses to write a symbol for which another source's rows are stored, before
  writing anything (:class:`OtherSourceError`); asked to replace them (the scripts'
  ``--replace-source``), it deletes that symbol's rows of every other source first
  (:func:`take_over_symbols`);
- the engine refuses a portfolio-date whose window of prices reads one series from two
  sources (:func:`mixed_in_window`), as rows stored before this rule, or written by hand,
  may still do: nothing is computed for it, and the reason names the series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, String, any_, delete, func, literal, null, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError, InputDataError
from app.models import DailyPrice, SecurityProfile
from app.models.reference_data import PRICE_SOURCES

DEMO_SOURCE = "DEMO"
"""The synthetic demo's rows (scripts/demo_data.py; ``--remove`` takes them out)."""
assert DEMO_SOURCE in PRICE_SOURCES

SourcedTable = type[DailyPrice] | type[SecurityProfile]

_LISTED = 5
"""Symbols a message names before "and N more"."""


@dataclass(frozen=True)
class StoredRows:
    """One symbol's stored rows from one source (prices: their first and last date)."""

    symbol: str
    source: str
    rows: int
    first: date | None = None
    last: date | None = None

    def __str__(self) -> str:
        if self.first is None:
            return f"{self.symbol} ({self.source})"
        rows = f"{self.rows:,} row{'s' if self.rows != 1 else ''}"
        return f"{self.symbol} ({rows} from {self.source}, {self.first} .. {self.last})"


def _listed(items: Sequence[object]) -> str:
    shown = ", ".join(str(item) for item in items[:_LISTED])
    more = len(items) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _what(model: SourcedTable) -> str:
    return "prices" if model is DailyPrice else "profiles"


class OtherSourceError(InputDataError):
    """A load would write symbols whose prices (or profiles) come from another source:
    nothing is written."""

    def __init__(self, model: SourcedTable, source: str, found: Sequence[StoredRows]) -> None:
        self.found = list(found)
        symbols = sorted({f.symbol for f in found})
        others = sorted({f.source for f in found})
        what = _what(model)
        hint = (
            f"pass --replace-source to replace them with these {source} {what} (their "
            f"{' and '.join(others)} rows are deleted)"
        )
        if DEMO_SOURCE in others:
            hint += ", or take the demo out first: scripts/demo_data.py --remove"
        super().__init__(
            f"{what} of {len(symbols)} symbol{'s' if len(symbols) != 1 else ''} are stored from "
            f"another source: {_listed(found)}. One symbol's {what} come from one source: "
            f"{hint}. Nothing written."
        )


async def other_source_rows(
    session: AsyncSession, model: SourcedTable, symbols: Iterable[str], source: str
) -> list[StoredRows]:
    """The rows of ``symbols`` stored from a source other than ``source``, per symbol and
    source, by symbol (one query)."""
    names = sorted(set(symbols))
    if not names:
        return []
    span = (
        (func.min(DailyPrice.date), func.max(DailyPrice.date))
        if model is DailyPrice
        else (null(), null())
    )
    rows = await session.execute(
        select(model.symbol, model.source, func.count(), *span)
        .where(_among(model, names), model.source != source)
        .group_by(model.symbol, model.source)
        .order_by(model.symbol, model.source)
    )
    return [StoredRows(s, src, n, lo, hi) for s, src, n, lo, hi in rows]


def _among(model: SourcedTable, names: list[str]) -> ColumnElement[bool]:
    # One array parameter, however many symbols a file names.
    return model.symbol == any_(literal(names, ARRAY(String)))


async def take_over_symbols(
    session: AsyncSession,
    model: SourcedTable,
    symbols: Iterable[str],
    source: str,
    *,
    replace: bool,
) -> list[StoredRows]:
    """Make ``source`` the only source of ``symbols`` in ``model``'s table before a write:
    OtherSourceError when another source's rows are stored for one of them, unless
    ``replace``; then those rows are deleted. Returns what was (or would be) replaced."""
    names = sorted(set(symbols))
    found = await other_source_rows(session, model, names, source)
    if found and not replace:
        raise OtherSourceError(model, source, found)
    if found:
        await session.execute(
            delete(model).where(
                _among(model, sorted({f.symbol for f in found})), model.source != source
            )
        )
    return found


async def remove_source(session: AsyncSession, source: str) -> tuple[int, int]:
    """Delete every price and profile of ``source``; returns (prices, profiles) deleted."""
    counts = []
    for model in (DailyPrice, SecurityProfile):
        deleted = await session.scalars(
            delete(model).where(model.source == source).returning(model.id)
        )
        counts.append(len(deleted.all()))
    return counts[0], counts[1]


# --- the engine's rule --------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpan:
    """The first and last date of a series' loaded prices from one source."""

    source: str
    first: date
    last: date


class MixedPriceSourcesError(AppError):
    """A portfolio-date's window reads a series from more than one source: nothing is
    computed for it."""

    http_status = 409


def mixed_in_window(
    spans: Mapping[str, Sequence[SourceSpan]], symbols: Iterable[str], start: date, end: date
) -> list[tuple[str, list[SourceSpan]]]:
    """Each of ``symbols`` whose prices in [start, end] come from more than one source,
    with those sources' spans (clipped to the window), by symbol. ``spans`` holds only the
    series that have more than one source at all (PriceHistory.mixed_sources)."""
    out = []
    for symbol in sorted(set(symbols) & spans.keys()):
        inside = [
            SourceSpan(s.source, max(s.first, start), min(s.last, end))
            for s in spans[symbol]
            if s.first <= end and s.last >= start
        ]
        if len(inside) > 1:
            out.append((symbol, inside))
    return out


def mixed_sources_error(
    mixed: Sequence[tuple[str, Sequence[SourceSpan]]], start: date, end: date
) -> MixedPriceSourcesError:
    """What the engine reports for a portfolio-date whose window mixes sources."""
    described = [
        f"{symbol} ({', '.join(f'{s.source} {s.first} .. {s.last}' for s in spans)})"
        for symbol, spans in mixed
    ]
    demo = any(s.source == DEMO_SOURCE for _, spans in mixed for s in spans)
    return MixedPriceSourcesError(
        f"prices read from {start} to {end} mix sources for {_listed(described)}: nothing "
        "computed. Keep one source per symbol: reload it with scripts/load_prices.py "
        "--replace-source"
        + (", or take the demo out: scripts/demo_data.py --remove" if demo else "")
    )
