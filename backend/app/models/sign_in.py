"""Failed sign-ins, counted in the database so that every worker and host sees the same
counts (app.users.throttle reads and writes them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

SOURCE_MAX_LENGTH = 64
"""An IPv4 address, an IPv6 /64 network, or 'unknown'."""
ACCOUNT_DIGEST_BYTES = 32
"""SHA-256 of the normalised email: no address typed at the sign-in form is stored."""


class SignInFailure(Base):
    """Recent failed sign-ins from one source: for one account (``account`` is the digest of
    its normalised email), or for every account together (``account`` is empty).

    Keyed by what is counted rather than a surrogate id: each sign-in locks exactly its two
    rows. A row whose ``last_failed_at`` is older than the throttle's memory no longer
    counts and is purged from time to time (hence the index).
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        CheckConstraint(
            f"octet_length(account) IN (0, {ACCOUNT_DIGEST_BYTES})", name="account_digest"
        ),
        CheckConstraint("failures >= 0", name="failures_nonneg"),
        Index("ix_sign_in_failures_last_failed_at", "last_failed_at"),
    )

    source: Mapped[str] = mapped_column(String(SOURCE_MAX_LENGTH), primary_key=True)
    account: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
