"""Offline input for benchmark sector weights (``seed_benchmark_weights.py --from-file``).

Two kinds of content, as JSON or CSV (UTF-8):

- constituents + market caps (weights are computed exactly as from FMP):
  JSON ``{"source": "...", "constituents": [FMP rows], "market_caps": [FMP rows]}``;
  CSV with columns ``symbol,sector,cik,market_cap,date`` (blank market_cap = no data);
- final weights: JSON ``{"source": "...", "asof_date": "YYYY-MM-DD", "weights":
  [{"sector", "weight", "market_cap", "num_constituents"}]}``; CSV with columns
  ``asof_date,sector,weight[,market_cap,num_constituents]``.

``data_source`` becomes ``file:<source>`` (or ``file:<file name>``), never ``FMP``.
A problem with the file itself is a FileDataError naming the file, line or field and
symbol; a path that is no usable file is a FileArgumentError; weights that cannot be
stored as they are (not 11 sectors, not summing to 1, ...) are a BenchmarkDataError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.benchmarks.weights import (
    DATA_SOURCE_MAX,
    SectorWeights,
    compute_sector_weights,
    weights_from_inputs,
)
from app.core.errors import FileArgumentError, FileDataError
from app.core.input_files import (
    numeric_limit,
    parse_iso_date,
    parse_json,
    read_csv,
    read_text,
    shown,
)
from app.integrations.fmp.schemas import (
    ConstituentsFile,
    FmpConstituent,
    FmpMarketCap,
    SectorWeightInput,
    WeightsFile,
)
from app.models import BenchmarkSectorWeight

FILE_SOURCE_PREFIX = "file:"
_columns = BenchmarkSectorWeight.__table__.c
_CAP_LIMIT = numeric_limit(_columns.market_cap)
_WEIGHT_LIMIT = numeric_limit(_columns.weight)
_MAX_CONSTITUENTS = 2**31 - 1  # num_constituents is an INTEGER
_CONSTITUENT_COLUMNS = {"symbol", "sector", "market_cap", "date"}
_WEIGHT_COLUMNS = {"asof_date", "sector", "weight"}

M = TypeVar("M", bound=BaseModel)


def file_data_source(path: Path, declared: str | None) -> str:
    """``file:<declared source or file name>``, cut to the column's length."""
    name = (declared or "").strip() or path.name
    return (FILE_SOURCE_PREFIX + name)[:DATA_SOURCE_MAX]


def load_sector_weights_file(path: Path, *, benchmark_code: str) -> SectorWeights:
    """Read, validate and compute weights from ``path`` (.json or .csv).

    Raises FileArgumentError (not a usable file), FileDataError (its content) or
    BenchmarkDataError (weights that cannot be stored).
    """
    suffix = path.suffix.lower()
    if suffix not in {".json", ".csv"}:
        raise FileArgumentError(path, "expected a .json or .csv file")
    text = read_text(path)
    if suffix == ".json":
        return _from_json(text, path, benchmark_code)
    return _from_csv(text, path, benchmark_code)


def _json_path(loc: tuple[int | str, ...]) -> str | None:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or None


def _symbol_at(payload: Any, loc: tuple[int | str, ...]) -> str | None:
    """The ``symbol`` of the innermost object on ``loc`` that has a printable one (a
    constituent or a market-cap row), for the message."""
    found: str | None = None
    node = payload
    for part in (None, *loc):
        if part is not None:
            try:
                node = node[part]  # a dict key or a list index, as pydantic reports it
            except (KeyError, IndexError, TypeError):
                break
        symbol = node.get("symbol") if isinstance(node, dict) else None
        if isinstance(symbol, str) and 0 < len(symbol.strip()) <= 20 and symbol.isprintable():
            found = symbol.strip()
    return found


