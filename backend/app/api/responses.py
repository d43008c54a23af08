"""OpenAPI declarations of the error responses, so /docs shows their JSON shape."""

from __future__ import annotations

from typing import Any

from app.api.schemas import ErrorResponse, ValidationErrorResponse

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown benchmark, portfolio or position"}
}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Parameters that make no sense together"}
}
INVALID_INPUT: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorResponse, "description": "Malformed path or query parameter"}
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": "Not signed in: no, invalid or expired token, or a disabled user "
        "(with `WWW-Authenticate: Bearer`)",
    }
}
TOO_MANY_ATTEMPTS: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorResponse,
        "description": "Too many failed sign-ins for this account or address; see Retry-After",
    }
}
SERVER_ERROR: dict[int | str, dict[str, Any]] = {
    500: {"model": ErrorResponse, "description": "Unexpected error (details are logged only)"},
    503: {
        "model": ErrorResponse,
        "description": (
            "Database unavailable, busy or too slow, or its schema behind this code; "
            "retry after the Retry-After header's seconds"
        ),
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        },
    },
}
