"""Bytes per row and per calc date of the risk-metrics tables, beside the spec's estimates.

Fills a throwaway database at head with the spec's demo shape (3 portfolios, 63 positions,
11 GICS sectors) for ``--days`` calc dates with every column populated, vacuums, and reads
``pg_total_relation_size`` (heap + indexes + TOAST + free-space/visibility maps).
The portfolio_snapshots line counts only what the risk revisions add: the new columns'
bytes (``pg_column_size``) plus their two indexes.

Usage (from the repository root)::

    uv run python backend/perf/storage_footprint.py            # 252 calc dates
    uv run python backend/perf/storage_footprint.py --days 504 --database-url URL

Prints a table and writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.redaction import safe_url
from app.core.sectors import GICS_SECTORS
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from devtools.databases import alembic_config, benchmark_server_url, throwaway_database
from perf import write_report

PORTFOLIOS = 3
POSITIONS_PER_PORTFOLIO = 21  # 63 positions, the spec's demo data

# The spec's "Database Size Impact" table (docs/risk-metrics-migrations.md): bytes per
# calc date, and per year as it computes it (x 365).
SPEC_ESTIMATES: dict[str, tuple[int, int]] = {
    "position_market_betas": (15_000, 5_500_000),
    "benchmarks_sector_weights": (2_000, 730_000),
    "position_volatility": (20_000, 7_300_000),
    "portfolio_snapshots (new columns)": (500, 183_000),
}
SNAPSHOT_RISK_INDEXES = ("idx_snapshots_beta", "idx_snapshots_volatility")


_SEED = [
    (
        "INSERT INTO portfolios (name, equity_balance) "
        "SELECT 'Demo portfolio ' || g, 250000 * g FROM generate_series(1, :portfolios) g"
    ),
    (
        "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price, "
        "entry_date, last_price, market_value) "
        "SELECT p.id, 'SYM' || p.n || '_' || g, 'LONG', 10 + g, 50 + g, DATE '2023-06-01', "
        "55 + g, (10 + g) * (55 + g) "
        "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM portfolios) p "
        "CROSS JOIN generate_series(1, :per_portfolio) g"
    ),
    (
        "INSERT INTO position_market_betas (portfolio_id, position_id, calc_date, beta, alpha, "
        "r_squared, std_error, p_value, observations, window_days) "
        "SELECT pos.portfolio_id, pos.id, d.day, round((0.4 + random() * 1.4)::numeric, 6), "
        "round(((random() - 0.5) * 0.002)::numeric, 6), round(random()::numeric, 6), "
        "round((random() * 0.2)::numeric, 6), round(random()::numeric, 6), 90, 90 "
        "FROM positions pos "
        "CROSS JOIN (SELECT DATE '2024-01-01' + g AS day FROM generate_series(1, :days) g) d"
    ),
    (
        "INSERT INTO position_volatility (position_id, calculation_date, realized_vol_21d, "
        "realized_vol_63d, vol_daily, vol_weekly, vol_monthly, expected_vol_21d, vol_trend, "
        "vol_trend_strength, vol_percentile, observations, model_r_squared) "
        "SELECT pos.id, d.day, round((0.1 + random() * 0.5)::numeric, 4), "
        "round((0.1 + random() * 0.5)::numeric, 4), round((random() * 0.04)::numeric, 4), "
        "round((random() * 0.04)::numeric, 4), round((random() * 0.04)::numeric, 4), "
        "round((0.1 + random() * 0.5)::numeric, 4), "
        "(ARRAY['increasing', 'decreasing', 'stable'])[1 + (random() * 2)::int], "
        "round(random()::numeric, 4), round(random()::numeric, 4), 252, "
        "round(random()::numeric, 4) "
        "FROM positions pos "
        "CROSS JOIN (SELECT DATE '2024-01-01' + g AS day FROM generate_series(1, :days) g) d"
    ),
    (
        "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, weight, "
        "market_cap, num_constituents) "
        "SELECT 'SP500', d.day, s.sector, round((random() * 0.3)::numeric, 6), "
        "round((1e11 + random() * 1e13)::numeric, 2), 20 + (random() * 60)::int "
        "FROM unnest(CAST(:sectors AS text[])) AS s(sector) "
        "CROSS JOIN (SELECT DATE '2024-01-01' + g AS day FROM generate_series(1, :days) g) d"
    ),
    (
        "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date, total_value, "
        "daily_return, num_positions, market_beta_weighted, market_beta_r_squared, "
        "market_beta_observations, market_beta_direct, sector_exposure, hhi, "
        "effective_num_positions, top_3_concentration, top_10_concentration, "
        "realized_volatility_21d, realized_volatility_63d, expected_volatility_21d, "
        "volatility_trend, volatility_percentile) "
        "SELECT p.id, d.day, 1e6, 0.001, 21, round((0.8 + random() * 0.4)::numeric, 4), "
        "round(random()::numeric, 4), 90, NULL, "
        "(SELECT jsonb_object_agg(s, round((random() / 5)::numeric, 4)) "
        " FROM unnest(CAST(:sectors AS text[])) s WHERE p.id IS NOT NULL AND d.day IS NOT NULL), "
        "round((500 + random() * 2000)::numeric, 2), round((5 + random() * 15)::numeric, 2), "
        "round((0.2 + random() * 0.3)::numeric, 4), round((0.5 + random() * 0.4)::numeric, 4), "
        "round((0.1 + random() * 0.3)::numeric, 4), round((0.1 + random() * 0.3)::numeric, 4), "
        "round((0.1 + random() * 0.3)::numeric, 4), 'stable', round(random()::numeric, 4) "
        "FROM portfolios p "
        "CROSS JOIN (SELECT DATE '2024-01-01' + g AS day FROM generate_series(1, :days) g) d"
    ),
]

_TABLE_SIZE = text(
    "SELECT pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap, "
    "pg_indexes_size(c.oid) AS indexes, "
    "(SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) AS n_indexes "
    "FROM pg_class c WHERE c.oid = to_regclass(:table)"
)


def seed(conn: Connection, days: int) -> None:
    params = {
        "days": days,
        "portfolios": PORTFOLIOS,
        "per_portfolio": POSITIONS_PER_PORTFOLIO,
        "sectors": list(GICS_SECTORS),
    }
    for statement in _SEED:
        conn.execute(text(statement), params)


def measure(url: URL, days: int) -> list[dict[str, Any]]:
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            seed(conn, days)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            rows: list[dict[str, Any]] = []
            for table in (
                "position_market_betas",
                "benchmarks_sector_weights",
                "position_volatility",
            ):
                size = conn.execute(_TABLE_SIZE, {"table": table}).one()
                count = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()  # noqa: S608
                rows.append(
                    {
                        "table": table,
                        "rows": count,
                        "rows_per_date": count / days,
                        "heap_bytes": size.heap,
                        "index_bytes": size.indexes,
                        "indexes": size.n_indexes,
                        "total_bytes": size.total,
                    }
                )
            rows.append(snapshot_columns(conn, days))
    finally:
        engine.dispose()
    for row in rows:
        row["bytes_per_row"] = row["total_bytes"] / row["rows"]
        row["bytes_per_date"] = row["total_bytes"] / days
        row["spec_bytes_per_date"], row["spec_bytes_per_year"] = SPEC_ESTIMATES[row["table"]]
    return rows


def snapshot_columns(conn: Connection, days: int) -> dict[str, Any]:
    """What the risk revisions add to each snapshot row: their columns' stored bytes (all
    filled except the reserved market_beta_direct) plus their two indexes."""
    sizes = " + ".join(f'coalesce(pg_column_size("{c}"), 0)' for c in SNAPSHOT_RISK_COLUMNS)
    count, column_bytes = conn.execute(
        text(f"SELECT count(*), sum({sizes}) FROM portfolio_snapshots")  # noqa: S608
    ).one()
    index_bytes = conn.execute(
        text("SELECT sum(pg_relation_size(to_regclass(n))) FROM unnest(CAST(:names AS text[])) n"),
        {"names": list(SNAPSHOT_RISK_INDEXES)},
    ).scalar_one()
    return {
        "table": "portfolio_snapshots (new columns)",
        "rows": count,
        "rows_per_date": count / days,
        "heap_bytes": int(column_bytes),
        "index_bytes": int(index_bytes),
        "indexes": len(SNAPSHOT_RISK_INDEXES),
        "total_bytes": int(column_bytes) + int(index_bytes),
    }


def _size(n: float) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def render(rows: list[dict[str, Any]], days: int) -> Table:
    table = Table(title=f"Storage after {days} calc dates (3 portfolios, 63 positions, 11 sectors)")
    for header in (
        "table",
        "rows/date",
        "bytes/row",
        "in indexes",
        "per date",
        "per year (x365)",
        "spec per date",
        "spec per year",
    ):
        first = header == "table"
        table.add_column(header, justify="left" if first else "right", no_wrap=first)
    for row in rows:
        table.add_row(
            row["table"],
            f"{row['rows_per_date']:g}",
            f"{row['bytes_per_row']:,.0f}",
            f"{row['index_bytes'] / row['total_bytes']:.0%}",
            _size(row["bytes_per_date"]),
            _size(row["bytes_per_date"] * 365),
            _size(row["spec_bytes_per_date"]),
            _size(row["spec_bytes_per_year"]),
        )
    total = sum(r["bytes_per_date"] for r in rows) * 365
    table.caption = (
        f"Total per year (x365, as the spec counts): {_size(total)} (spec: ~13.7 MB). "
        "bytes/row includes the table's indexes; x252 trading days: "
        f"{_size(total * 252 / 365)}."
    )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=252, help="calc dates to insert")
    parser.add_argument(
        "--database-url",
        help="server to run on (a throwaway bench_* database is created there and dropped; "
        "default: TEST_DATABASE_URL, else an embedded PostgreSQL in backend/.pgdata/bench)",
    )
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be positive")
    server = benchmark_server_url(args.database_url)
    Console(stderr=True).print(f"server: {safe_url(server)}")
    with throwaway_database(server, "bench_storage") as url:
        rows = measure(url, args.days)
    Console(width=max(Console().width, 120)).print(render(rows, args.days))
    report = {"benchmark": "storage_footprint", "days": args.days, "tables": rows}
    Console(stderr=True).print(f"JSON: {write_report('storage_footprint', report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
