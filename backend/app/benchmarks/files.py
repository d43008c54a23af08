"""Offline input for benchmark sector weights (``seed_benchmark_weights.py --from-file``).

Two kinds of content, as JSON or CSV:

- constituents + market caps (weights are computed exactly as from FMP):
  JSON ``{"source": "...", "constituents": [FMP rows], "market_caps": [FMP rows]}``;
  CSV with columns ``symbol,sector,cik,market_cap,date`` (blank market_cap = no data);
- final weights: JSON ``{"source": "...", "asof_date": "YYYY-MM-DD", "weights":
  [{"sector", "weight", "market_cap", "num_constituents"}]}``; CSV with columns
  ``asof_date,sector,weight[,market_cap,num_constituents]``.

``data_source`` becomes ``file:<source>`` (or ``file:<file name>``), never ``FMP``.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.benchmarks.weights import (
    DATA_SOURCE_MAX,
    BenchmarkDataError,
    SectorWeights,
    compute_sector_weights,
    weights_from_inputs,
)
from app.integrations.fmp.schemas import (
    ConstituentsFile,
    FmpConstituent,
    FmpMarketCap,
    SectorWeightInput,
    WeightsFile,
)

FILE_SOURCE_PREFIX = "file:"


def file_data_source(path: Path, declared: str | None) -> str:
    """``file:<declared source or file name>``, cut to the column's length."""
    name = (declared or "").strip() or path.name
    return (FILE_SOURCE_PREFIX + name)[:DATA_SOURCE_MAX]


def load_sector_weights_file(path: Path, *, benchmark_code: str) -> SectorWeights:
    """Read, validate and compute weights from ``path`` (.json or .csv).

    Raises ``OSError`` when the file cannot be read and :class:`BenchmarkDataError` when
    its content is unusable.
    """
    raw = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return _from_json(raw, path, benchmark_code)
        if suffix == ".csv":
            return _from_csv(raw, path, benchmark_code)
    except ValidationError as exc:
        raise BenchmarkDataError([f"{path.name}: {_first_error(exc)}"]) from None
    raise BenchmarkDataError([f"{path.name}: expected a .json or .csv file"])


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    return f"{exc.error_count()} invalid value(s), first at {where}: {first['msg']}"


def _from_json(raw: str, path: Path, benchmark_code: str) -> SectorWeights:
    try:
        payload: Any = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise BenchmarkDataError([f"{path.name} is not valid JSON ({exc})"]) from None
    if isinstance(payload, dict) and "constituents" in payload:
        data = ConstituentsFile.model_validate(payload)
        return compute_sector_weights(
            data.constituents,
            data.market_caps,
            benchmark_code=benchmark_code,
            data_source=file_data_source(path, data.source),
        )
    if isinstance(payload, dict) and "weights" in payload:
        weights = WeightsFile.model_validate(payload)
        return weights_from_inputs(
            weights.weights,
            asof_date=weights.asof_date,
            benchmark_code=benchmark_code,
            data_source=file_data_source(path, weights.source),
        )
    raise BenchmarkDataError(
        [f"{path.name}: expected an object with 'constituents' + 'market_caps' or 'weights'"]
    )


def _from_csv(raw: str, path: Path, benchmark_code: str) -> SectorWeights:
    reader = csv.DictReader(raw.splitlines())
    header = {(h or "").strip().lower() for h in reader.fieldnames or ()}
    rows = [
        {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader
    ]
    source = file_data_source(path, None)
    if {"symbol", "sector", "market_cap", "date"} <= header:
        constituents = [FmpConstituent.model_validate(r) for r in rows]
        caps = [
            FmpMarketCap.model_validate(
                {"symbol": r["symbol"], "date": r["date"], "marketCap": r["market_cap"]}
            )
            for r in rows
            if r.get("market_cap")
        ]
        return compute_sector_weights(
            constituents, caps, benchmark_code=benchmark_code, data_source=source
        )
    if {"asof_date", "sector", "weight"} <= header:
        dates = {r["asof_date"] for r in rows}
        if len(dates) != 1:
            raise BenchmarkDataError(
                [f"{path.name}: all rows need one asof_date, found {len(dates)}"]
            )
        weights = WeightsFile.model_validate(
            {
                "asof_date": dates.pop(),
                "weights": [SectorWeightInput.model_validate(r) for r in rows],
            }
        )
        return weights_from_inputs(
            weights.weights,
            asof_date=weights.asof_date,
            benchmark_code=benchmark_code,
            data_source=source,
        )
    raise BenchmarkDataError(
        [
            f"{path.name}: CSV needs columns symbol,sector,cik,market_cap,date "
            "or asof_date,sector,weight[,market_cap,num_constituents]"
        ]
    )
