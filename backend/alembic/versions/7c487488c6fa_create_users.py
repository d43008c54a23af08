"""create_users

Sign-in: the people who may read portfolios through the API. One row per account; the
email is unique whatever its case (a unique index on lower(email)), the password is kept
only as an argon2 hash, and is_active = false disables an account without deleting it.

Locks: a new table only; no existing table is locked (no foreign keys; the index is built
on the empty new table in the same transaction).

Revision ID: 7c487488c6fa
Revises: ca76b929f4d1
Create Date: 2026-12-01 19:04:45.506142
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import (
    create_updated_at_trigger,
    drop_updated_at_trigger,
    set_local_timeouts,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "7c487488c6fa"
down_revision: str | None = "ca76b929f4d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        "users",
        uuid_primary_key(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint(
            "email = btrim(email) AND email LIKE '_%@_%'", name=op.f("ck_users_email_shape")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        if_not_exists=True,
    )
    op.create_index(
        "uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True, if_not_exists=True
    )
    create_updated_at_trigger("users")


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger("users")
    op.drop_table("users")
