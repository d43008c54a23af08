"""Answers kept for retried requests: a POST sent again with the same ``Idempotency-Key``
gets the first answer back instead of writing twice."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class IdempotencyKey(Base):
    """One key of one user: the request it came with (a SHA-256 fingerprint) and the
    answer given. Written in the transaction of the request's own writes, so a key is
    stored exactly when they are; a key older than a day is ignored and removed."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("octet_length(fingerprint) = 32", name="fingerprint_digest"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX_LENGTH), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # NULL only inside the transaction that runs the request; stored with the answer.
    status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
