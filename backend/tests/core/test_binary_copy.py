"""Fixed-size records in PostgreSQL's binary COPY format, both ways through the server."""

from __future__ import annotations

import io
import math
import uuid
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import binary_copy

DAY = (date(2025, 10, 17) - date(2000, 1, 1)).days  # PostgreSQL counts days from 2000
FIELDS = (("id", "V16"), ("day", ">i4"), ("value", ">f8"), ("code", ">i2"))


async def test_records_written_and_read_back_keep_every_value(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    id_bytes = np.frombuffer(b"".join(u.bytes for u in ids), dtype="V16")
    values = np.array([1.5, -2.25e-7, np.nan])
    buffer = binary_copy.encode(
        [
            ("id", id_bytes, "V16"),
            ("day", np.array([0, DAY, -1]), ">i4"),
            ("value", values, ">f8"),
            ("code", np.array([2, -1, 0]), ">i2"),
        ]
    )
    async with engine.connect() as conn:
        pg: Any = (await conn.get_raw_connection()).driver_connection
        await pg.execute("CREATE TEMP TABLE t (id uuid, day date, value float8, code smallint)")
        await pg.copy_to_table("t", source=memoryview(buffer), format="binary")
        rows = await pg.fetch("SELECT id, day::text, value, code FROM t ORDER BY code")
        out = io.BytesIO()
        await pg.copy_from_query("SELECT * FROM t", output=out, format="binary")

    assert [(r["id"], r["day"], r["code"]) for r in rows] == [
        (ids[1], "2025-10-17", -1),
        (ids[2], "1999-12-31", 0),
        (ids[0], "2000-01-01", 2),
    ]
    assert [r["value"] for r in rows][::2] == [-2.25e-7, 1.5]
    assert math.isnan(rows[1]["value"])
    back = binary_copy.decode(out.getvalue(), FIELDS)
    assert back["id"].tobytes() == id_bytes.tobytes()
    np.testing.assert_array_equal(back["value"], values)
    assert back["day"].tolist() == [0, DAY, -1]
