"""add_token_version_to_users

Revocation: users.token_version is copied into every access token (its ``ver`` claim) and
checked on every request, so raising it (a password change, disabling, signing out
everywhere) ends every token issued before. Existing users start at 0; tokens issued
before this revision carry no ``ver`` and are refused (their users sign in again once).

Locks: ACCESS EXCLUSIVE on users for a catalog-only change: since PostgreSQL 11 a column
with a constant default is added without rewriting or scanning the table (existing rows
read the default from the catalog). One short transaction bounded by lock_timeout;
re-entrant (IF NOT EXISTS).

Revision ID: 27b533bb0f16
Revises: 1b682779a997
Create Date: 2026-12-06 05:31:52.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import set_local_timeouts

revision: str = "27b533bb0f16"
down_revision: str | None = "1b682779a997"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "users"


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(
        TABLE,
        sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    set_local_timeouts()
    op.drop_column(TABLE, "token_version", if_exists=True)
