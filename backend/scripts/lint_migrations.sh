#!/usr/bin/env bash
# Lint the whole migration chain's SQL with squawk. Offline (--sql) mode: no database needed.
set -euo pipefail
cd "$(dirname "$0")/.."
sql=$(mktemp --suffix=.sql)
trap 'rm -f "$sql"' EXIT
# Alembic's own bookkeeping table is created without IF NOT EXISTS, inside the first
# transaction; it is not ours to change, so that one statement is exempted in place.
uv run alembic upgrade base:head --sql 2>/dev/null \
  | sed 's/^CREATE TABLE alembic_version (/-- squawk-ignore prefer-robust-stmts\n&/' >"$sql"
uv run squawk --config ../.squawk.toml --reporter gcc "$sql"
echo "squawk: migration SQL is clean ($(grep -c ';$' "$sql") statements)"
