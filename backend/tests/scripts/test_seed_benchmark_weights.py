"""scripts/seed_benchmark_weights.py against the fake FMP over HTTP and the test PostgreSQL.

Runs call ``main()`` in this process (what a child process would print and return); the
first test and the concurrency test run real child processes. Every run is checked for
the API key in its output."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.benchmark_expectations import (
    assert_weights_close,
    check_rows,
    expected_price_sectors,
    expected_sectors,
)
from tests.support.cli import run_script
from tests.support.fake_fmp import (
    FMP_LABEL,
    STABLE,
    FakeFmp,
    FakeResponse,
    RecordedRequest,
)

SCRIPT = BACKEND_DIR / "scripts" / "seed_benchmark_weights.py"
SPEC = BACKEND_DIR.parent / "docs" / "risk-metrics-migrations.md"
GICS = sorted(FMP_LABEL)
PREVIOUS = date(2025, 10, 31)
DB_PASSWORD = "db-pass-not-to-print"


@pytest.fixture(scope="module")
def sync_engine(database: TestDatabase) -> Iterator[Engine]:
    eng = create_engine(database.sync_url, poolclass=NullPool)
    yield eng
    eng.dispose()


def table_contents(engine: Engine) -> list[tuple[object, ...]]:
    """Every column of every row, ids and timestamps included."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT * FROM benchmarks_sector_weights ORDER BY benchmark_code, asof_date, sector"
            )
        )
        return [tuple(r) for r in rows]


def rows_for(engine: Engine, asof: date) -> list[tuple[str, Decimal, Decimal, int, str]]:
    with engine.connect() as conn:
        result = conn.execute(
            text(
                "SELECT sector, weight, market_cap, num_constituents, data_source "
                "FROM benchmarks_sector_weights WHERE benchmark_code = 'SP500' "
                "AND asof_date = :d ORDER BY sector"
            ),
            {"d": asof},
        )
        return [tuple(r) for r in result]  # type: ignore[misc]


def seed_previous_date(engine: Engine) -> None:
    """An earlier seed that every failing run must leave exactly as it is."""
    with engine.begin() as conn:
        for n, sector in enumerate(GICS):
            weight = Decimal("0.090910") if n else Decimal("0.090900")
            conn.execute(
                text(
                    "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, "
                    "weight, market_cap, num_constituents, data_source) "
                    "VALUES ('SP500', :d, :s, :w, :c, :n, 'FMP')"
                ),
                {"d": PREVIOUS, "s": sector, "w": weight, "c": Decimal("1000.25") + n, "n": 40},
            )


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Seeder:
    """Runs the script as a user would, bound to the test database and the fake FMP."""

    database: TestDatabase
    fake: FakeFmp
    secrets: list[str] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        env = subprocess_env(
            self.database,
            FMP_API_KEY=self.fake.api_key,
            FMP_BASE_URL=self.fake.base_url,
            FMP_MAX_ATTEMPTS="3",
            FMP_RETRY_BACKOFF="0.01",
            COLUMNS="160",
        )
        env.update(overrides)
        return env

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), *args],
            cwd=BACKEND_DIR,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, process: subprocess.Popen[str]) -> Run:
        stdout, stderr = process.communicate(timeout=120)
        return self._checked(Run(process.returncode, stdout, stderr))

    def _checked(self, run: Run) -> Run:
        for secret in [self.fake.api_key, DB_PASSWORD, *self.secrets]:
            assert secret not in run.output, "a secret reached the output"
        return run

    def __call__(self, *args: str, **env: str) -> Run:
        """The script's main() in this process, with the environment a child would get."""
        done = run_script("seed_benchmark_weights", *args, env=self.env(**env))
        return self._checked(Run(done.code, done.stdout, done.stderr))


@pytest.fixture
def seed(database: TestDatabase, fake_fmp: FakeFmp, clean_tables: None) -> Seeder:
    return Seeder(database, fake_fmp)


