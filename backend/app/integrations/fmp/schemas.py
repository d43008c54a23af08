"""Input rows for benchmark sector weights: FMP's answers, and the offline file formats.

Field names follow FMP's JSON (``marketCap``, ``subSector``), so a saved FMP response
is a valid file input as it is.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _symbol(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _blank_to_none(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


class FmpConstituent(_Row):
    """One row of ``/sp500-constituent``. Dual share classes (GOOGL/GOOG) share a cik."""

    symbol: str = Field(min_length=1)
    name: str | None = None
    sector: str | None = None
    sub_sector: str | None = Field(default=None, alias="subSector")
    cik: str | None = None

    _norm_symbol = field_validator("symbol", mode="before")(_symbol)

    @field_validator("cik", mode="before")
    @classmethod
    def _cik_text(cls, value: object) -> object:
        value = _blank_to_none(value)
        if isinstance(value, int):
            return f"{value:010d}"
        if isinstance(value, str):
            # "320193" and "0000320193" are the same company.
            return value.strip().zfill(10) if value.strip().isdigit() else value.strip()
        return value

    @field_validator("sector", mode="before")
    @classmethod
    def _sector_text(cls, value: object) -> object:
        return _blank_to_none(value)


class FmpMarketCap(_Row):
    """One row of ``/market-capitalization-batch``; ``market_cap`` is company level, in USD,
    and may have a fraction."""

    symbol: str = Field(min_length=1)
    date: date
    market_cap: Decimal | None = Field(default=None, alias="marketCap")

    _norm_symbol = field_validator("symbol", mode="before")(_symbol)

    @field_validator("market_cap", mode="before")
    @classmethod
    def _cap_blank(cls, value: object) -> object:
        return _blank_to_none(value)


class FmpQuote(_Row):
    """One row of ``/batch-quote``: the last price and when it was (Unix seconds)."""

    symbol: str = Field(min_length=1)
    price: Decimal | None = None
    timestamp: int | None = None

    _norm_symbol = field_validator("symbol", mode="before")(_symbol)

    @field_validator("price", "timestamp", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _blank_to_none(value)


class SectorWeightInput(_Row):
    """One sector of a final-weights file (``--from-file``)."""

    sector: str
    weight: Decimal
    market_cap: Decimal | None = Field(default=None, alias="marketCap")
    num_constituents: int | None = Field(default=None, alias="numConstituents")

    @field_validator("market_cap", "num_constituents", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _blank_to_none(value)


class ConstituentsFile(_Row):
    """``{"constituents": [...], "market_caps": [...]}``: the two FMP answers, saved."""

    source: str | None = None
    constituents: list[FmpConstituent]
    market_caps: list[FmpMarketCap] = Field(alias="marketCaps")


class WeightsFile(_Row):
    """``{"asof_date": "...", "weights": [...]}``: sector weights from any publisher."""

    source: str | None = None
    asof_date: date = Field(alias="asofDate")
    weights: list[SectorWeightInput]
