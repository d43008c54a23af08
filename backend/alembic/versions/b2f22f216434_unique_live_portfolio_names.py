"""unique_live_portfolio_names

A name names one portfolio of its owner: among an owner's live (not deleted) portfolios no
two share a name, whatever its case (a unique partial index on (owner_id, lower(name))
WHERE deleted_at IS NULL). Portfolios without an owner are not concerned (NULLs differ).

Live duplicates already stored would make the build fail, so each one after the first (by
created_at, then id) is renamed first: its name (cut to 240 characters) followed by the
first 8 characters of its id in parentheses, e.g. "Growth (3f2a9c1e)". The downgrade does
not restore those names.

Locks: the renaming UPDATE locks only the duplicate rows, in one short transaction bounded
by lock_timeout; then CREATE UNIQUE INDEX CONCURRENTLY (SHARE UPDATE EXCLUSIVE: writers
continue). A duplicate written between the two makes the build fail and leaves an INVALID
index: running the upgrade again renames it and rebuilds (an INVALID leftover is dropped).

Revision ID: b2f22f216434
Revises: 5d1215dbe34e
Create Date: 2026-12-06 06:30:02.000000
"""

from collections.abc import Sequence

from alembic import op

from app.migrations.ops import create_index_concurrently, set_local_timeouts

revision: str = "b2f22f216434"
down_revision: str | None = "5d1215dbe34e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolios"
INDEX = "uq_portfolios_owner_id_lower_name"

RENAME_DUPLICATES = """
UPDATE portfolios AS p
SET name = left(p.name, 240) || ' (' || left(p.id::text, 8) || ')'
FROM (
    SELECT id, row_number() OVER (
        PARTITION BY owner_id, lower(name) ORDER BY created_at, id
    ) AS nth
    FROM portfolios
    WHERE deleted_at IS NULL AND owner_id IS NOT NULL
) AS d
WHERE p.id = d.id AND d.nth > 1
"""


def upgrade() -> None:
    set_local_timeouts()
    op.execute(RENAME_DUPLICATES)
    create_index_concurrently(
        INDEX, TABLE, ["owner_id", "lower((name)::text)"], unique=True, where="deleted_at IS NULL"
    )


def downgrade() -> None:
    set_local_timeouts()
    # In the revision's transaction, not CONCURRENTLY: a drop cut short by lock_timeout
    # would leave the index INVALID while alembic_version still names this revision.
    op.drop_index(INDEX, table_name=TABLE, if_exists=True)
