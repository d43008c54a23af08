"""Responses serialised straight from database rows, for the busiest read endpoints.

FastAPI validates what a handler returns against its ``response_model`` and then serialises
it; for a page of rows that is a pydantic object per row built twice over, and most of the
request's time. A handler whose rows already hold exactly what the model would send (Core
selects with decimals read as text: app.core.repository.api_columns) returns
:func:`json_response` instead: the same JSON, encoded in one call. The route keeps its
``response_model``, which still documents the response in the OpenAPI schema; the tests
check that every such response is exactly what its model makes of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic_core
from fastapi import Response
from sqlalchemy import Row


def json_response(content: Any) -> Response:
    """``content`` (dicts, lists, str, int, None, UUID, date...) as an application/json
    response, encoded as pydantic encodes a model's fields of those types."""
    return Response(pydantic_core.to_json(content), media_type="application/json")


def row_dicts(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Each row as a {column label: value} dict."""
    if not rows:
        return []
    labels = rows[0]._fields  # one result's rows share their labels
    return [dict(zip(labels, row, strict=True)) for row in rows]