def verify_snippet() -> str:
    """The spec's "Verify data" code: the python -c right after the seed command."""
    doc = SPEC.read_text(encoding="utf-8")
    start = doc.index("uv run python scripts/seed_benchmark_weights.py")
    block = doc[start : doc.index("```", start)]
    match = re.search(r'uv run python -c "\n(.*?)\n"', block, re.S)
    assert match, "the spec's verify snippet moved"
    return match.group(1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- success ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_writes_the_expected_weights_and_the_spec_snippet_counts_them(
    seed: Seeder, sync_engine: Engine, database: TestDatabase
) -> None:
    run = seed.finish(seed.start())  # end to end: a child process, as a user runs it
    assert run.code == 0, run.output
    assert "Traceback" not in run.output

    data = seed.fake.data
    rows = rows_for(sync_engine, data.asof)
    check_rows([r[:4] for r in rows], expected_sectors(data))
    assert {r[4] for r in rows} == {"FMP"}
    assert len(seed.fake.requests) <= 8
    assert all(r.api_key == seed.fake.api_key for r in seed.fake.requests)

    for sector in GICS:
        assert sector in run.stdout
    assert "Wrote SP500 2025-11-14: 11 inserted, 0 updated, 0 unchanged, 0 removed." in run.stdout
    assert "BRK.B" in run.stderr  # the symbol FMP had no market cap for is reported

    snippet = run_python(["-c", verify_snippet()], subprocess_env(database))
    assert snippet.returncode == 0, snippet.stderr
    assert snippet.stdout.strip().splitlines() == ["Total records: 11"]


def test_table_shows_each_stored_weight_and_cap(seed: Seeder, sync_engine: Engine) -> None:
    run = seed()
    assert run.code == 0, run.output
    for sector, weight, cap, count, _ in rows_for(sync_engine, seed.fake.data.asof):
        line = next(ln for ln in run.stdout.splitlines() if ln.startswith(f"{sector} "))
        assert f"{weight:.6f}" in line and f"{cap:,.2f}" in line and f" {count} " in line
        assert "inserted" in line


def test_rerun_is_idempotent_byte_for_byte(seed: Seeder, sync_engine: Engine) -> None:
    assert seed().code == 0
    before = table_contents(sync_engine)
    run = seed()
    assert run.code == 0, run.output
    assert "0 inserted, 0 updated, 11 unchanged, 0 removed" in run.stdout
    assert table_contents(sync_engine) == before


@pytest.mark.slow
def test_two_concurrent_runs_equal_one_run(seed: Seeder, sync_engine: Engine) -> None:
    first, second = seed.start(), seed.start()
    runs = [seed.finish(first), seed.finish(second)]
    assert [r.code for r in runs] == [0, 0], [r.output for r in runs]
    outcomes = sorted(re.search(r"\d+ inserted.*removed", r.stdout).group(0) for r in runs)  # type: ignore[union-attr]
    assert outcomes == [
        "0 inserted, 0 updated, 11 unchanged, 0 removed",
        "11 inserted, 0 updated, 0 unchanged, 0 removed",
    ]
    assert len(table_contents(sync_engine)) == 11
    rows = rows_for(sync_engine, seed.fake.data.asof)
    check_rows([r[:4] for r in rows], expected_sectors(seed.fake.data))


def test_dry_run_fetches_and_prints_but_writes_nothing(seed: Seeder, sync_engine: Engine) -> None:
    seed_previous_date(sync_engine)
    before = table_contents(sync_engine)
    # No usable database either: a dry run never connects.
    run = seed(
        "--dry-run", DATABASE_URL=f"postgresql://u:{DB_PASSWORD}@127.0.0.1:{closed_port()}/x"
    )
    assert run.code == 0, run.output
    assert "Dry run: nothing was written." in run.stdout
    assert "Information Technology" in run.stdout and "Change" not in run.stdout
    assert len(seed.fake.requests) == 7
    assert table_contents(sync_engine) == before


def test_verbose_logs_requests_and_retries_but_never_the_key(seed: Seeder) -> None:
    seed.fake.fail_next(1, 503)
    run = seed("--dry-run", "--verbose")
    assert run.code == 0, run.output
    assert "GET /sp500-constituent -> 503" in run.stderr
    assert "retry 1" in run.stderr
    assert "GET /market-capitalization-batch -> 200" in run.stderr


def test_from_file_round_trips_stored_weights(
    seed: Seeder, sync_engine: Engine, tmp_path: Path
) -> None:
    assert seed().code == 0
    asof = seed.fake.data.asof
    stored = rows_for(sync_engine, asof)
    path = tmp_path / "sp500-weights.json"
    path.write_text(
        json.dumps(
            {
                "source": "exported",
                "asof_date": asof.isoformat(),
                "weights": [
                    {"sector": s, "weight": str(w), "market_cap": str(c), "num_constituents": n}
                    for s, w, c, n, _ in stored
                ],
            }
        )
    )
    seed.fake.requests.clear()
    run = seed("--from-file", str(path), FMP_API_KEY="")  # offline: no key needed
    assert run.code == 0, run.output
    assert seed.fake.requests == []
    assert "0 inserted, 11 updated" in run.stdout  # only data_source changed
    again = rows_for(sync_engine, asof)
    assert [r[:4] for r in again] == [r[:4] for r in stored]
    assert {r[4] for r in again} == {"file:exported"}


def test_from_file_with_saved_fmp_answers_matches_the_fmp_seed(
    seed: Seeder, sync_engine: Engine, tmp_path: Path
) -> None:
    data = seed.fake.data
    path = tmp_path / "fmp-answers.json"
    path.write_text(
        json.dumps(
            {"constituents": data.constituents, "market_caps": data.cap_rows(data.symbols())}
        )
    )
    run = seed("--from-file", str(path), FMP_API_KEY="")
    assert run.code == 0, run.output
    rows = rows_for(sync_engine, data.asof)
    check_rows([r[:4] for r in rows], expected_sectors(data))
    assert {r[4] for r in rows} == {"file:fmp-answers.json"}


# --- failures leave the table exactly as it was -------------------------------------------


def _drop_caps(fake: FakeFmp) -> None:
    for symbol in fake.data.symbols()[-20:]:
        fake.data.market_caps[symbol] = None


def _unknown_sector(fake: FakeFmp) -> None:
    fake.data.constituents[3]["sector"] = "Conglomerates"


def _zero_cap(fake: FakeFmp) -> None:
    fake.data.market_caps["NVDA"] = Decimal(0)


def _fail_fourth_batch(fake: FakeFmp) -> None:
    """Three batches are answered, then FMP fails for good: a partial fetch writes nothing."""
    normal = fake.handler_for(f"{STABLE}/market-capitalization-batch")

    def flaky(request: RecordedRequest) -> FakeResponse:
        if len(fake.requests_to("market-capitalization-batch")) >= 4:
            return FakeResponse.text("Internal Server Error", 500)
        return normal(request)

    fake.add_route(f"{STABLE}/market-capitalization-batch", flaky)


@dataclass(frozen=True)
class Failure:
    setup: Callable[[FakeFmp], None] = lambda fake: None
    args: tuple[str, ...] = ()
    env: Callable[[FakeFmp], dict[str, str]] = lambda fake: {}
    code: int = 1
    message: str = ""


def _bad_file(tmp: Path) -> str:
    path = tmp / "percent.json"
    rows = [{"sector": g, "weight": str(Decimal(100) / 11)} for g in GICS]
    path.write_text(json.dumps({"asof_date": "2025-11-14", "weights": rows}))
    return str(path)


FAILURES: dict[str, Failure] = {
    "no-key": Failure(env=lambda f: {"FMP_API_KEY": ""}, code=2, message="FMP_API_KEY is not set"),
    # A rejected key is a configuration error, like a missing one.
    "wrong-key-401": Failure(
        env=lambda f: {"FMP_API_KEY": "wrong-key-0001"},
        message="FMP rejected the API key",
        code=2,
    ),
    "wrong-key-200": Failure(
        setup=lambda f: setattr(f, "legacy_auth_errors", True),
        env=lambda f: {"FMP_API_KEY": "wrong-key-0002"},
        message="Invalid API KEY",
        code=2,
    ),
    "plan-402": Failure(
        setup=lambda f: f.restricted_paths.add(f"{STABLE}/market-capitalization-batch"),
        message="plan does not include",
    ),
    "plan-402-nasdaq": Failure(
        setup=lambda f: f.restricted_paths.add(f"{STABLE}/nasdaq-constituent"),
        args=("--benchmark", "NDX"),
        message="plan does not include /nasdaq-constituent",
    ),
    "plan-402-dow": Failure(
        setup=lambda f: f.restricted_paths.add(f"{STABLE}/dowjones-constituent"),
        args=("--benchmark", "DJIA"),
        message="plan does not include /dowjones-constituent",
    ),
    "legacy-403": Failure(
        env=lambda f: {"FMP_BASE_URL": f.url + "/api/v3"}, message="legacy endpoint"
    ),
    "rate-limit-429": Failure(setup=lambda f: f.rate_limit_next(50), message="rate limit reached"),
    "rate-limit-200": Failure(
        setup=lambda f: f.rate_limit_next(50, as_200=True), message="gave up after 3 attempts"
    ),
    "bad-request-400": Failure(
        setup=lambda f: f.fail_next(50, 400, body="Invalid parameter: symbols"),
        message="HTTP 400: Invalid parameter",
    ),
    "not-found-404": Failure(
        env=lambda f: {"FMP_BASE_URL": f.url + "/v4"}, message="ends with /stable"
    ),
    "unavailable-503": Failure(
        setup=lambda f: f.fail_next(50, 503), message="FMP is unavailable (HTTP 503"
    ),
    "fails-mid-batches": Failure(setup=_fail_fourth_batch, message="HTTP 500"),
    "unreachable": Failure(
        env=lambda f: {"FMP_BASE_URL": f"http://127.0.0.1:{closed_port()}/stable"},
        message="cannot reach FMP",
    ),
    "low-coverage": Failure(setup=_drop_caps, message="cover only 482 of 503"),
    "unknown-sector": Failure(
        setup=_unknown_sector, message="unknown sector label 'Conglomerates'"
    ),
    "zero-cap": Failure(setup=_zero_cap, message="not positive for NVDA"),
    "bad-benchmark": Failure(args=("--benchmark", "NASDAQ100"), code=2, message="invalid choice"),
    "unknown-option": Failure(args=("--frobnicate",), code=2, message="unrecognized arguments"),
    "missing-file": Failure(
        args=("--from-file", "/nonexistent/weights.json"),
        code=2,
        message="/nonexistent/weights.json: no such file",
    ),
    "not-a-file": Failure(
        args=("--from-file", "/dev/zero"), code=2, message="/dev/zero: expected a .json or .csv"
    ),
    "database-unreachable": Failure(
        env=lambda f: {"DATABASE_URL": f"postgresql://u:{DB_PASSWORD}@127.0.0.1:{closed_port()}/x"},
        message="cannot use the database",
    ),
    "database-url-not-postgres": Failure(
        env=lambda f: {"DATABASE_URL": f"mysql://u:{DB_PASSWORD}@127.0.0.1/x"},
        code=2,
        message="must be a PostgreSQL URL",
    ),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_failure_exits_with_a_clear_message_and_leaves_the_table_unchanged(
    seed: Seeder, sync_engine: Engine, name: str
) -> None:
    failure = FAILURES[name]
    seed_previous_date(sync_engine)
    before = table_contents(sync_engine)
    failure.setup(seed.fake)
    env = failure.env(seed.fake)
    seed.secrets.extend(v for k, v in env.items() if k == "FMP_API_KEY" and v)

    run = seed(*failure.args, **env)

    assert run.code == failure.code, run.output
    assert failure.message in " ".join(run.stderr.split()), run.stderr
    assert "Traceback" not in run.output
    assert table_contents(sync_engine) == before


def test_percentage_weights_file_is_a_data_error(
    seed: Seeder, sync_engine: Engine, tmp_path: Path
) -> None:
    seed_previous_date(sync_engine)
    before = table_contents(sync_engine)
    run = seed("--from-file", _bad_file(tmp_path), FMP_API_KEY="")
    assert run.code == 1, run.output
    assert "percentages" in run.stderr
    assert table_contents(sync_engine) == before


def test_help_lists_the_options_and_exit_codes(seed: Seeder) -> None:
    run = seed("--help")
    assert run.code == 0
    for option in ("--benchmark", "--dry-run", "--from-file", "--verbose", "Exit codes", "DJIA"):
        assert option in run.stdout


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        (
            "latin1.csv",
            b"asof_date,sector,weight\n2025-06-30,\xc9nergie,1\n",
            "line 2, column 12: is not UTF-8",
        ),
        (
            "extra.csv",
            b"asof_date,sector,weight\n2025-06-30,Energy,1,\n",
            "line 2: 4 fields, but the header has 3 (a trailing comma?)",
        ),
        (
            "caps.csv",
            b"symbol,sector,cik,market_cap,date\nAAPL,Technology,320193,abc,2025-06-30\n",
            "line 2, field market_cap, symbol AAPL: Input should be a valid decimal",
        ),
        (
            "dates.csv",
            b"asof_date,sector,weight\n2025-06-30,Energy,0.5\n2025-07-01,Utilities,0.5\n",
            "line 3, field asof_date: every row needs the same asof_date",
        ),
        ("deep.json", b"[" * 100_000, "is not usable JSON (nested too deeply)"),
        ("nan.json", b'{"asof_date": "2025-06-30", "weights": NaN}', "NaN is not a number here"),
        (
            "bad.json",
            b'{"constituents": [{"symbol": "AAPL", "sector": 5}], "market_caps": []}',
            "field constituents[0].sector, symbol AAPL: Input should be a valid string",
        ),
        ("broken.json", b'{"weights": [1,}', "line 1, column 16: is not valid JSON"),
    ],
)
def test_bad_files_get_one_line_naming_where_and_write_nothing(
    seed: Seeder, sync_engine: Engine, tmp_path: Path, name: str, body: bytes, message: str
) -> None:
    seed_previous_date(sync_engine)
    before = table_contents(sync_engine)
    path = tmp_path / name
    path.write_bytes(body)
    run = seed("--from-file", str(path), FMP_API_KEY="")
    assert run.code == 1, run.output
    assert run.stderr.startswith(f"error: {path}"), run.stderr
    assert message in run.stderr
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.output
    assert table_contents(sync_engine) == before


