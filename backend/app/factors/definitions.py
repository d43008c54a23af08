"""The style factors: read once from the versioned file beside this module (factors.toml).

A factor's daily return is one ETF's (``long``) or a long-minus-short spread of two ETFs'.
:func:`factor_symbols` lists every ETF the factors read, in one place, for the price
refresh and loaders to bring like any held symbol. A file that cannot be used stops with
one line naming the file, the factor and the field (:class:`~app.core.errors.FileDataError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from app.core.errors import FileDataError
from app.core.input_files import read_text, versioned_tables

FACTORS_FILE = Path(__file__).with_name("factors.toml")

_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
"""A factor's code: what the tables and the API key it by (VARCHAR(32))."""
_SYMBOL = re.compile(r"[A-Z][A-Z0-9.\-]{0,15}")
"""An ETF symbol as daily_prices stores it (VARCHAR(16))."""
_FIELDS = {"code", "name", "long", "short"}


@dataclass(frozen=True)
class Factor:
    code: str
    name: str
    long: str
    short: str | None = None
    """None: the factor is the long ETF's own return."""

    @property
    def symbols(self) -> tuple[str, ...]:
        return (self.long,) if self.short is None else (self.long, self.short)

    @property
    def definition(self) -> str:
        return self.long if self.short is None else f"{self.long} - {self.short}"


@dataclass(frozen=True)
class FactorSet:
    version: int
    factors: tuple[Factor, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.factors)


def parse_factors(text: str, path: Path | str = FACTORS_FILE) -> FactorSet:
    """The factors of a factors file's ``text``; FileDataError naming the factor and field
    of the first problem."""
    version, entries = versioned_tables(text, path, "factor")
    factors: list[Factor] = []
    for number, entry in enumerate(entries, start=1):
        factors.append(_factor(entry, number, path))
    seen: dict[str, int] = {}
    pairs: dict[tuple[str, ...], str] = {}
    for factor in factors:
        if factor.code in seen:
            raise FileDataError(path, "used twice", field=f"factor {factor.code}.code")
        seen[factor.code] = 1
        if factor.symbols in pairs:
            raise FileDataError(
                path,
                f"{factor.definition} is factor {pairs[factor.symbols]} already",
                field=f"factor {factor.code}.long",
            )
        pairs[factor.symbols] = factor.code
    return FactorSet(version, tuple(factors))


def _factor(entry: Any, number: int, path: Path | str) -> Factor:
    label = f"factor #{number}"
    if not isinstance(entry, dict):
        raise FileDataError(path, "must be a table", field=label)
    code = entry.get("code")
    if isinstance(code, str) and _CODE.fullmatch(code):
        label = f"factor {code}"
    else:
        raise FileDataError(
            path, "must be A-Z, 0-9 or _, starting with a letter, at most 32", field=f"{label}.code"
        )
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise FileDataError(
            path, "unknown field (expected code, name, long, short)", field=f"{label}.{unknown[0]}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise FileDataError(path, "must be text of 1 to 64 characters", field=f"{label}.name")
    symbols: dict[str, str | None] = {}
    for leg in ("long", "short"):
        value = entry.get(leg)
        if value is None and leg == "short":
            symbols[leg] = None
            continue
        if not isinstance(value, str) or not _SYMBOL.fullmatch(value):
            raise FileDataError(
                path,
                "must be an upper-case ETF symbol (up to 16 characters)",
                field=f"{label}.{leg}",
            )
        symbols[leg] = value
    long = symbols["long"]
    assert long is not None
    if symbols["short"] == long:
        raise FileDataError(path, "is the long ETF too: a zero spread", field=f"{label}.short")
    return Factor(code, name.strip(), long, symbols["short"])


def load_factors(path: Path = FACTORS_FILE) -> FactorSet:
    """The factors of the file at ``path`` (FileDataError when it cannot be used)."""
    return parse_factors(read_text(path), path)


@cache
def default_factors() -> FactorSet:
    """The repository's factors, read and checked once per process."""
    return load_factors()


def factor_symbols() -> list[str]:
    """Every ETF the factors read, sorted: the symbols a price refresh and the loaders
    bring besides the held ones."""
    return sorted({s for f in default_factors().factors for s in f.symbols})
