"""scripts/calculate_risk_metrics.py on the test database: main() in this process, and
one end-to-end run as a child process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app.core.errors import MIGRATE_HINT
from app.formulas.labels import TRENDS
from app.prices.demo import DEMO_END
from app.risk_metrics import runs
from app.risk_metrics.calculation import HISTORY_DAYS
from devtools.databases import PostgresServer, TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import CliRun, run_script, script, script_env


@pytest.fixture(scope="module")
def demo(database: TestDatabase) -> None:
    """The demo's portfolios and prices, loaded once for the module: the scripts compute
    from them, and each test's figures are removed after it (``no_figures_left``)."""
    loaded = _script(database, "demo_data.py")
    assert loaded.code == 0, loaded.stderr


@pytest.fixture(autouse=True)
def no_figures_left(database: TestDatabase) -> Iterator[None]:
    yield
    _rows_update(
        database, "TRUNCATE position_market_betas, position_volatility, portfolio_snapshots"
    )


@pytest.fixture
def database_without_prices(
    pg_server: PostgresServer, migrated_template: str
) -> Iterator[TestDatabase]:
    db = pg_server.create_database("rm_test", template=migrated_template)
    yield db
    pg_server.drop_database(db.name)


def _script(database: TestDatabase, name: str, *args: str, **env: str) -> CliRun:
    """``scripts/<name>.py`` in this process (see tests.support.cli)."""
    return run_script(name.removesuffix(".py"), *args, env=script_env(database.env_url, **env))


