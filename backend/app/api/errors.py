"""Exception handlers: every error is a small JSON body; no stack trace ever leaves the app.

4xx bodies say what was wrong with the request; 5xx bodies say only that the server failed
(the details go to the log, where they cannot leak driver messages or hostnames).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.schemas import ErrorResponse, FieldError, ValidationErrorResponse
from app.core.errors import DATABASE_UNAVAILABLE, AppError

logger = logging.getLogger("app.errors")


def _json(
    status_code: int, body: ErrorResponse, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            location=".".join(str(part) for part in err.get("loc", ())),
            message=str(err.get("msg", "invalid value")),
        )
        for err in exc.errors()
    ]
    summary = "; ".join(f"{e.location}: {e.message}" for e in errors[:3])
    return _json(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        ValidationErrorResponse(detail=f"Invalid request: {summary}", errors=errors),
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _json(exc.status_code, ErrorResponse(detail=str(exc.detail)), exc.headers)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    """Every AppError answers with its class's status and its (safe) message."""
    assert isinstance(exc, AppError)
    if exc.http_status >= 500:
        logger.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    return _json(exc.http_status, ErrorResponse(detail=str(exc)), exc.http_headers())


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return _json(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        ErrorResponse(detail="database unavailable; try again later"),
        {"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(
        status.HTTP_500_INTERNAL_SERVER_ERROR, ErrorResponse(detail="internal server error")
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(AppError, _app_error)
    for exc_type in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_type, _database_unavailable)
    # Exception (not 500) routes it through Starlette's ServerErrorMiddleware: the handler
    # answers, and the error is still re-raised to the server, which logs it.
    app.add_exception_handler(Exception, _unexpected)