def test_json_prints_the_stored_weights_and_what_changed(seed: Seeder) -> None:
    run = seed("--json")
    assert run.code == 0, run.output
    result = json.loads(run.stdout)
    assert (result["status"], result["exit_code"], result["dry_run"]) == ("ok", 0, False)
    assert (result["benchmark_code"], result["asof_date"]) == ("SP500", "2025-11-14")
    assert result["data_source"] == "FMP"
    assert sorted(s["sector"] for s in result["sectors"]) == GICS
    assert sum(Decimal(s["weight"]) for s in result["sectors"]) == 1
    assert {s["change"] for s in result["sectors"]} == {"inserted"}
    assert sorted(result["written"]["inserted"]) == GICS
    assert result["missing_symbols"] == ["BRK.B"]

    failed = seed("--json", FMP_API_KEY="")
    assert failed.code == 2
    assert json.loads(failed.stdout)["status"] == "error"
    assert "FMP_API_KEY is not set" in json.loads(failed.stdout)["error"]


@pytest.mark.parametrize(("code", "index"), [("NDX", "ndx"), ("DJIA", "djia")])
def test_benchmark_option_seeds_the_nasdaq_and_the_dow_beside_the_sp500(
    seed: Seeder, sync_engine: Engine, code: str, index: str
) -> None:
    """The Dow by share price (its caps left empty), the NASDAQ-100 by market cap."""
    seed_previous_date(sync_engine)
    sp500_before = table_contents(sync_engine)
    run = seed("--benchmark", code, "--json")
    assert run.code == 0, run.output
    result = json.loads(run.stdout)
    assert result["benchmark_code"] == code
    data = getattr(seed.fake, index)
    with sync_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT sector, weight, market_cap, num_constituents FROM "
                "benchmarks_sector_weights WHERE benchmark_code = :c AND asof_date = :d"
            ),
            {"c": code, "d": data.asof},
        ).all()
    if code == "DJIA":
        expected = expected_price_sectors(data)
        assert {r[2] for r in rows} == {None}
        assert_weights_close(
            {r[0]: r[1] for r in rows}, {s: e.exact_weight for s, e in expected.items()}
        )
        assert "Prices for 30 of 30 constituents" in run.stderr
    else:
        check_rows([tuple(r) for r in rows], expected_sectors(data))  # type: ignore[misc]
    assert sorted(result["written"]["inserted"]) == sorted(r[0] for r in rows)
    assert len(seed.fake.requests) <= 3  # 1 + ceil(constituents / 100)
    with sync_engine.connect() as conn:
        others = conn.execute(
            text("SELECT count(*) FROM benchmarks_sector_weights WHERE benchmark_code <> :c"),
            {"c": code},
        ).scalar_one()
    assert others == len(sp500_before)  # the S&P 500's weights are left alone


def test_the_summary_fits_80_columns(seed: Seeder) -> None:
    run = seed(COLUMNS="80")
    assert run.code == 0, run.output
    assert max(len(line) for line in run.stdout.splitlines()) <= 80
    for sector in GICS:
        assert sector in run.stdout
    assert "…" not in run.stdout
