"""Benchmark sector-weight responses."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import DecimalString


class SectorWeightRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sector: str = Field(description="GICS sector name.")
    weight: DecimalString = Field(description="Fraction of the index (0.28 = 28%).")
    market_cap: DecimalString | None
    num_constituents: int | None
    data_source: str


class BenchmarkSectorWeights(BaseModel):
    """All sectors of one benchmark on one date."""

    benchmark_code: str
    asof_date: date
    weights: list[SectorWeightRead]


class SectorWeightPoint(SectorWeightRead):
    asof_date: date


class SectorWeightHistory(BaseModel):
    benchmark_code: str
    points: list[SectorWeightPoint] = Field(description="Ordered by asof_date, then sector.")
