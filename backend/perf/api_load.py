"""API under load: closed-loop clients over every GET endpoint, three phases.

* ``idle`` - the API alone;
* ``calculation`` - the same, while ``scripts/calculate_risk_metrics.py --from/--to`` runs
  in a subprocess against the same database (restarted whenever it finishes);
* ``outage`` - the app reaches the database through a TCP proxy that stops the database
  for ``--outage`` seconds mid-phase: counts 500s (the goal is none) and how soon the
  first request succeeds after the database is back.

Each client sends its next request when the last one returns (closed loop), following
``next_cursor`` through every page of the paginated lists. The server is
``python -m app.serve`` (uvicorn, one listening socket per worker) with N workers, started
here on 127.0.0.1 against a throwaway database (see devtools/databases.py) filled with the demo
data, the example S&P 500 weights and calculated risk figures.

Usage (from the repository root)::

    uv run python backend/perf/api_load.py                      # 2 workers, 200 clients
    uv run python backend/perf/api_load.py --quick              # smoke run, < 60 s
    uv run python backend/perf/api_load.py --workers 1 --clients 50 --phases idle
    uv run python backend/perf/api_load.py --header "Authorization: Bearer $TOKEN"

Every phase is bounded by ``--duration`` seconds and ``--max-requests``; traffic goes to
127.0.0.1 only. Prints a table and writes JSON (summary + per-endpoint figures) to
``backend/perf/results/``. Exits 1 if a phase misses ``--goal-p99`` or answers any 5xx
(503s allowed during the outage only), so CI's smoke run can check for errors with
``--goal-p99 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.benchmarks.files import load_sector_weights_file
from app.benchmarks.repository import upsert_sector_weights
from app.config import BACKEND_DIR
from app.core.db import ASYNC_DRIVER, create_sessionmaker, with_driver
from app.core.redaction import safe_url
from app.models import Portfolio, Position
from app.prices.demo import DEMO_EMAIL, DEMO_END, load_demo_data
from app.prices.repository import trading_days
from app.risk_metrics.calculation import calculate_portfolio_risk, shared_history
from app.risk_metrics.runs import portfolios_to_run
from app.users.service import ensure_user, set_password
from devtools.databases import alembic_config, benchmark_server_url, throwaway_database
from devtools.processes import ServerStartError, http_server
from devtools.tcp_proxy import FaultProxy, fault_proxy
from perf import RESULTS_DIR, write_report

try:  # the generator's own loop: uvloop when installed (as for the server)
    from uvloop import run as run_loop
except ImportError:  # pragma: no cover - platforms without uvloop
    from asyncio import run as run_loop  # type: ignore[assignment]

EXAMPLE_WEIGHTS = BACKEND_DIR / "examples" / "sp500_weights_example.json"


# -- the data set ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    portfolio_ids: list[uuid.UUID]
    position_ids: list[uuid.UUID]
    calc_dates: list[date]
    weights_date: date
    owner_email: str
    owner_password: str
    """The demo user who owns every portfolio: the benchmark signs in as this user."""


async def fill(url: URL, days: int) -> DataSet:
    """Demo data, the example benchmark weights, and risk figures for the last ``days``
    trading days, written by the same services the scripts use."""
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as session, session.begin():
            owner = await ensure_user(session, DEMO_EMAIL)
            password = (await set_password(session, DEMO_EMAIL)).generated_password
            assert password is not None
            await load_demo_data(session, owner_id=owner.user.id)
            weights = load_sector_weights_file(EXAMPLE_WEIGHTS, benchmark_code="SP500")
            await upsert_sector_weights(session, weights)
        async with maker() as session:
            portfolios = await portfolios_to_run(session)
            calendar = await trading_days(session, date(DEMO_END.year - 1, 1, 1), DEMO_END)
            dates = calendar[-days:]
            history = await shared_history(
                session, [pid for pid, _ in portfolios], dates[0], dates[-1]
            )
        for portfolio_id, _ in portfolios:
            for day in dates:
                async with maker() as session, session.begin():
                    await calculate_portfolio_risk(session, portfolio_id, day, history=history)
        async with maker() as session:
            positions = list(await session.scalars(select(Position.id).order_by(Position.id)))
            portfolio_ids = list(await session.scalars(select(Portfolio.id).order_by(Portfolio.id)))
    finally:
        await engine.dispose()
    return DataSet(portfolio_ids, positions, dates, weights.asof_date, DEMO_EMAIL, password)


# -- the requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    weight: int
    first_request: Callable[[DataSet, random.Random], tuple[str, dict[str, str]]]
    paginated: bool = False


def _pick(rng: random.Random, items: list[Any]) -> Any:
    return items[rng.randrange(len(items))]


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET /health", 1, lambda d, r: ("/health", {})),
    Endpoint("GET /health/db", 1, lambda d, r: ("/health/db", {})),
    Endpoint(
        "GET sector-weights",
        2,
        lambda d, r: ("/api/v1/benchmarks/SP500/sector-weights", {}),
    ),
    Endpoint(
        "GET sector-weights/history",
        2,
        lambda d, r: (
            "/api/v1/benchmarks/SP500/sector-weights/history",
            {"from": (d.weights_date.replace(day=1)).isoformat()},
        ),
    ),
    Endpoint("GET me", 1, lambda d, r: ("/api/v1/me", {})),
    Endpoint("GET portfolios", 2, lambda d, r: ("/api/v1/portfolios", {})),
    Endpoint(
        "GET positions",
        2,
        lambda d, r: (
            f"/api/v1/portfolios/{_pick(r, d.portfolio_ids)}/positions",
            {"date": _pick(r, d.calc_dates).isoformat()} if r.random() < 0.5 else {},
        ),
    ),
    Endpoint(
        "GET risk/history",
        2,
        lambda d, r: (f"/api/v1/portfolios/{_pick(r, d.portfolio_ids)}/risk/history", {}),
    ),
    Endpoint(
        "GET portfolio risk",
        4,
        lambda d, r: (
            f"/api/v1/portfolios/{_pick(r, d.portfolio_ids)}/risk",
            {"date": _pick(r, d.calc_dates).isoformat()} if r.random() < 0.5 else {},
        ),
    ),
    Endpoint(
        "GET market-betas (all pages)",
        5,
        lambda d, r: (
            f"/api/v1/portfolios/{_pick(r, d.portfolio_ids)}/market-betas",
            {"limit": "100"},
        ),
        paginated=True,
    ),
    Endpoint(
        "GET volatility (all pages)",
        5,
        lambda d, r: (
            f"/api/v1/positions/{_pick(r, d.position_ids)}/volatility",
            {"limit": "10"},
        ),
        paginated=True,
    ),
)


@dataclass
class Tally:
    """What one phase saw: every request's latency and outcome, and when."""

    started: float = field(default_factory=time.perf_counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    by_endpoint: dict[str, Counter[str]] = field(default_factory=dict)
    timeline: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since start, status or 0 for a transport error) of each request."""

    def add(self, endpoint: str, outcome: str, status: int, seconds: float) -> None:
        self.latencies.setdefault(endpoint, []).append(seconds)
        self.statuses[outcome] += 1
        self.by_endpoint.setdefault(endpoint, Counter())[outcome] += 1
        self.timeline.append((time.perf_counter() - self.started, status))


async def client_loop(
    http: aiohttp.ClientSession,
    data: DataSet,
    tally: Tally,
    rng: random.Random,
    deadline: float,
    budget: list[int],
) -> None:
    weights = [e.weight for e in ENDPOINTS]
    while time.perf_counter() < deadline and budget[0] > 0:
        endpoint = rng.choices(ENDPOINTS, weights)[0]
        path, params = endpoint.first_request(data, rng)
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            sent = time.perf_counter()
            cursor = None
            try:
                async with http.get(path, params=params) as response:
                    body = await response.read()
                    status, outcome = response.status, str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, outcome = 0, type(exc).__name__
            tally.add(endpoint.name, outcome, status, time.perf_counter() - sent)
            if endpoint.paginated and status == 200:
                cursor = json.loads(body).get("next_cursor")
            if cursor is None:
                break
            params = {**params, "cursor": cursor}


async def run_load(
    base: str,
    data: DataSet,
    *,
    clients: int,
    duration: float,
    max_requests: int,
    headers: dict[str, str],
    seed: int,
    during: Callable[[float], None] | None = None,
) -> Tally:
    """``clients`` closed-loop clients for ``duration`` s (or ``max_requests`` in all);
    ``during(elapsed)`` is called every 0.1 s (the outage phase's schedule)."""
    tally = Tally()
    budget = [max_requests]
    # aiohttp, not httpx: on 2 shared cores the generator competes with the server it
    # measures, and aiohttp costs ~0.2-0.5 ms of CPU a request where httpx costs 1.5-6 ms.
    async with aiohttp.ClientSession(
        base,
        connector=aiohttp.TCPConnector(limit=clients),
        timeout=aiohttp.ClientTimeout(total=60, connect=10),
        headers=headers,
    ) as http:
        deadline = time.perf_counter() + duration
        loops = [
            asyncio.create_task(
                client_loop(http, data, tally, random.Random(seed + i), deadline, budget)
            )
            for i in range(clients)
        ]
        if during is not None:
            while not all(task.done() for task in loops):
                during(time.perf_counter() - tally.started)
                await asyncio.sleep(0.1)
        await asyncio.gather(*loops)
    return tally


# -- the server and what runs beside it -----------------------------------------------------


def child_env(database_url: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    env["FMP_API_KEY"] = ""
    # A server with DATABASE_URL set needs a signing key; a throwaway one for a throwaway run.
    env.setdefault("AUTH_SECRET_KEY", _RUN_SIGNING_KEY)
    return env


_RUN_SIGNING_KEY = secrets.token_urlsafe(48)


def server_command(app_dir: Path) -> list[str]:
    """How the checkout at ``app_dir`` is served (without address and workers)."""
    bin_dir = (
        Path(sys.executable).parent if app_dir == BACKEND_DIR else app_dir.parent / ".venv" / "bin"
    )
    if (app_dir / "app" / "serve.py").exists():
        return [str(bin_dir / "python"), "-m", "app.serve"]
    return [str(bin_dir / "uvicorn"), "app.main:app"]


@contextmanager
def uvicorn_server(
    database_url: URL, args: argparse.Namespace, log: Path
) -> Iterator[tuple[str, psutil.Process]]:
    """The API served from ``--app-dir`` (default: this checkout's backend/), with that
    checkout's own environment (``<app-dir>/../.venv``): by ``python -m app.serve`` as the
    README says to run it, or ``uvicorn app.main:app`` for a checkout without app/serve.py."""
    started = http_server(
        server_command(args.app_dir),
        options=["--workers", str(args.workers), *args.uvicorn_arg],
        env=child_env(database_url),
        log=log,
        cwd=args.app_dir,
        is_up=lambda health: health.status_code == 200,
        stop_timeout=30,
    )
    try:
        with started as (base, server):
            time.sleep(0.5 * args.workers)  # every worker up, not only the first
            yield base, psutil.Process(server.pid)
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None


def calculation_command(data: DataSet, nice: int) -> list[str]:
    """The risk calculation over the loaded dates, at CPU priority ``nice`` (0: as any
    process; the README runs a calculation beside a serving API under ``nice``)."""
    command = [
        sys.executable,
        "scripts/calculate_risk_metrics.py",
        "--from",
        data.calc_dates[0].isoformat(),
        "--to",
        data.calc_dates[-1].isoformat(),
    ]
    return ["nice", "-n", str(nice), *command] if nice else command


@contextmanager
def calculation(database_url: URL, data: DataSet, log: Path, nice: int) -> Iterator[list[int]]:
    """:func:`calculation_command`, restarted whenever it ends; yields the list of its
    runs' exit codes (filled as they end)."""
    args = calculation_command(data, nice)
    codes: list[int] = []
    stop = False

    def keep_running() -> None:
        with log.open("w") as out:
            while not stop:
                run = subprocess.Popen(
                    args, cwd=BACKEND_DIR, env=child_env(database_url), stdout=out, stderr=out
                )
                current.append(run)
                codes.append(run.wait())

    import threading

    current: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=keep_running, daemon=True)
    thread.start()
    try:
        yield codes
    finally:
        stop = True
        for run in current:
            if run.poll() is None:
                run.terminate()
        thread.join(timeout=30)


def cpu_of(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds so far of each process still running, by pid."""
    found: dict[int, float] = {}
    for proc in processes:
        with suppress(psutil.Error):
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system
    return found


def cpu_since(before: dict[int, float], processes: list[psutil.Process]) -> float:
    """CPU seconds used since ``before`` by the processes alive at both ends."""
    now = cpu_of(processes)
    return sum(now[pid] - used for pid, used in before.items() if pid in now)


def database_backends(database_url: URL) -> list[psutil.Process]:
    """The PostgreSQL backends serving the benchmark's database, when the server runs on
    this machine (their CPU is part of what a request costs); else none."""
    from sqlalchemy import create_engine, text

    engine = create_engine(with_driver(database_url, "postgresql+psycopg2"), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        engine.dispose()
    found = []
    for pid in pids:
        with suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def server_processes(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


# -- report ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(name: str, tally: Tally, elapsed: float, extra: dict[str, Any]) -> dict[str, Any]:
    everything = [s for values in tally.latencies.values() for s in values]
    errors_5xx = sum(n for status, n in tally.statuses.items() if status.startswith("5"))
    return {
        "phase": name,
        "seconds": elapsed,
        "requests": len(everything),
        "requests_per_second": len(everything) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(everything, 0.50) * 1000,
        "p99_ms": percentile(everything, 0.99) * 1000,
        "max_ms": max(everything, default=float("nan")) * 1000,
        "statuses": dict(sorted(tally.statuses.items())),
        "responses_5xx": errors_5xx,
        "responses_500": tally.statuses.get("500", 0),
        "endpoints": {
            endpoint: {
                "requests": len(values),
                "p50_ms": percentile(values, 0.50) * 1000,
                "p99_ms": percentile(values, 0.99) * 1000,
                "max_ms": max(values) * 1000,
                "statuses": dict(tally.by_endpoint[endpoint]),
            }
            for endpoint, values in sorted(tally.latencies.items())
        },
        **extra,
    }


def shown(command: list[str]) -> str:
    """A command line as a reader would type it: programs by name, not by path."""
    return " ".join(Path(part).name if Path(part).is_absolute() else part for part in command)


def print_report(out: Console, title: str, phases: list[dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("Phase", "Requests", "req/s", "p50 ms", "p99 ms", "max ms", "Statuses"):
        table.add_column(col, justify="left" if col in ("Phase", "Statuses") else "right")
    for phase in phases:
        statuses = ", ".join(f"{k}: {v:,}" for k, v in phase["statuses"].items())
        table.add_row(
            phase["phase"],
            f"{phase['requests']:,}",
            f"{phase['requests_per_second']:.0f}",
            f"{phase['p50_ms']:.0f}",
            f"{phase['p99_ms']:.0f}",
            f"{phase['max_ms']:.0f}",
            statuses,
        )
    out.print(table)
    for phase in phases:
        notes = [
            f"CPU ms per request: server {phase['server_cpu_ms_per_request']:.2f}, "
            f"PostgreSQL {phase['database_cpu_ms_per_request']:.2f}, "
            f"load generator {phase['generator_cpu_ms_per_request']:.2f}",
            f"server CPU {phase['server_cpu_percent']:.0f}% of one core",
            f"machine load {phase['machine_load_average']:.1f}",
        ]
        if "calculation_runs" in phase:
            notes.append(
                f"calculation runs finished: {phase['calculation_runs']} of "
                f"`{phase['calculation_command']}`"
            )
        if "outage" in phase:
            o = phase["outage"]
            notes.append(
                f"database stopped {o['stopped_at']:.1f}-{o['restored_at']:.1f} s; first 200 "
                f"after restore: +{o['first_ok_after_restore_s']:.2f} s; 500s: "
                f"{phase['responses_500']}"
            )
        out.print(f"  {phase['phase']}: " + "; ".join(notes))
    slowest = Table(title="By endpoint (calculation phase, else the first)", title_justify="left")
    for col in ("Endpoint", "Requests", "p50 ms", "p99 ms", "max ms"):
        slowest.add_column(col, justify="left" if col == "Endpoint" else "right")
    chosen = next((p for p in phases if p["phase"] == "calculation"), phases[0])
    for endpoint, figures in chosen["endpoints"].items():
        slowest.add_row(
            endpoint,
            f"{figures['requests']:,}",
            f"{figures['p50_ms']:.0f}",
            f"{figures['p99_ms']:.0f}",
            f"{figures['max_ms']:.0f}",
        )
    out.print(slowest)


# -- main -----------------------------------------------------------------------------------


def parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"--header wants 'Name: value', got {value!r}")
        headers[name.strip()] = content.strip()
    return headers


def auth_headers(args: argparse.Namespace, base: str, data: DataSet) -> dict[str, str]:
    """Headers every request carries: ``--header`` values, else a bearer token of the demo
    user (signed in once through the token endpoint), so every endpoint is measured as a
    client calls it."""
    headers = parse_headers(args.header)
    if not any(name.lower() == "authorization" for name in headers):
        answer = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": data.owner_email, "password": data.owner_password},
            timeout=30,
        )
        answer.raise_for_status()
        headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return headers


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, not counted")
    parser.add_argument(
        "--phases",
        default="idle,calculation,outage",
        help="comma-separated: idle, calculation, outage (default: all three)",
    )
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the db is stopped")
    parser.add_argument("--days", type=int, default=20, help="calculated trading days")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="sent with every request (repeatable), e.g. 'Authorization: Bearer TOKEN'",
    )
    parser.add_argument(
        "--uvicorn-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="passed to the server command (repeatable), e.g. --uvicorn-arg=--no-access-log",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=BACKEND_DIR,
        help="backend/ of another checkout to serve instead (e.g. an older commit, to "
        "compare on the same machine and data); its ../.venv must be synced",
    )
    parser.add_argument(
        "--calculation-nice",
        type=int,
        default=10,
        metavar="N",
        help="CPU priority of the calculation phase's run (nice -n N), as the README runs a "
        "calculation beside a serving API; 0: not lowered (default %(default)s)",
    )
    parser.add_argument("--goal-p99", type=float, default=1000.0, help="ms; 0 = no goal")
    parser.add_argument("--quick", action="store_true", help="small and short: a smoke run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="server for the throwaway db")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients = min(args.clients, 20)
        args.duration = min(args.duration, 5.0)
        args.outage = min(args.outage, 1.0)
        args.days = min(args.days, 2)
        args.warmup = min(args.warmup, 0.5)
    args.phase_list = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phase_list) - {"idle", "calculation", "outage"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if "outage" in args.phase_list and args.duration < args.outage + 4:
        parser.error("--duration must leave 2 s before and after the outage")
    return args


def measure(
    name: str,
    base: str,
    server: psutil.Process,
    database_url: URL,
    data: DataSet,
    args: argparse.Namespace,
    headers: dict[str, str],
    during: Callable[[float], None] | None = None,
) -> tuple[Tally, dict[str, Any]]:
    processes = server_processes(server)
    backends = database_backends(database_url)
    me = psutil.Process()
    cpu_before, my_before, db_before = cpu_of(processes), cpu_of([me]), cpu_of(backends)
    started = time.perf_counter()
    tally = run_loop(
        run_load(
            base,
            data,
            clients=args.clients,
            duration=args.duration,
            max_requests=args.max_requests,
            headers=headers,
            seed=args.seed,
            during=during,
        )
    )
    elapsed = time.perf_counter() - started
    server_cpu = cpu_since(cpu_before, processes)
    generator_cpu = cpu_since(my_before, [me])
    database_cpu = cpu_since(db_before, backends)
    requests = max(1, sum(len(v) for v in tally.latencies.values()))
    extra = {
        "server_cpu_percent": 100 * server_cpu / elapsed,
        "generator_cpu_percent": 100 * generator_cpu / elapsed,
        "database_cpu_percent": 100 * database_cpu / elapsed,
        # Per request, what the load costs wherever it runs: comparable across runs even
        # when other work on the machine changes how much of the CPUs the server gets.
        "server_cpu_ms_per_request": 1000 * server_cpu / requests,
        "database_cpu_ms_per_request": 1000 * database_cpu / requests,
        "generator_cpu_ms_per_request": 1000 * generator_cpu / requests,
        "machine_load_average": os.getloadavg()[0],
    }
    return tally, summarise(name, tally, elapsed, extra)


def warm_up(base: str, data: DataSet, args: argparse.Namespace, headers: dict[str, str]) -> None:
    run_loop(
        run_load(
            base,
            data,
            clients=args.clients,
            duration=args.warmup,
            max_requests=args.max_requests,
            headers=headers,
            seed=args.seed + 10_000,
        )
    )


@dataclass(frozen=True)
class Target:
    """A running server under test, and the proxy in front of its database if any."""

    base: str
    server: psutil.Process
    headers: dict[str, str]
    proxy: FaultProxy | None


@contextmanager
def serve(
    db_url: URL, data: DataSet, args: argparse.Namespace, log: Path, *, proxied: bool
) -> Iterator[Target]:
    """uvicorn on ``db_url`` (through a fault proxy if ``proxied``), warmed up."""
    with ExitStack() as stack:
        proxy = stack.enter_context(fault_proxy(db_url)) if proxied else None
        url = proxy.url(db_url) if proxy is not None else db_url
        base, server = stack.enter_context(uvicorn_server(url, args, log))
        headers = auth_headers(args, base, data)
        warm_up(base, data, args, headers)
        yield Target(base, server, headers, proxy)


def run_phase(
    name: str, target: Target, db_url: URL, data: DataSet, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    base, server, headers = target.base, target.server, target.headers
    if name == "calculation":
        log = logs / "calculation.log"
        with calculation(db_url, data, log, args.calculation_nice) as codes:
            time.sleep(0.5)  # let it start before measuring
            _, summary = measure(name, base, server, db_url, data, args, headers)
        summary["calculation_command"] = shown(calculation_command(data, args.calculation_nice))
        summary["calculation_runs"] = len(codes)
        summary["calculation_exit_codes"] = sorted(set(codes))
        return summary
    if name != "outage":
        return measure(name, base, server, db_url, data, args, headers)[1]
    assert target.proxy is not None
    start_at = (args.duration - args.outage) / 2
    schedule = _OutageSchedule(target.proxy, start_at, start_at + args.outage)
    tally, summary = measure(name, base, server, db_url, data, args, headers, schedule)
    after = [t for t, status in tally.timeline if t >= schedule.restored_at and status == 200]
    summary["outage"] = {
        "stopped_at": schedule.stopped_at,
        "restored_at": schedule.restored_at,
        "first_ok_after_restore_s": (min(after) - schedule.restored_at) if after else None,
        "statuses_while_stopped": dict(
            Counter(
                str(status)
                for t, status in tally.timeline
                if schedule.stopped_at <= t < schedule.restored_at
            )
        ),
    }
    return summary


class _OutageSchedule:
    """Stops the proxy at ``stop_at`` seconds into the phase and restores it at
    ``restore_at``; records when it actually did."""

    def __init__(self, proxy: FaultProxy, stop_at: float, restore_at: float) -> None:
        self.proxy, self.stop_at, self.restore_at = proxy, stop_at, restore_at
        self.stopped_at = self.restored_at = float("inf")

    def __call__(self, elapsed: float) -> None:
        if elapsed >= self.stop_at and self.stopped_at == float("inf"):
            self.proxy.stop()
            self.stopped_at = elapsed
        elif elapsed >= self.restore_at and self.restored_at == float("inf"):
            self.proxy.restore()
            self.restored_at = elapsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Console()
    server = benchmark_server_url(args.database_url)
    logs = RESULTS_DIR / "api_load_logs"
    logs.mkdir(parents=True, exist_ok=True)
    phases: list[dict[str, Any]] = []
    with throwaway_database(server, "bench_api") as sync_url:
        db_url = with_driver(sync_url, ASYNC_DRIVER)
        with out.status(f"filling a throwaway database on {safe_url(server)}..."):
            command.upgrade(alembic_config(sync_url), "head")
            data = asyncio.run(fill(sync_url, args.days))
        out.print(
            f"data: {len(data.portfolio_ids)} portfolios, {len(data.position_ids)} positions, "
            f"{len(data.calc_dates)} calculated dates ({data.calc_dates[0]}..{data.calc_dates[-1]})"
        )
        if args.quick:
            # One server, through the proxy, for every phase: most of a smoke run's time
            # would go to starting a second one.
            with serve(db_url, data, args, logs / "uvicorn.log", proxied=True) as target:
                for name in args.phase_list:
                    with out.status(f"{name}: {args.clients} clients, {args.duration:.0f} s"):
                        phases.append(run_phase(name, target, db_url, data, args, logs))
        else:
            # Steady phases talk to the database directly (the proxy would take CPU).
            steady = [p for p in args.phase_list if p != "outage"]
            if steady:
                with serve(db_url, data, args, logs / "uvicorn.log", proxied=False) as target:
                    for name in steady:
                        with out.status(f"{name}: {args.clients} clients, {args.duration:.0f} s"):
                            phases.append(run_phase(name, target, db_url, data, args, logs))
            if "outage" in args.phase_list:
                log = logs / "uvicorn-outage.log"
                with (
                    out.status(f"outage: {args.outage:.0f} s database stop"),
                    serve(db_url, data, args, log, proxied=True) as target,
                ):
                    phases.append(run_phase("outage", target, db_url, data, args, logs))

    server_command_line = shown(
        [*server_command(args.app_dir), "--workers", str(args.workers), *args.uvicorn_arg]
    )
    title = (
        f"API under load: `{server_command_line}`, {args.clients} closed-loop clients, "
        f"{args.duration:.0f} s per phase, {os.cpu_count()} cores"
        + ("" if args.app_dir == BACKEND_DIR else f", serving {args.app_dir}")
    )
    print_report(out, title, phases)
    report = {
        "benchmark": "api_load",
        "run_at": datetime.now(UTC).isoformat(),
        "workers": args.workers,
        "clients": args.clients,
        "duration_s": args.duration,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "server_command": server_command_line,
        "uvicorn_args": args.uvicorn_arg,
        "app_dir": str(args.app_dir),
        "quick": args.quick,
        "goal_p99_ms": args.goal_p99,
        "phases": phases,
    }
    out.print(f"JSON: {write_report('api_load', report)}")

    failed = []
    for phase in phases:
        allowed_5xx = phase["phase"] == "outage"
        if phase["responses_500"] or (phase["responses_5xx"] and not allowed_5xx):
            failed.append(f"{phase['phase']}: {phase['statuses']}")
        if args.goal_p99 and phase["phase"] != "outage" and phase["p99_ms"] > args.goal_p99:
            failed.append(f"{phase['phase']}: p99 {phase['p99_ms']:.0f} ms > {args.goal_p99:.0f}")
    for line in failed:
        out.print(f"[bold red]goal missed[/] {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