def _validate(
    model: type[M],
    data: Any,
    path: Path,
    *,
    line: int | None = None,
    column_of: dict[str, str] | None = None,
) -> M:
    """``model`` from ``data``; the first problem pydantic finds names its field (the CSV
    column, through ``column_of``, for a CSV record) and the line of a CSV record."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise FileDataError(
            path,
            f"{first['msg']}{more}",
            line=line,
            field=(column_of or {}).get(".".join(map(str, first["loc"])))
            or _json_path(first["loc"]),
            symbol=_symbol_at(data, first["loc"]),
        ) from None


def _unstorable(row: SectorWeightInput | FmpMarketCap) -> tuple[str, str] | None:
    """(field, problem) when a value does not fit its column; checked before any
    arithmetic on it."""
    if row.market_cap is not None and not abs(row.market_cap) < _CAP_LIMIT:
        return "market_cap", f"{shown(str(row.market_cap))} is too large (at most {_CAP_LIMIT:,})"
    if isinstance(row, SectorWeightInput):
        if not abs(row.weight) < _WEIGHT_LIMIT:
            return "weight", f"{shown(str(row.weight))} is too large"
        if row.num_constituents is not None and not 0 <= row.num_constituents <= _MAX_CONSTITUENTS:
            return "num_constituents", f"must be between 0 and {_MAX_CONSTITUENTS:,}"
    return None


def _iso_date(path: Path, value: object, field: str, **where: Any) -> None:
    """Dates in a file are YYYY-MM-DD text: pydantic alone would read "3" as 1970-01-01."""
    try:
        if not isinstance(value, str):
            raise ValueError(f"not a date (YYYY-MM-DD): {shown(repr(value))}")
        parse_iso_date(value)
    except ValueError as exc:
        raise FileDataError(path, str(exc), field=field, **where) from None


def _check_json_dates(path: Path, payload: dict[str, Any]) -> None:
    for key in ("asof_date", "asofDate"):
        if key in payload:
            _iso_date(path, payload[key], key)
    caps = payload.get("market_caps", payload.get("marketCaps"))
    for n, row in enumerate(caps if isinstance(caps, list) else []):
        if isinstance(row, dict) and "date" in row:
            _iso_date(path, row["date"], f"market_caps[{n}].date", symbol=_symbol_at(row, ()))


def _check_json_rows(path: Path, rows: list[Any], where: str) -> None:
    for n, row in enumerate(rows):
        if (bad := _unstorable(row)) is not None:
            symbol = row.symbol if isinstance(row, FmpMarketCap) else None
            raise FileDataError(path, bad[1], field=f"{where}[{n}].{bad[0]}", symbol=symbol)


def _from_json(raw: str, path: Path, benchmark_code: str) -> SectorWeights:
    payload: Any = parse_json(path, raw)
    if isinstance(payload, dict):
        _check_json_dates(path, payload)
    if isinstance(payload, dict) and "constituents" in payload:
        data = _validate(ConstituentsFile, payload, path)
        _check_json_rows(path, data.market_caps, "market_caps")
        return compute_sector_weights(
            data.constituents,
            data.market_caps,
            benchmark_code=benchmark_code,
            data_source=file_data_source(path, data.source),
        )
    if isinstance(payload, dict) and "weights" in payload:
        weights = _validate(WeightsFile, payload, path)
        _check_json_rows(path, weights.weights, "weights")
        return weights_from_inputs(
            weights.weights,
            asof_date=weights.asof_date,
            benchmark_code=benchmark_code,
            data_source=file_data_source(path, weights.source),
        )
    raise FileDataError(
        path, "expected an object with 'constituents' + 'market_caps', or 'asof_date' + 'weights'"
    )


def _from_csv(raw: str, path: Path, benchmark_code: str) -> SectorWeights:
    table = read_csv(path, raw, required=set())
    header = set(table.header)
    source = file_data_source(path, None)
    if not (header >= _CONSTITUENT_COLUMNS or header >= _WEIGHT_COLUMNS):
        raise FileDataError(
            path,
            "CSV needs columns symbol,sector,cik,market_cap,date "
            "or asof_date,sector,weight[,market_cap,num_constituents]",
        )
    if not table.records:
        raise FileDataError(path, "has a header but no data rows")
    if header >= _CONSTITUENT_COLUMNS:
        constituents = [
            _validate(FmpConstituent, r.values, path, line=r.line) for r in table.records
        ]
        caps = []
        for r in table.records:
            if not r.values["market_cap"]:
                continue
            _iso_date(path, r.values["date"], "date", line=r.line, symbol=_symbol_at(r.values, ()))
            cap = _validate(
                FmpMarketCap,
                {
                    "symbol": r.values["symbol"],
                    "date": r.values["date"],
                    "marketCap": r.values["market_cap"],
                },
                path,
                line=r.line,
                column_of={"marketCap": "market_cap"},
            )
            if (bad := _unstorable(cap)) is not None:
                raise FileDataError(path, bad[1], line=r.line, field=bad[0], symbol=cap.symbol)
            caps.append(cap)
        return compute_sector_weights(
            constituents, caps, benchmark_code=benchmark_code, data_source=source
        )
    first = table.records[0]
    rows = []
    for r in table.records:
        if r.values["asof_date"] != first.values["asof_date"]:
            raise FileDataError(
                path,
                f"every row needs the same asof_date: {shown(r.values['asof_date'])} differs "
                f"from line {first.line}'s {shown(first.values['asof_date'])}",
                line=r.line,
                field="asof_date",
            )
        _iso_date(path, r.values["asof_date"], "asof_date", line=r.line)
        row = _validate(SectorWeightInput, r.values, path, line=r.line)
        if (bad := _unstorable(row)) is not None:
            raise FileDataError(path, bad[1], line=r.line, field=bad[0])
        rows.append(row)
    weights = _validate(
        WeightsFile,
        {"asof_date": first.values["asof_date"], "weights": rows},
        path,
        line=first.line,
    )
    return weights_from_inputs(
        weights.weights,
        asof_date=weights.asof_date,
        benchmark_code=benchmark_code,
        data_source=source,
    )
