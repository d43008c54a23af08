"""create_sign_in_failures

Sign-in throttling shared by every worker and host: failed sign-ins counted per source (a
client address) and per account-and-source, so that each process no longer counts on its
own. The account is stored as the SHA-256 digest of the normalised email.

Locks: a new table only; no existing table is locked (no foreign keys: a counter may name
an account that does not exist; the index is built on the empty new table in the same
transaction).

Revision ID: aa336c5aabdf
Revises: 27b533bb0f16
Create Date: 2026-12-06 05:31:53.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import set_local_timeouts

revision: str = "aa336c5aabdf"
down_revision: str | None = "27b533bb0f16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "sign_in_failures"
INDEX = "ix_sign_in_failures_last_failed_at"


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        TABLE,
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("account", sa.LargeBinary(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "octet_length(account) IN (0, 32)", name=op.f("ck_sign_in_failures_account_digest")
        ),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_sign_in_failures_failures_nonneg")),
        sa.PrimaryKeyConstraint("source", "account", name="pk_sign_in_failures"),
        if_not_exists=True,
    )
    op.create_index(INDEX, TABLE, ["last_failed_at"], if_not_exists=True)


def downgrade() -> None:
    set_local_timeouts()
    op.drop_table(TABLE, if_exists=True)
