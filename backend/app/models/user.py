"""People who sign in to the API; each portfolio belongs to at most one of them."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin, UUIDPrimaryKeyMixin

EMAIL_MAX_LENGTH = 320
"""64 characters of local part, '@', 255 of domain."""


class User(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A user account. Emails are unique whatever their case (the index is on lower(email));
    the address is kept as it was written. Every request checks the user again: a token
    works only while its user is active and its ``ver`` claim equals ``token_version``."""

    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        CheckConstraint("email = btrim(email) AND email LIKE '_%@_%'", name="email_shape"),
    )

    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), nullable=False)
    # An argon2 hash in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # Raised by a password change, disabling, and signing out everywhere: every token issued
    # before carries the old number and is refused from then on (enabling does not lower it).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
