"""check_factor_positions_per_statement

Why: a backfill stores seven position_factor_exposures rows per position and date, and
the foreign key's per-row check (one lookup and row lock on positions per row) was most
of what storing them cost. The foreign key becomes triggers that do its work once per
statement (app.models.factor_exposure.POSITION_LINK_DDL): an inserted or updated row's
(portfolio, position) must be a position of that portfolio (checked against the
statement's rows at its end, the positions locked FOR KEY SHARE as the foreign key locks
them), a deleted position takes its rows with it, and a position with rows cannot change
its id or portfolio. Stored rows are not touched.

Locks: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on position_factor_exposures and
positions, and dropping the foreign key ACCESS EXCLUSIVE on both, each for the catalog
change only (no scan), bounded by lock_timeout; the triggers exist before the foreign
key goes, in one transaction (a run cut short leaves nothing of it). Downgrade: the
foreign key added NOT VALID (SHARE ROW EXCLUSIVE on both tables, no scan) and the
triggers dropped (ACCESS EXCLUSIVE, catalog only) in one transaction, then VALIDATE in
its own (SHARE UPDATE EXCLUSIVE: writers go on while it scans).

Revision ID: 83a8af686514
Revises: 12ddc2b7cb58
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from app.migrations.ops import add_foreign_key_not_valid, set_local_timeouts, validate_constraints
from app.models.factor_exposure import DROP_POSITION_LINK_DDL, POSITION_LINK_DDL

revision: str = "83a8af686514"
down_revision: str | None = "12ddc2b7cb58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "position_factor_exposures"
FOREIGN_KEY = "fk_position_factor_exposures_position_id_positions"


def upgrade() -> None:
    set_local_timeouts()
    for statement in POSITION_LINK_DDL:
        op.execute(statement)
    op.drop_constraint(op.f(FOREIGN_KEY), TABLE, type_="foreignkey", if_exists=True)


def downgrade() -> None:
    set_local_timeouts()
    add_foreign_key_not_valid(TABLE, FOREIGN_KEY, "position_id", "positions", ondelete="CASCADE")
    for statement in DROP_POSITION_LINK_DDL:
        op.execute(statement)
    validate_constraints(TABLE, [FOREIGN_KEY])
