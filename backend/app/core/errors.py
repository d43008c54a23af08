"""Errors the query layer raises; the API maps them to 404 and 400 responses."""

from __future__ import annotations


class NotFoundError(LookupError):
    """The benchmark, portfolio, position or row asked for does not exist."""


class InvalidQueryError(ValueError):
    """The parameters are well-formed but make no sense together (bad cursor, from > to)."""
