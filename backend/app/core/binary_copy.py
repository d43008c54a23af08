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


def encode(columns: Sequence[tuple[str, ArrayLike, str]]) -> memoryview:
    """A COPY buffer of the rows given column by column as (name, values, kind), written in
    place: the header, the records and the trailer are one allocation (a large COPY is
    tens of MB, and each copy of it costs as much as filling it)."""
    dtype = record_dtype([(name, kind) for name, _, kind in columns])
    rows = len(np.asarray(columns[0][1])) if columns else 0
    end = len(HEADER) + rows * dtype.itemsize
    buffer = np.empty(end + len(TRAILER), dtype=np.uint8)
    buffer[: len(HEADER)] = np.frombuffer(HEADER, dtype=np.uint8)
    buffer[end:] = np.frombuffer(TRAILER, dtype=np.uint8)
    out = buffer[len(HEADER) : end].view(dtype)
    # Every record starts alike (its field count, each field's length): one pass sets them.
    first = np.zeros((), dtype=dtype)
    first["fields"] = len(columns)
    for name, _, kind in columns:
        first[f"{name}_size"] = np.dtype(kind).itemsize
    out[:] = first
    for name, values, _ in columns:
        out[name] = values
    return buffer.data


def decode(data: bytes, fields: Sequence[tuple[str, str]]) -> np.ndarray:
    """The records of a COPY output whose fields are ``fields`` (as :func:`record_dtype`)."""
    dtype = record_dtype(fields)
    rows = (len(data) - len(HEADER) - len(TRAILER)) // dtype.itemsize
    return np.frombuffer(data, dtype=dtype, count=rows, offset=len(HEADER))
