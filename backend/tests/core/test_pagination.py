"""Pagination cursors: round trip, and rejection of anything not issued by the API."""

from __future__ import annotations

import base64
import uuid
from datetime import date

import pytest

from app.core.errors import InvalidQueryError
from app.core.pagination import Cursor


def test_cursor_round_trips_and_is_url_safe() -> None:
    cursor = Cursor(date(2025, 3, 5), uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"))
    token = cursor.encode()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert Cursor.decode(token) == cursor


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 at all!",
        "é",
        _b64(b"\xff\xfe"),  # not UTF-8
        _b64(b"{}"),
        _b64(b'["2025-03-05"]'),
        _b64(b'["2025-03-05", 7]'),
        _b64(b'["2025-02-30", "ffffffff-ffff-4fff-bfff-ffffffffffff"]'),
        _b64(b'["2025-03-05", "not-a-uuid"]'),
        _b64(b"[" * 100_000),
    ],
)
def test_cursor_rejects_tokens_it_did_not_issue(token: str) -> None:
    with pytest.raises(InvalidQueryError, match="invalid cursor"):
        Cursor.decode(token)
