"""Types shared across domains: decimal strings, benchmark codes, date ranges.

Decimals travel as JSON strings in plain (never exponent) notation, e.g. ``"0.280000"``:
the stored NUMERIC value exactly, with its scale, and no binary-float rounding on the
way. Clients that want numbers parse them (``Decimal(s)`` or ``float(s)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import PlainSerializer, StringConstraints, WithJsonSchema

from app.core.errors import InvalidQueryError

DecimalString = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "examples": ["0.280000"]},
        mode="serialization",
    ),
]
"""A NUMERIC column value, serialised as an exact decimal string."""


DEFAULT_BENCHMARK = "SP500"
"""The benchmark seeded by default and compared against when none is named."""

KnownBenchmark = Literal["SP500", "NDX", "DJIA"]
"""A benchmark whose sector weights can be seeded and that a portfolio may be held against."""

BENCHMARK_NAMES: dict[str, str] = {
    "SP500": "S&P 500",
    "NDX": "NASDAQ-100",
    "DJIA": "Dow Jones Industrial Average",
}
"""Every known benchmark code and what it stands for: the one list (a portfolio's
benchmark_code CHECK, the seed script's choices and FMP's endpoints follow it)."""

BENCHMARK_CODES: tuple[str, ...] = tuple(BENCHMARK_NAMES)
assert get_args(KnownBenchmark) == BENCHMARK_CODES
assert DEFAULT_BENCHMARK in BENCHMARK_CODES

BenchmarkCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$"),
]
"""A benchmark identifier such as SP500 (case-sensitive; fits benchmark_code VARCHAR(32))."""


@dataclass(frozen=True)
class DateRange:
    """An inclusive date range; either end may be open. ``start`` after ``end`` is refused.

    ``names`` are what the caller calls the two ends (query parameters, CLI options), so
    the message speaks the caller's language.
    """

    start: date | None = None
    end: date | None = None
    names: tuple[str, str] = ("'from'", "'to'")

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            first, last = self.names
            raise InvalidQueryError(f"{first} ({self.start}) is after {last} ({self.end})")
