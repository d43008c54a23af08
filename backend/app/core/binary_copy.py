"""PostgreSQL's binary COPY format for records whose fields all have a fixed size and are
never NULL: a whole COPY is then one numpy record array, with no Python object per row
or value, both ways (COPY FROM STDIN buffers, COPY TO STDOUT output)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header-extension length
TRAILER = b"\xff\xff"  # a field count of -1


def record_dtype(fields: Sequence[tuple[str, str]]) -> np.dtype:
    """One record: its field count, then each field's byte length and value (big-endian
    numpy kinds, e.g. ``">f8"``; ``"V16"`` for a uuid)."""
    layout = [("fields", ">i2")]
    for name, kind in fields:
        layout += [(f"{name}_size", ">i4"), (name, kind)]
    return np.dtype(layout)


def encode(columns: Sequence[tuple[str, ArrayLike, str]]) -> bytes:
    """A COPY buffer of the rows given column by column as (name, values, kind)."""
    dtype = record_dtype([(name, kind) for name, _, kind in columns])
    rows = len(np.asarray(columns[0][1])) if columns else 0
    out = np.empty(rows, dtype=dtype)
    out["fields"] = len(columns)
    for name, values, kind in columns:
        out[f"{name}_size"] = np.dtype(kind).itemsize
        out[name] = values
    return HEADER + out.tobytes() + TRAILER


def decode(data: bytes, fields: Sequence[tuple[str, str]]) -> np.ndarray:
    """The records of a COPY output whose fields are ``fields`` (as :func:`record_dtype`)."""
    dtype = record_dtype(fields)
    rows = (len(data) - len(HEADER) - len(TRAILER)) // dtype.itemsize
    return np.frombuffer(data, dtype=dtype, count=rows, offset=len(HEADER))
