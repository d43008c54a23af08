"""add_owner_to_portfolios

Ownership: portfolios.owner_id names the user who may read the portfolio through the API.
Nullable, no default: portfolios that predate sign-in keep working for the scripts and are
visible to no user until assigned. ON DELETE SET NULL, so removing a user never deletes
portfolio history. Indexed for "the portfolios of this user".

Locks: ACCESS EXCLUSIVE on portfolios for a catalog-only change (a nullable column with no
default) and SHARE ROW EXCLUSIVE on portfolios and users for the foreign key added NOT
VALID, all in one short transaction bounded by lock_timeout. Then, outside it, VALIDATE
(SHARE UPDATE EXCLUSIVE on portfolios, ROW SHARE on users) and CREATE INDEX CONCURRENTLY,
which let writers continue. Re-entrant: a run interrupted after the first commit resumes.

Revision ID: 1b682779a997
Revises: 7c487488c6fa
Create Date: 2026-12-01 19:04:49.762572
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.migrations.ops import (
    add_foreign_key_not_valid,
    create_index_concurrently,
    set_local_timeouts,
    validate_constraints,
)

revision: str = "1b682779a997"
down_revision: str | None = "7c487488c6fa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolios"
FOREIGN_KEY = "fk_portfolios_owner_id_users"
INDEX = "ix_portfolios_owner_id"


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(TABLE, sa.Column("owner_id", postgresql.UUID(as_uuid=True)), if_not_exists=True)
    add_foreign_key_not_valid(TABLE, FOREIGN_KEY, "owner_id", "users", ondelete="SET NULL")
    validate_constraints(TABLE, [FOREIGN_KEY])
    create_index_concurrently(INDEX, TABLE, ["owner_id"])


def downgrade() -> None:
    set_local_timeouts()
    # Inside the revision's transaction, not CONCURRENTLY: dropping the column needs
    # ACCESS EXCLUSIVE anyway, and a concurrent drop cut short by lock_timeout would leave
    # the index INVALID while alembic_version still names this revision.
    op.drop_index(INDEX, table_name=TABLE, if_exists=True)
    op.drop_constraint(FOREIGN_KEY, TABLE, type_="foreignkey", if_exists=True)
    op.drop_column(TABLE, "owner_id", if_exists=True)
