"""Retried writes answered once: a POST with an ``Idempotency-Key`` header.

The key is claimed in the request's own transaction, before any write (an INSERT that
waits for a concurrent request with the same key to finish), and its answer is stored in
that transaction after the writes: a key is kept exactly when the writes are. The same
user sending the same key within :data:`KEY_LIFETIME`:

- with the same request: gets the stored answer again, and nothing is written;
- with another request (method, path, query or body): 422, nothing written.

A refused request (4xx) writes nothing and keeps no key: sending it again runs it again.
Keys older than KEY_LIFETIME are ignored, and each keyed request removes its user's
expired ones.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InputDataError
from app.core.repository import table_of
from app.models import IdempotencyKey
from app.models.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH

_TABLE = table_of(IdempotencyKey)
KEY_LIFETIME = timedelta(hours=24)
HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = IDEMPOTENCY_KEY_MAX_LENGTH


class IdempotencyKeyReusedError(InputDataError):
    """The key came with another request before."""

    def http_details(self) -> Mapping[str, Any]:
        return {"errors": [{"location": f"header.{HEADER}", "message": str(self)}]}


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: str
    location: str | None


def fingerprint(*parts: bytes | str) -> bytes:
    """SHA-256 of the parts (each length-prefixed, so no two lists of parts collide)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


async def claim(
    session: AsyncSession, user_id: uuid.UUID, key: str, request: bytes
) -> StoredAnswer | None:
    """Take ``key`` for this request (None: go on and :func:`remember` the answer), or
    the answer stored for it. IdempotencyKeyReusedError if it came with another request."""
    table = _TABLE
    c = table.c
    await session.execute(
        delete(table).where(c.user_id == user_id, c.created_at < func.now() - KEY_LIFETIME)
    )
    claimed = await session.execute(
        insert(table)
        .values(user_id=user_id, key=key, fingerprint=request)
        .on_conflict_do_nothing()
        .returning(c.key)
    )
    if claimed.first() is not None:
        return None
    stored = (
        await session.execute(
            select(c.fingerprint, c.status, c.response_body, c.location).where(
                c.user_id == user_id, c.key == key
            )
        )
    ).one()
    if stored.fingerprint != request or stored.status is None:
        raise IdempotencyKeyReusedError(
            f"{HEADER}: this key came with another request before (a different method, path, "
            "query or body); use a new key for a new request"
        )
    return StoredAnswer(stored.status, stored.response_body or "", stored.location)


async def remember(
    session: AsyncSession, user_id: uuid.UUID, key: str, answer: StoredAnswer
) -> None:
    """Store the answer of the request that claimed ``key``."""
    c = _TABLE.c
    await session.execute(
        update(_TABLE)
        .where(c.user_id == user_id, c.key == key)
        .values(status=answer.status, response_body=answer.body, location=answer.location)
    )