def _rows(database: TestDatabase, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def _table_state(database: TestDatabase) -> list[tuple[object, ...]]:
    return _rows(
        database,
        "SELECT (SELECT count(*) FROM position_market_betas),"
        " (SELECT count(*) FROM position_volatility),"
        " (SELECT count(*) FROM portfolio_snapshots),"
        " (SELECT string_agg(id::text || beta::text, ',' ORDER BY id) FROM position_market_betas)",
    )


@pytest.mark.slow
@pytest.mark.usefixtures("demo")
def test_demo_then_calculate_fills_every_table_with_values_in_range_and_rerun_is_idempotent(
    database: TestDatabase,
) -> None:
    # End to end, as a user runs it: a child process.
    result = run_python(
        ["scripts/calculate_risk_metrics.py", "--date", DEMO_END.isoformat()],
        subprocess_env(database),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Demo Long/Short Hedge Fund" in result.stdout
    assert "Traceback" not in result.stderr

    assert _rows(database, "SELECT count(*) FROM position_market_betas") == [(63,)]
    assert _rows(database, "SELECT count(*) FROM position_volatility") == [(63,)]
    bad_betas = _rows(
        database,
        "SELECT count(*) FROM position_market_betas WHERE observations <> 90 OR window_days <> 90"
        " OR beta NOT BETWEEN -3 AND 4 OR r_squared NOT BETWEEN 0 AND 1"
        " OR p_value NOT BETWEEN 0 AND 1 OR std_error < 0",
    )
    assert bad_betas == [(0,)]
    # SPY (and the SPY put) regressed on SPY itself: beta exactly 1, a perfect fit.
    spy = _rows(
        database,
        "SELECT b.beta, b.r_squared, b.std_error FROM position_market_betas b"
        " JOIN positions p ON p.id = b.position_id"
        " WHERE coalesce(p.underlying_symbol, p.symbol) = 'SPY'",
    )
    assert len(spy) == 3
    assert all((float(b), float(r2), float(se)) == (1.0, 1.0, 0.0) for b, r2, se in spy)
    bad_vols = _rows(
        database,
        "SELECT count(*) FROM position_volatility WHERE realized_vol_21d NOT BETWEEN 0.02 AND 2"
        " OR realized_vol_63d IS NULL OR expected_vol_21d IS NULL OR vol_trend IS NULL"
        " OR vol_percentile NOT BETWEEN 0 AND 1 OR model_r_squared IS NULL",
    )
    assert bad_vols == [(0,)]
    snaps = _rows(
        database,
        "SELECT p.name, s.calculation_date, s.market_beta_weighted, s.market_beta_direct,"
        " s.hhi, s.effective_num_positions, s.top_3_concentration, s.top_10_concentration,"
        " s.realized_volatility_21d, s.volatility_trend, s.sector_exposure, s.num_positions"
        " FROM portfolio_snapshots s JOIN portfolios p ON p.id = s.portfolio_id ORDER BY p.name",
    )
    assert len(snaps) == 3
    for name, day, wtd, direct, hhi, eff_n, top3, top10, vol21, trend, sectors, n in snaps:
        assert day == DEMO_END and n == 21, name
        assert wtd is not None and direct is not None
        assert 0 < hhi <= 10_000 and float(eff_n) == pytest.approx(10_000 / float(hhi), abs=0.01)
        assert 0 < top3 <= top10 <= 1
        assert 0 < vol21 < 1 and trend in TRENDS
        assert isinstance(sectors, dict) and sectors
    by_name = {row[0]: row for row in snaps}
    # The hedged book's market beta is far below the long-only books'.
    assert by_name["Demo Long/Short Hedge Fund"][2] < by_name["Demo Balanced Individual"][2]

    before = _table_state(database)
    again = _script(database, "calculate_risk_metrics.py", "--date", DEMO_END.isoformat())
    assert again.code == 0, again.stderr
    assert _table_state(database) == before


@pytest.mark.usefixtures("demo")
def test_a_date_range_covers_trading_days_and_one_portfolio_can_be_chosen(
    database: TestDatabase,
) -> None:
    (portfolio_id,) = _rows(database, "SELECT id FROM portfolios WHERE name = 'Demo Growth Tech'")[
        0
    ]
    result = _script(
        database,
        "calculate_risk_metrics.py",
        "--from",
        "2025-10-11",  # a Saturday: the range starts on Monday the 13th
        "--to",
        DEMO_END.isoformat(),
        "--portfolio",
        str(portfolio_id),
    )
    assert result.code == 0, result.stderr
    dates = _rows(database, "SELECT DISTINCT calculation_date FROM portfolio_snapshots ORDER BY 1")
    assert [d for (d,) in dates] == [date(2025, 10, d) for d in (13, 14, 15, 16, 17)]
    assert _rows(database, "SELECT count(DISTINCT portfolio_id) FROM portfolio_snapshots") == [(1,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--date"),
        (["--date", "2025-13-01"], "not a date"),
        (["--date", "2025-10-17", "--from", "2025-10-01"], "not both"),
        (["--from", "2025-10-17", "--to", "2025-10-01"], "after"),
        (["--date", "2025-10-17", "--portfolio", "nope"], "not a UUID"),
        (["--date", "2025-10-17", "--window-days", "10"], "between 30"),
        (["--date", "2025-10-17", "--window-days", "1000000000000"], f"and {HISTORY_DAYS - 1}"),
    ],
)
def test_bad_arguments_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        script("calculate_risk_metrics").parse_args(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.usefixtures("demo")
def test_unknown_portfolio_is_a_usage_error_that_writes_nothing(database: TestDatabase) -> None:
    result = _script(
        database,
        "calculate_risk_metrics.py",
        "--date",
        "2025-10-17",
        "--portfolio",
        "00000000-0000-0000-0000-000000000001",
    )
    assert result.code == 2
    assert "unknown portfolio 00000000-0000-0000-0000-000000000001" in result.stderr
    assert _rows(database, "SELECT count(*) FROM portfolio_snapshots") == [(0,)]


def test_without_prices_it_is_a_data_error_and_nothing_is_written(
    database_without_prices: TestDatabase,
) -> None:
    database = database_without_prices
    engine = create_engine(database.sync_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO portfolios (name) VALUES ('No prices')"))
    engine.dispose()
    result = _script(database, "calculate_risk_metrics.py", "--date", "2025-10-17")
    assert result.code == 1
    assert "SPY" in result.stderr
    assert _rows(database, "SELECT count(*) FROM portfolio_snapshots") == [(0,)]


@pytest.mark.usefixtures("demo")
def test_ctrl_c_mid_run_says_what_was_kept_in_one_line_and_keeps_it(
    database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The single-date loop is app.risk_metrics.runs'; the script reports what it kept.
    calculate = runs.calculate_portfolio_risk
    calls = 0

    async def interrupted_on_the_second(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return await calculate(*args, **kwargs)

    monkeypatch.setattr(runs, "calculate_portfolio_risk", interrupted_on_the_second)
    result = _script(database, "calculate_risk_metrics.py", "--date", DEMO_END.isoformat())
    assert result.code == 130
    assert result.stderr.splitlines() == [
        f"interrupted: 1 whole portfolio-dates stored ({DEMO_END} .. {DEMO_END}); "
        "re-run the same command to finish"
    ]
    # The first portfolio-date was committed; the interrupted one left nothing behind.
    assert _rows(database, "SELECT count(*) FROM portfolio_snapshots") == [(1,)]
    assert _rows(database, "SELECT count(DISTINCT portfolio_id) FROM position_market_betas") == [
        (1,)
    ]


@pytest.mark.slow
def test_ctrl_c_while_the_script_is_still_importing_is_one_line() -> None:
    code = (
        "import app.core.interrupts\n"
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(30)\n"
    )
    result = run_python(["-c", code], {"PATH": "/usr/bin:/bin"})
    assert result.returncode == -2  # ended by SIGINT, as shells report 130
    assert result.stderr == "interrupted while starting: nothing was written\n"


@pytest.mark.usefixtures("demo")
def test_json_output_has_each_portfolio_and_its_over_and_underweights(
    database: TestDatabase,
) -> None:
    result = _script(
        database, "calculate_risk_metrics.py", "--date", DEMO_END.isoformat(), "--json"
    )
    assert result.code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["status"], body["exit_code"], body["failures"]) == ("ok", 0, [])
    names = [p["portfolio_name"] for p in body["portfolios"]]
    assert names == ["Demo Balanced Individual", "Demo Growth Tech", "Demo Long/Short Hedge Fund"]
    for portfolio in body["portfolios"]:
        assert portfolio["last_date"] == DEMO_END.isoformat()
        assert portfolio["betas_written"] == portfolio["volatility_written"] == 21
        # The demo ships SP500 weights dated inside its prices: the comparison is there.
        assert portfolio["largest_overweight"]["active_weight"] > 0
        assert portfolio["largest_underweight"]["active_weight"] < 0


NDX_WEIGHTS = {"Utilities": 0.7, "Information Technology": 0.3}
"""Skewed on purpose: against them Growth Tech's largest underweight is Utilities, against
the demo's SP500 weights it is not."""


@pytest.fixture
def own_benchmarks(database: TestDatabase) -> Iterator[None]:
    """Growth Tech held against NDX (weights stored on a date before DEMO_END and one
    after), Long/Short against DJIA (none stored); Balanced stays on SP500."""
    before = date.fromordinal(DEMO_END.toordinal() - 40)
    after = date.fromordinal(DEMO_END.toordinal() + 1)
    _rows_update(
        database,
        "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, weight,"
        " data_source) VALUES ('NDX', :day, :sector, :weight, 'TEST')",
        [
            {"day": day, "sector": sector, "weight": weight if day == before else 0.5}
            for day in (before, after)
            for sector, weight in NDX_WEIGHTS.items()
        ],
    )
    _rows_update(
        database,
        "UPDATE portfolios SET benchmark_code = CASE name WHEN 'Demo Growth Tech' THEN 'NDX'"
        " WHEN 'Demo Long/Short Hedge Fund' THEN 'DJIA' ELSE benchmark_code END",
    )
    yield
    _rows_update(
        database,
        "UPDATE portfolios SET benchmark_code = 'SP500'"
        " WHERE name IN ('Demo Growth Tech', 'Demo Long/Short Hedge Fund')",
    )
    _rows_update(database, "DELETE FROM benchmarks_sector_weights WHERE benchmark_code = 'NDX'")


def _extremes(exposure: dict[str, float], weights: dict[str, float]) -> tuple[Any, Any]:
    """(sector, active weight) of the largest overweight and underweight."""
    active = {s: exposure.get(s, 0.0) - weights.get(s, 0.0) for s in {*exposure, *weights}}
    return max(active.items(), key=lambda kv: kv[1]), min(active.items(), key=lambda kv: kv[1])


@pytest.mark.usefixtures("demo", "own_benchmarks")
def test_each_portfolio_is_compared_with_its_own_benchmark_or_says_it_has_no_weights(
    database: TestDatabase,
) -> None:
    day = DEMO_END.isoformat()
    result = _script(database, "calculate_risk_metrics.py", "--date", day, "--json")
    assert result.code == 0, result.stderr
    got = {p["portfolio_name"]: p for p in json.loads(result.stdout)["portfolios"]}
    exposure = {
        name: {s: float(w) for s, w in raw.items()}
        for name, raw in _rows(
            database,
            "SELECT p.name, s.sector_exposure FROM portfolio_snapshots s"
            " JOIN portfolios p ON p.id = s.portfolio_id WHERE s.calculation_date = :day",
            day=DEMO_END,
        )
    }
    sp500_asof, *_ = _rows(
        database,
        "SELECT max(asof_date) FROM benchmarks_sector_weights"
        " WHERE benchmark_code = 'SP500' AND asof_date <= :day",
        day=DEMO_END,
    )[0]
    sp500 = {
        str(s): float(str(w))
        for s, w in _rows(
            database,
            "SELECT sector, weight FROM benchmarks_sector_weights"
            " WHERE benchmark_code = 'SP500' AND asof_date = :asof",
            asof=sp500_asof,
        )
    }
    expected = {
        "Demo Balanced Individual": ("SP500", sp500_asof, sp500),
        # The NDX weights of the date after DEMO_END are not used.
        "Demo Growth Tech": ("NDX", date.fromordinal(DEMO_END.toordinal() - 40), NDX_WEIGHTS),
    }
    for name, (code, asof, weights) in expected.items():
        over, under = _extremes(exposure[name], weights)
        portfolio = got[name]
        assert (portfolio["benchmark_code"], portfolio["benchmark_weights_asof"]) == (
            code,
            str(asof),
        )
        assert portfolio["benchmark_comparison_reason"] is None
        for key, (sector, active) in (
            ("largest_overweight", over),
            ("largest_underweight", under),
        ):
            assert portfolio[key]["sector"] == sector
            assert portfolio[key]["active_weight"] == pytest.approx(active, abs=2e-6)
    assert got["Demo Growth Tech"]["largest_underweight"]["sector"] == "Utilities"
    assert got["Demo Balanced Individual"]["largest_underweight"]["sector"] != "Utilities"
    hedge = got["Demo Long/Short Hedge Fund"]
    assert hedge["benchmark_code"] == "DJIA"
    assert hedge["largest_overweight"] is hedge["largest_underweight"] is None
    assert hedge["benchmark_comparison_reason"].startswith("no DJIA sector weights are stored")

    printed = _script(database, "calculate_risk_metrics.py", "--date", day, COLUMNS="250")
    assert printed.code == 0, printed.stderr
    lines = printed.stdout.splitlines()
    for name, (code, asof, _) in expected.items():
        (hi, hv), (lo, lv) = (
            (p["sector"], p["active_weight"])
            for p in (got[name]["largest_overweight"], got[name]["largest_underweight"])
        )
        assert (
            f"{name} vs {code} (weights of {asof}): most over {hi} {hv:+.1%}, "
            f"most under {lo} {lv:+.1%}"
        ) in lines
    assert f"Demo Long/Short Hedge Fund vs DJIA: {hedge['benchmark_comparison_reason']}" in lines
    assert "SP500" not in "".join(line for line in lines if "Growth Tech" in line)


@pytest.mark.usefixtures("demo")
def test_summary_fits_80_columns_without_cutting_a_cell(database: TestDatabase) -> None:
    result = _script(database, "calculate_risk_metrics.py", "--date", DEMO_END.isoformat())
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "…" not in result.stdout
    for name in ("Demo Balanced Individual", "Demo Growth Tech", "Demo Long/Short Hedge Fund"):
        assert name in lines
    assert result.stdout.count(DEMO_END.isoformat()) == 3
    wide = _script(database, "calculate_risk_metrics.py", "--date", "2025-10-16", COLUMNS="250")
    # Wide enough: one table with a header row.
    assert any(
        line.split()[:2] == ["Portfolio", "Dates"]
        for line in wide.stdout.splitlines()
        if line.strip()
    )


def test_an_unmigrated_database_says_how_to_migrate(empty_database: TestDatabase) -> None:
    result = _script(empty_database, "calculate_risk_metrics.py", "--date", "2025-10-17")
    assert result.code == 2
    assert result.stderr == (
        'error: the database schema is not migrated (relation "portfolios" does not exist): '
        f"{MIGRATE_HINT}\n"
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--date", "2030-01-01"], "--date 2030-01-01"),
        (["--from", "2025-10-13", "--to", "9999-12-31"], "--to 9999-12-31"),
        (["--from", "2030-01-01", "--to", "2030-02-01"], "--from 2030-01-01"),
    ],
)
@pytest.mark.usefixtures("demo")
def test_a_date_after_the_last_spy_price_is_refused_and_nothing_is_written(
    database: TestDatabase, args: list[str], named: str
) -> None:
    result = _script(database, "calculate_risk_metrics.py", *args)
    assert result.returncode == 1
    assert named in result.stderr
    assert f"last SPY price ({DEMO_END})" in result.stderr
    assert _table_state(database)[0][:3] == (0, 0, 0)


def _figures_by_date(database: TestDatabase) -> dict[date, list[tuple[object, ...]]]:
    """Every stored figure, keyed by date: betas, vols and whole snapshot rows."""
    rows = _rows(
        database,
        "SELECT calc_date, 'b', position_id::text, beta::text, r_squared::text"
        " FROM position_market_betas"
        " UNION ALL SELECT calculation_date, 'v', position_id::text, realized_vol_21d::text,"
        " expected_vol_21d::text FROM position_volatility"
        " UNION ALL SELECT calculation_date, 's', portfolio_id::text,"
        " market_beta_weighted::text, row_to_json(s)::text FROM portfolio_snapshots s"
        " ORDER BY 1, 2, 3",
    )
    by_date: dict[date, list[tuple[object, ...]]] = {}
    for row in rows:
        by_date.setdefault(row[0], []).append(row[1:])  # type: ignore[arg-type]
    return by_date


@pytest.mark.usefixtures("demo")
def test_delete_removes_the_figures_of_the_dates_given_and_nothing_else(
    database: TestDatabase,
) -> None:
    week = [date(2025, 10, d) for d in (13, 14, 15, 16, 17)]
    computed = _script(
        database, "calculate_risk_metrics.py", "--from", "2025-10-13", "--to", "2025-10-17"
    )
    assert computed.returncode == 0, computed.stderr
    # Valuation columns the risk engine never writes must survive a delete.
    _rows_update(database, "UPDATE portfolio_snapshots SET total_value = 1234.5, cash_value = 7")
    before = _figures_by_date(database)
    assert sorted(before) == week
    stored_risk = (
        "SELECT count(*) FILTER (WHERE sector_exposure IS NOT NULL),"
        " sum(num_nonnulls(sector_exposure, hhi, market_beta_weighted))"
        " FROM portfolio_snapshots WHERE calculation_date IN ('2025-10-14', '2025-10-15')"
    )
    assert _rows(database, stored_risk) == [(6, 18)]

    result = _script(
        database,
        "calculate_risk_metrics.py",
        "--delete",
        "--from",
        "2025-10-14",
        "--to",
        "2025-10-15",
    )
    assert result.returncode == 0, result.stderr
    # 63 betas and 63 vols per date, 3 portfolios per date.
    removed = "126 position betas, 126 position volatility rows and the risk columns of 6 snapshots"
    assert removed in result.stdout
    after = _figures_by_date(database)
    for day in (week[0], week[3], week[4]):
        assert after[day] == before[day]
    for day in (week[1], week[2]):
        assert {kind for kind, *_ in after[day]} == {"s"}  # only the snapshot rows are left
    cleared = _rows(
        database,
        "SELECT total_value, cash_value, long_value, num_positions, market_beta_weighted,"
        " realized_volatility_21d, hhi, sector_exposure FROM portfolio_snapshots"
        " WHERE calculation_date IN ('2025-10-14', '2025-10-15')",
    )
    assert len(cleared) == 6
    # SQL NULL, not JSON null (which psycopg2 also reads as None): nothing counts as stored.
    assert _rows(database, stored_risk) == [(0, 0)]
    assert all(
        row[:2] == (1234.5, 7) and row[3] is not None and row[4:] == (None,) * 4
        for row in ((float(r[0]), float(r[1]), *r[2:]) for r in cleared)  # type: ignore[arg-type]
    )

    # One date of one portfolio: the other portfolios' figures of that date stay.
    (growth,) = _rows(database, "SELECT id FROM portfolios WHERE name = 'Demo Growth Tech'")[0]
    one = _script(
        database,
        "calculate_risk_metrics.py",
        "--delete",
        "--date",
        "2025-10-16",
        "--portfolio",
        str(growth),
    )
    assert one.returncode == 0, one.stderr
    removed = "21 position betas, 21 position volatility rows and the risk columns of 1 snapshots"
    assert removed in one.stdout
    left = _figures_by_date(database)
    assert [r for r in left[week[3]] if r[1] != str(growth) and r[0] == "s"] == [
        r for r in before[week[3]] if r[1] != str(growth) and r[0] == "s"
    ]
    betas_left = _rows(
        database,
        "SELECT DISTINCT portfolio_id::text FROM position_market_betas"
        " WHERE calc_date = '2025-10-16'",
    )
    assert len(betas_left) == 2 and (str(growth),) not in betas_left
    assert left[week[4]] == before[week[4]]


@pytest.mark.usefixtures("demo")
def test_delete_of_an_unknown_portfolio_is_a_usage_error_that_removes_nothing(
    database: TestDatabase,
) -> None:
    assert _script(database, "calculate_risk_metrics.py", "--date", "2025-10-17").returncode == 0
    before = _table_state(database)
    result = _script(
        database,
        "calculate_risk_metrics.py",
        "--delete",
        "--date",
        "2025-10-17",
        "--portfolio",
        "00000000-0000-0000-0000-000000000001",
    )
    assert result.returncode == 2
    assert "unknown portfolio" in result.stderr
    assert _table_state(database) == before


def _rows_update(database: TestDatabase, sql: str, params: Any = None) -> None:
    engine = create_engine(database.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()
