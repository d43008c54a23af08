"""positive_position_quantities

One sign convention: a position's direction is its type (LONG, SHORT, LC, LP, SC, SP) and
its quantity is always positive. Writers used to disagree (the demo stored a SHORT of 2,000
KO as -2000, others +2000) while the engine read |quantity| with the type's sign. Stored
negative quantities become their absolute value, the type kept, so every figure stays the
same; then CHECK (quantity > 0) makes the convention the schema's, for every writer.

A zero quantity holds nothing and has no sign to keep: if there is one, the revision stops
before changing anything and says how to find them (delete or correct them, then re-run).

Locks: ACCESS EXCLUSIVE on positions for a catalog-only change (the CHECK added NOT VALID,
no scan) in one short transaction bounded by lock_timeout; from then on new rows must be
positive. Then the rows are fixed in batches of 5,000 by primary key, each batch its own
transaction (row locks for milliseconds). Then VALIDATE (SHARE UPDATE EXCLUSIVE: writers
continue). Re-entrant: a run cut short resumes. The downgrade drops the CHECK; the
quantities stay positive (the engine reads them the same).

Revision ID: 65687f56f5fd
Revises: 5b35691699ad
Create Date: 2026-12-06 06:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from app.migrations.ops import (
    add_check_not_valid,
    drop_check,
    set_local_timeouts,
    update_in_batches,
    validate_constraints,
)

revision: str = "65687f56f5fd"
down_revision: str | None = "5b35691699ad"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "positions"
CHECK = "ck_positions_quantity_positive"

REFUSE_ZERO_QUANTITIES = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM positions WHERE quantity = 0) THEN
        RAISE EXCEPTION 'positions with quantity 0 hold nothing and cannot be made '
            'positive: find them with SELECT id, portfolio_id, symbol FROM positions WHERE '
            'quantity = 0; delete or correct them, then run the upgrade again';
    END IF;
END
$$
"""


def upgrade() -> None:
    set_local_timeouts()
    op.execute(REFUSE_ZERO_QUANTITIES)
    add_check_not_valid(TABLE, CHECK, "quantity > 0")
    update_in_batches(TABLE, "quantity = abs(quantity)", "quantity < 0")
    validate_constraints(TABLE, [CHECK])


def downgrade() -> None:
    set_local_timeouts()
    drop_check(TABLE, CHECK)
