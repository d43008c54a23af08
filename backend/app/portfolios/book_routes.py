"""The owner's book over HTTP: portfolios created, changed and deleted; positions added,
corrected, closed, deleted and imported from CSV.

Every route needs a signed-in user and reaches only that user's live portfolios and their
positions: another user's, or a deleted one, is a 404 exactly as a missing one. A POST may
carry an ``Idempotency-Key`` header (app.portfolios.idempotency).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Request, Response, status
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from app.api.deps import CurrentUser, SessionDep, signed_in_router
from app.api.responses import NOT_FOUND
from app.api.schemas import ErrorResponse, ValidationErrorResponse
from app.core.errors import AppError
from app.portfolios import book, idempotency, imports
from app.portfolios.rules import PortfolioChanges, PortfolioIn, PositionChanges, PositionIn
from app.portfolios.schemas import (
    ImportRejected,
    ImportResult,
    PortfolioRead,
    PositionRead,
)

router = signed_in_router("/portfolios", "portfolios")
position_router = signed_in_router("/positions", "positions")

PORTFOLIOS_PATH = "/api/v1/portfolios"
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        min_length=1,
        max_length=idempotency.KEY_MAX_LENGTH,
        description="Any unique string (a UUID): the same key and request within 24 h "
        "answers as the first time and writes nothing; with another request, 422.",
    ),
]

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "You have a portfolio of that name already"}
}
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "A body that cannot be parsed at all"}
}
INVALID_BODY: dict[int | str, dict[str, Any]] = UNREADABLE | {
    422: {
        "model": ValidationErrorResponse,
        "description": "A field breaks a rule (each named in errors), or the Idempotency-Key "
        "came with another request",
    }
}


class UnsupportedMediaTypeError(AppError):
    http_status = 415


def _json(
    model: BaseModel, status_code: int, location: str | None = None
) -> idempotency.StoredAnswer:
    return idempotency.StoredAnswer(status_code, model.model_dump_json(), location)


def _response(answer: idempotency.StoredAnswer, *, replayed: bool = False) -> Response:
    headers = {"Location": answer.location} if answer.location else {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        answer.body, status_code=answer.status, media_type="application/json", headers=headers
    )


async def _once(
    session: SessionDep,
    user: CurrentUser,
    key: str | None,
    request_fingerprint: bytes,
    run: Callable[[], Awaitable[idempotency.StoredAnswer]],
) -> Response:
    """Run the write, unless ``key`` answered it already."""
    if key is None:
        return _response(await run())
    stored = await idempotency.claim(session, user.id, key, request_fingerprint)
    if stored is not None:
        return _response(stored, replayed=True)
    answer = await run()
    await idempotency.remember(session, user.id, key, answer)
    return _response(answer)


def _portfolio_read(view: book.PortfolioView) -> PortfolioRead:
    p = view.portfolio
    return PortfolioRead(
        id=p.id,
        name=p.name,
        description=p.description,
        currency=p.currency,
        equity_balance=p.equity_balance,
        benchmark_code=p.benchmark_code,
        stale_from=p.stale_from,
        latest_snapshot_date=view.latest_snapshot_date,
    )


def _position_read(view: book.PositionView) -> PositionRead:
    return PositionRead(
        id=view.position_id,
        portfolio_id=view.portfolio_id,
        **view.values,
        data_status=view.data_status,
        data_hint=view.data_hint,
    )


# --- portfolios -----------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PortfolioRead,
    summary="Create a portfolio (201, Location: its URL)",
    responses=CONFLICT | INVALID_BODY,
)
async def create_portfolio(
    body: PortfolioIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKeyHeader = None,
) -> Response:
    async def run() -> idempotency.StoredAnswer:
        view = await book.create_portfolio(session, user.id, body)
        read = _portfolio_read(view)
        return _json(read, status.HTTP_201_CREATED, f"{PORTFOLIOS_PATH}/{read.id}")

    request_fingerprint = idempotency.fingerprint(
        "POST", request.url.path, body.model_dump_json(exclude_unset=True)
    )
    return await _once(session, user, key, request_fingerprint, run)


@router.patch(
    "/{portfolio_id}",
    response_model=PortfolioRead,
    summary="Change a portfolio's name, description, currency or equity balance",
    responses=NOT_FOUND | CONFLICT | INVALID_BODY,
)
async def change_portfolio(
    portfolio_id: uuid.UUID, body: PortfolioChanges, session: SessionDep, user: CurrentUser
) -> PortfolioRead:
    view = await book.change_portfolio(session, portfolio_id, body, owner=user.id)
    return _portfolio_read(view)


@router.delete(
    "/{portfolio_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a portfolio: gone from every read, its stored figures kept",
    responses=NOT_FOUND,
)
async def delete_portfolio(
    portfolio_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Response:
    await book.delete_portfolio(session, portfolio_id, owner=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- positions ------------------------------------------------------------------------


@router.post(
    "/{portfolio_id}/positions",
    status_code=status.HTTP_201_CREATED,
    response_model=PositionRead,
    summary="Add a position (an OCC symbol fills the option's fields)",
    responses=NOT_FOUND | INVALID_BODY,
)
async def add_position(
    portfolio_id: uuid.UUID,
    body: PositionIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKeyHeader = None,
) -> Response:
    async def run() -> idempotency.StoredAnswer:
        view = await book.add_position(session, portfolio_id, body, owner=user.id)
        return _json(_position_read(view), status.HTTP_201_CREATED)

    sent = body.model_dump_json(include=set(body.given))
    request_fingerprint = idempotency.fingerprint("POST", request.url.path, sent)
    return await _once(session, user, key, request_fingerprint, run)


@position_router.patch(
    "/{position_id}",
    response_model=PositionRead,
    summary="Correct a position, or close it with exit_date (and exit_price)",
    responses=NOT_FOUND | INVALID_BODY,
)
async def change_position(
    position_id: uuid.UUID, body: PositionChanges, session: SessionDep, user: CurrentUser
) -> PositionRead:
    view = await book.change_position(session, position_id, body, owner=user.id)
    return _position_read(view)


@position_router.delete(
    "/{position_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a position entered by mistake (to record a sale, close it instead)",
    responses=NOT_FOUND,
)
async def delete_position(
    position_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Response:
    await book.delete_position(session, position_id, owner=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- import ---------------------------------------------------------------------------


async def _csv_body(request: Request) -> bytes:
    """The CSV of a text/csv body, or of the multipart field ``file``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=4) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise UnsupportedMediaTypeError("multipart body without a file field named 'file'")
            return await upload.read()
    if content_type in CSV_TYPES:
        return await request.body()
    raise UnsupportedMediaTypeError(
        "send the CSV as the body with Content-Type: text/csv, or as the multipart/form-data "
        "field 'file'"
    )


CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": "symbol,quantity\nAAPL,100\n"},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/{portfolio_id}/positions/import",
    response_model=ImportResult,
    summary="Import positions from CSV: append them, or replace the book on as_of",
    description=(
        "The CSV format is in docs/book.md. All or nothing: one bad row and nothing is "
        "written (422 listing every bad row by line and field). `dry_run=true` answers what "
        "would be added, closed and left unchanged, and writes nothing."
    ),
    responses=NOT_FOUND
    | UNREADABLE
    | {
        415: {"model": ErrorResponse, "description": "Not text/csv nor a multipart file"},
        422: {"model": ImportRejected, "description": "Rejected rows: nothing written"},
    },
    openapi_extra=CSV_BODY,
)
async def import_positions(
    portfolio_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    mode: Annotated[
        Literal["append", "replace"],
        Query(description="append: add every row; replace: the file is the whole book on as_of."),
    ] = "append",
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD (default today).")] = None,
    dry_run: Annotated[bool, Query(description="Check and answer, write nothing.")] = False,
    key: IdempotencyKeyHeader = None,
) -> Response:
    data = await _csv_body(request)

    async def run() -> idempotency.StoredAnswer:
        outcome = await imports.import_book(
            session, portfolio_id, data, owner=user.id, mode=mode, as_of=as_of, dry_run=dry_run
        )
        return _json(imports.import_result(outcome), status.HTTP_200_OK)

    request_fingerprint = idempotency.fingerprint(
        "POST", request.url.path, mode, str(as_of), str(dry_run), data
    )
    return await _once(session, user, key, request_fingerprint, run)
