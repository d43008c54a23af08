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
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.schemas import ErrorResponse, FieldError, ValidationErrorResponse
from app.core.errors import (
    DATABASE_UNAVAILABLE,
    MIGRATE_HINT,
    AppError,
    DatabaseUnavailableError,
    SchemaNotAtHeadError,
    database_unavailable,
    schema_missing,
)

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
    details = exc.http_details()
    if details:
        body = jsonable_encoder({"detail": str(exc), **details})
        return JSONResponse(body, status_code=exc.http_status, headers=exc.http_headers())
    return _json(exc.http_status, ErrorResponse(detail=str(exc)), exc.http_headers())


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that cannot serve, or whose schema is behind, is a 503; any other
    database error is a bug and takes the 500 path."""
    if schema_missing(exc):
        gate = getattr(request.app.state, "schema_gate", None)
        if gate is not None:
            gate.forget()  # the next request re-reads alembic_version
        return await _app_error(
            request,
            SchemaNotAtHeadError(
                "the database schema does not match this code (a table or column is "
                f"missing); {MIGRATE_HINT}"
            ),
        )
    reason = database_unavailable(exc)
    if reason is None:
        raise exc  # to ServerErrorMiddleware: a logged 500, as for any other bug
    # The driver's text can name hosts and roles: the log gets the class, not the text.
    logger.warning(
        "database unavailable on %s %s: %s (%s)",
        request.method,
        request.url.path,
        reason,
        type(exc).__name__,
    )
    problem = DatabaseUnavailableError(f"database unavailable: {reason}; try again later")
    return _json(
        problem.http_status,
        ErrorResponse(detail=str(problem)),
        {"Retry-After": str(problem.http_retry_after)},
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
    for exc_type in (*DATABASE_UNAVAILABLE, DBAPIError):
        app.add_exception_handler(exc_type, _database_error)
    # Exception (not 500) routes it through Starlette's ServerErrorMiddleware: the handler
    # answers, and the error is still re-raised to the server, which logs it.
    app.add_exception_handler(Exception, _unexpected)
