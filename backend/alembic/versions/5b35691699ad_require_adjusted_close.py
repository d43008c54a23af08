"""require_adjusted_close

Every price carries its total-return close: daily_prices.adjusted_close becomes NOT NULL,
so returns are read from that one column, never from a close as traded that jumps on a
split. Rows written before this revision without one get adjusted_close = close: the
value the engine read for them until now (coalesce(adjusted_close, close)), so no stored
figure changes. The next price refresh of an FMP symbol replaces its history with FMP's
own adjusted closes (the overlap check finds them different).

Locks, upgrading:
1. ACCESS EXCLUSIVE on daily_prices for a catalog-only change, CHECK (adjusted_close IS
   NOT NULL) added NOT VALID (no scan), in one short transaction bounded by lock_timeout.
   From then on a new or changed row without adjusted_close is refused: a writer of an
   older version fails and writes nothing, so deploy this version's code with it.
2. Rows without one are filled a symbol at a time, through the (symbol, date) index, each
   symbol in its own transaction: row locks on that symbol's rows for the time of its
   UPDATE, lock waits bounded by lock_timeout. Each filled row is written once (autovacuum
   reclaims the old versions).
3. VALIDATE (SHARE UPDATE EXCLUSIVE: writers continue) scans the table once.
4. SET NOT NULL under ACCESS EXCLUSIVE without a scan (PostgreSQL 12+ takes the validated
   CHECK as its proof), then the CHECK, now redundant, is dropped: one short transaction.
Re-entrant: a run cut short after any step resumes.

Downgrade: DROP NOT NULL, ACCESS EXCLUSIVE for a catalog-only change. The filled values
stay: they are what the older code reads for those rows anyway.

Revision ID: 5b35691699ad
Revises: d3e4841351ca
Create Date: 2026-12-06 07:10:01.000000
"""

from collections.abc import Sequence

from alembic import op

from app.migrations.ops import (
    add_check_not_valid,
    run_outside_transaction,
    set_local_timeouts,
    validate_constraints,
)

revision: str = "5b35691699ad"
down_revision: str | None = "d3e4841351ca"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "daily_prices"
COLUMN = "adjusted_close"
CHECK = "ck_daily_prices_adjusted_close_not_null"

# One symbol per transaction (COMMIT in a DO block: PostgreSQL 11+, outside a transaction
# block, so online and offline runs are the same statement). The next symbol is one index
# probe past the last, so the walk reads each row once, however many symbols there are.
FILL_BY_SYMBOL = """
DO $$
DECLARE
    next_symbol varchar;
BEGIN
    next_symbol := (SELECT min(symbol) FROM daily_prices);
    WHILE next_symbol IS NOT NULL LOOP
        UPDATE daily_prices SET adjusted_close = close
        WHERE symbol = next_symbol AND adjusted_close IS NULL;
        COMMIT;
        next_symbol := (SELECT min(symbol) FROM daily_prices WHERE symbol > next_symbol);
    END LOOP;
END
$$
"""


def upgrade() -> None:
    set_local_timeouts()
    add_check_not_valid(TABLE, CHECK, f"{COLUMN} IS NOT NULL")
    run_outside_transaction(FILL_BY_SYMBOL)
    validate_constraints(TABLE, [CHECK])
    set_local_timeouts()
    op.alter_column(TABLE, COLUMN, nullable=False)
    # The CHECK was this revision's scaffolding for SET NOT NULL: NOT NULL now says it.
    op.execute(
        "-- squawk-ignore ban-drop-constraint\n"
        f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS "{CHECK}"'
    )


def downgrade() -> None:
    set_local_timeouts()
    op.alter_column(TABLE, COLUMN, nullable=True)
