"""Keyset-paginated lists: newest first, with an opaque cursor to the next page."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
