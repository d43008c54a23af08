"""create_idempotency_keys

Retried writes: a POST to the book's endpoints may carry an Idempotency-Key header; the
key, a SHA-256 fingerprint of the request and the answer given are stored with the
request's own writes, so the same key and request within a day gets the first answer back
and writes nothing new. Keys older than a day are ignored and removed as requests pass
(indexed by created_at for that).

Locks: a new table; its foreign key to users takes SHARE ROW EXCLUSIVE on users for the
catalog change only (users is small and the lock is bounded by lock_timeout). The index
is built on the empty new table in the same transaction.

Revision ID: 571df0cdcb37
Revises: b2f22f216434
Create Date: 2026-12-06 06:30:03.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.migrations.ops import set_local_timeouts

revision: str = "571df0cdcb37"
down_revision: str | None = "b2f22f216434"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "idempotency_keys"
INDEX = "ix_idempotency_keys_created_at"


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        TABLE,
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("response_body", sa.Text()),
        sa.Column("location", sa.String(2048)),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "octet_length(fingerprint) = 32", name=op.f("ck_idempotency_keys_fingerprint_digest")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
        if_not_exists=True,
    )
    op.create_index(INDEX, TABLE, ["created_at"], if_not_exists=True)


def downgrade() -> None:
    set_local_timeouts()
    op.drop_table(TABLE, if_exists=True)
