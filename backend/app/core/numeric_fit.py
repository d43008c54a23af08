"""Fitting figures to NUMERIC(precision, scale) columns: the one rule and its one message.

A column holds a value when the value is finite and, rounded to the column's scale, has
fewer integer digits than ``precision - scale`` allows. A value it cannot hold is stored as
NULL (or its row is skipped, where the column is NOT NULL), and a finite one that
overflowed is reported with :func:`overflow_reason`. Precision and scale are read from the
models (``Numeric(10, 4)`` and so on), never restated by a caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Numeric, Table
from sqlalchemy.orm import DeclarativeBase

from app.core.repository import table_of

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@cache
def numeric_columns(table: Table) -> dict[str, tuple[int, int]]:
    """(precision, scale) of each NUMERIC column of ``table`` that declares both."""
    found: dict[str, tuple[int, int]] = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, Numeric) and kind.precision is not None and kind.scale is not None:
            found[column.name] = (kind.precision, kind.scale)
    return found


def fits(values: FloatArray, precision: int, scale: int) -> BoolArray:
    """Where a NUMERIC(precision, scale) column can hold ``values`` (the rule)."""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        rounded = np.abs(np.round(values, scale))
    return finite & (rounded < 10.0 ** (precision - scale))


def fit_columns(
    model: type[DeclarativeBase] | Table, values: Mapping[str, FloatArray]
) -> tuple[dict[str, FloatArray], dict[str, BoolArray]]:
    """Each array of figures for a NUMERIC column of ``model``, with NaN where the column
    cannot hold the value; also where a finite value overflowed."""
    limits = numeric_columns(table_of(model))
    fitted: dict[str, FloatArray] = {}
    overflowed: dict[str, BoolArray] = {}
    for name, array in values.items():
        held = fits(array, *limits[name])
        fitted[name] = np.where(held, array, np.nan)
        overflowed[name] = np.isfinite(array) & ~held
    return fitted, overflowed


def fit_row(
    model: type[DeclarativeBase] | Table, row: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """``row`` with each number bound for a NUMERIC column of ``model`` as a float, or None
    where the column cannot hold it; also the names of the columns whose finite value
    overflowed."""
    limits = numeric_columns(table_of(model))
    numbers = {
        name: np.array([float(value)])
        for name, value in row.items()
        if name in limits and isinstance(value, float | int)
    }
    fitted, overflowed = fit_columns(model, numbers)
    out = dict(row)
    for name, (value,) in fitted.items():
        out[name] = None if np.isnan(value) else float(value)
    return out, [name for name, (over,) in overflowed.items() if over]


def numeric_type(model: type[DeclarativeBase] | Table, column: str) -> str:
    """The column's type as SQL writes it: ``NUMERIC(10,4)``."""
    precision, scale = numeric_columns(table_of(model))[column]
    return f"NUMERIC({precision},{scale})"


def overflow_reason(model: type[DeclarativeBase] | Table, column: str, value: float) -> str:
    """Why a figure was not stored: the one wording of a NUMERIC overflow."""
    return f"{column} {value:.4g} does not fit {numeric_type(model, column)}"
