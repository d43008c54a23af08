"""Out-of-sample quality of the stored 21-day volatility forecast, on real index closes.

Runs the project's own pipeline end to end in a throwaway database, once per series:
real daily closes (the S&P 500 and NASDAQ Composite data shipped with the ``arch``
package, 1999-2018) are written to a prices CSV and a profiles CSV; then, as
subprocesses with DATABASE_URL pointing at the throwaway database, ``alembic upgrade
head`` and ``scripts/load_prices.py --csv ... --profiles-csv ...``; one portfolio with
one long position is inserted; ``scripts/calculate_risk_metrics.py --from D1 --to D2``
fills ``position_volatility``. The S&P 500 is always loaded as SPY (the market and its
trading-day calendar); the position holds SPY itself (``sp500``) or IXIC, the NASDAQ
Composite's closes (``nasdaq``).

Each stored date's forecast is scored against what followed: the realized vol of the
NEXT 21 trading days, sqrt(252 x mean r^2). Forecasts compared on the same dates:
- the stored ``expected_vol_21d`` (the engine's HAR-RV);
- the random walk: the stored ``realized_vol_21d`` used as the forecast;
- references computed here: the previous model (HAR on variance levels over 504 days,
  a non-positive forecast counted as invalid: it was stored as 0), and the vol-scale
  HAR on 504 days and on all history up to the date.
Scores: RMSE of annualised vol, and QLIKE on variances, mean(s2/f2 - ln(s2/f2) - 1)
(Patton 2011). Dates on which any forecast is missing or not positive are left out of
every score (so all are scored on the same dates) and counted per forecast.

Goal on the S&P 500 over 2001-01-02..2018-11-28: QLIKE <= 0.30 and RMSE <= 0.069, both
better than the random walk, and no NULL forecast on a date with 2 years of history. The
script exits 1 when a full run misses it.

Usage (from the repository root)::

    uv run python backend/perf/forecast_quality.py                    # both series, ~10 min
    uv run python backend/perf/forecast_quality.py --series sp500 --from 2008-01-02 --to 2009-12-31
    uv run python backend/perf/forecast_quality.py --quick            # one year, S&P 500

``--database-url URL`` names a server where it creates and drops its own ``forecast_*``
databases; without it ``TEST_DATABASE_URL``, else an embedded PostgreSQL (the
benchmarks' throwaway-database helper). It never uses DATABASE_URL. Prints a table and
writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import arch.data.nasdaq
import arch.data.sp500
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import URL

from app.core.cli import iso_date
from app.core.redaction import safe_url
from app.formulas.har import HAR_HISTORY_DAYS, har_forecast_all_dates
from app.formulas.returns import FloatArray
from app.models import Portfolio, Position
from devtools.databases import benchmark_server_url, throwaway_database
from devtools.processes import run_python
from perf import write_report

MARKET = "SPY"
HORIZON = 21
TWO_YEARS = 504
"""Trading days of history from which a NULL forecast counts against the goal."""
FULL_SPAN = (date(2001, 1, 2), date(2018, 11, 28))
QUICK_SPAN = (date(2008, 1, 2), date(2008, 12, 31))
GOAL_QLIKE = 0.30
GOAL_RMSE = 0.069


@dataclass(frozen=True)
class Series:
    name: str
    symbol: str
    """The position's symbol; its closes are the series'."""
    label: str

    def closes(self) -> pd.Series:
        loader = arch.data.sp500 if self.name == "sp500" else arch.data.nasdaq
        adjusted: pd.Series = loader.load()["Adj Close"]
        return adjusted


SERIES = {
    "sp500": Series("sp500", MARKET, "S&P 500 (position in SPY)"),
    "nasdaq": Series("nasdaq", "IXIC", "NASDAQ Composite (position in IXIC)"),
}


@dataclass
class Score:
    forecast: str
    rmse: float
    qlike: float
    invalid: int
    """Dates with a realized target on which this forecast is missing or not positive."""


@dataclass
class SeriesReport:
    series: str
    label: str
    start: str
    end: str
    calc_dates: int
    scored_dates: int
    scored_from: str
    scored_to: str
    null_forecasts: int
    null_forecasts_with_two_years: int
    filtered_forecasts: int
    max_abs_stored_minus_batched: float
    seconds: dict[str, float]
    scores: list[Score] = field(default_factory=list)
    stored_on_every_target_date: dict[str, float] = field(default_factory=dict)
    """The stored forecast alone, on every date with a target (not only the common ones)."""
    goal: dict[str, Any] | None = None


def _sql_url(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _run(args: Sequence[str], env: dict[str, str], out: Console, step: str) -> float:
    """``python <args>`` from backend/ as a user runs it; stops the benchmark on failure."""
    started = time.perf_counter()
    done = run_python(args, env, timeout=3600)
    if done.returncode != 0:
        out.print(f"[red]{step} failed (exit {done.returncode}):[/]\n{done.stdout}\n{done.stderr}")
        raise SystemExit(1)
    return time.perf_counter() - started


def _write_inputs(
    folder: Path, market: pd.Series, held: Series, held_closes: pd.Series
) -> tuple[Path, Path]:
    prices, profiles = folder / "prices.csv", folder / "profiles.csv"
    with prices.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["symbol", "date", "close"])
        for symbol, closes in {MARKET: market, held.symbol: held_closes}.items():
            for day, close in closes.items():
                writer.writerow([symbol, day.date().isoformat(), f"{close:.6f}"])
    with profiles.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["symbol", "sector", "is_etf", "name"])
        writer.writerow([MARKET, "", "true", "S&P 500 (index closes)"])
        if held.symbol != MARKET:
            writer.writerow([held.symbol, "", "true", held.label])
    return prices, profiles


def _add_portfolio(url: URL, symbol: str, first_day: date, entry_price: float) -> uuid.UUID:
    """One portfolio with one long position in ``symbol``, held from ``first_day``."""
    engine = create_engine(url)
    position_id = uuid.uuid4()
    try:
        with engine.begin() as conn:
            portfolio_id = uuid.uuid4()
            conn.execute(insert(Portfolio).values(id=portfolio_id, name="Forecast quality"))
            conn.execute(
                insert(Position).values(
                    id=position_id,
                    portfolio_id=portfolio_id,
                    symbol=symbol,
                    position_type="LONG",
                    quantity=100,
                    entry_price=round(entry_price, 4),
                    entry_date=first_day,
                )
            )
    finally:
        engine.dispose()
    return position_id


def _stored(url: URL, position_id: uuid.UUID, start: date, end: date) -> pd.DataFrame:
    """SPY's trading days in [start, end] with the stored vols (NaN for NULL or no row)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            days = conn.execute(
                text(
                    "SELECT date FROM daily_prices WHERE symbol = :m AND date BETWEEN :a AND :b"
                    " ORDER BY date"
                ),
                {"m": MARKET, "a": start, "b": end},
            ).scalars()
            frame = pd.DataFrame(index=pd.DatetimeIndex(pd.to_datetime(list(days)), name="date"))
            rows = conn.execute(
                text(
                    "SELECT calculation_date, realized_vol_21d, expected_vol_21d"
                    " FROM position_volatility WHERE position_id = :p ORDER BY calculation_date"
                ),
                {"p": position_id},
            ).all()
    finally:
        engine.dispose()
    stored = pd.DataFrame(
        [(pd.Timestamp(d), _float(rv), _float(ev)) for d, rv, ev in rows],
        columns=["date", "realized_vol_21d", "expected_vol_21d"],
    ).set_index("date")
    return frame.join(stored)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def variance_har_504(returns: FloatArray, rows: Sequence[int]) -> FloatArray:
    """The previous model, written out here: OLS of the next 21 days' mean r^2 on r^2 and
    its 5- and 21-day means, on variance levels, over the 504 returns ending at each row;
    annualised sqrt of the forecast, NaN where the forecast is not positive."""
    rv = returns**2
    cum = np.concatenate([[0.0], np.cumsum(rv)])

    def mean_back(window: int) -> FloatArray:
        out = np.full(rv.size, np.nan)
        out[window - 1 :] = (cum[window:] - cum[:-window]) / window
        return out

    x = np.column_stack([np.ones(rv.size), rv, mean_back(5), mean_back(21)])
    y = np.full(rv.size, np.nan)
    y[:-HORIZON] = mean_back(HORIZON)[HORIZON:]
    out = np.full(len(rows), np.nan)
    for k, t in enumerate(rows):
        first = max(0, t + 1 - TWO_YEARS) + 20
        sample = slice(first, t - HORIZON + 1)
        if t - HORIZON + 1 - first < 63:
            continue
        coef = np.linalg.lstsq(x[sample], y[sample], rcond=None)[0]
        forecast = float(x[t] @ coef)
        out[k] = math.sqrt(252 * forecast) if forecast > 0 else math.nan
    return out


def _scores(target: FloatArray, forecasts: dict[str, FloatArray]) -> tuple[list[Score], Any]:
    has_target = np.isfinite(target)
    valid = {k: np.isfinite(f) & (f > 0) for k, f in forecasts.items()}
    common = has_target.copy()
    for ok in valid.values():
        common &= ok
    s2 = target[common] ** 2
    scores = []
    for name, f in forecasts.items():
        f2 = f[common] ** 2
        ratio = s2 / f2
        scores.append(
            Score(
                forecast=name,
                rmse=float(np.sqrt(np.mean((target[common] - f[common]) ** 2))),
                qlike=float(np.mean(ratio - np.log(ratio) - 1)),
                invalid=int((has_target & ~valid[name]).sum()),
            )
        )
    return scores, common


def measure(series: Series, server: URL, start: date, end: date, out: Console) -> SeriesReport:
    market = SERIES["sp500"].closes().round(6)
    held = series.closes().round(6).reindex(market.index)
    seconds: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        throwaway_database(server, "forecast") as url,
    ):
        prices, profiles = _write_inputs(Path(tmp), market, series, held.dropna())
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["DATABASE_URL"] = _sql_url(url)
        with out.status(f"{series.name}: alembic upgrade head, load_prices.py..."):
            seconds["alembic_upgrade"] = _run(
                ["-m", "alembic", "upgrade", "head"], env, out, "alembic"
            )
            seconds["load_prices"] = _run(
                ["scripts/load_prices.py", "--csv", str(prices), "--profiles-csv", str(profiles)],
                env,
                out,
                "load_prices.py",
            )
        first_day = held.dropna().index[0].date()
        position_id = _add_portfolio(url, series.symbol, first_day, float(held.dropna().iloc[0]))
        with out.status(f"{series.name}: calculate_risk_metrics.py --from {start} --to {end}..."):
            seconds["calculate_risk_metrics"] = _run(
                [
                    "scripts/calculate_risk_metrics.py",
                    "--from",
                    start.isoformat(),
                    "--to",
                    end.isoformat(),
                ],
                env,
                out,
                "calculate_risk_metrics.py",
            )
        stored = _stored(url, position_id, start, end)

    # Returns on SPY's calendar, as the engine computes them (a gap gives no return).
    closes = held.to_numpy()
    returns = closes[1:] / closes[:-1] - 1.0
    return_row = {day: k for k, day in enumerate(held.index[1:])}
    rows = [return_row[d] for d in stored.index]
    rv = returns**2
    future = np.full(len(rows), np.nan)
    for k, t in enumerate(rows):
        if t + HORIZON < len(returns):
            future[k] = math.sqrt(252 * rv[t + 1 : t + 1 + HORIZON].mean())

    first = rows[0]
    engine_model = har_forecast_all_dates(returns, first, history=HAR_HISTORY_DAYS)
    vol_504 = har_forecast_all_dates(returns, first, history=TWO_YEARS)
    vol_all = har_forecast_all_dates(returns, first)
    at = np.asarray(rows) - first
    forecasts = {
        "stored expected_vol_21d (HAR on vol, <= 10 y)": stored["expected_vol_21d"].to_numpy(),
        "random walk (stored realized_vol_21d)": stored["realized_vol_21d"].to_numpy(),
        "previous model: HAR on variance, 504 d": variance_har_504(returns, rows),
        "HAR on vol, 504 d": vol_504.expected_vol[at, 0],
        "HAR on vol, all history": vol_all.expected_vol[at, 0],
    }
    scores, common = _scores(future, forecasts)
    stored_forecast = forecasts["stored expected_vol_21d (HAR on vol, <= 10 y)"]
    alone, alone_dates = _scores(future, {"stored": stored_forecast})
    batched = engine_model.expected_vol[at, 0]
    both = np.isfinite(stored_forecast) & np.isfinite(batched)
    null = ~np.isfinite(stored_forecast)
    scored_days = stored.index[common]
    return SeriesReport(
        series=series.name,
        label=series.label,
        start=start.isoformat(),
        end=end.isoformat(),
        calc_dates=len(rows),
        scored_dates=int(common.sum()),
        scored_from=scored_days[0].date().isoformat() if len(scored_days) else "-",
        scored_to=scored_days[-1].date().isoformat() if len(scored_days) else "-",
        null_forecasts=int(null.sum()),
        null_forecasts_with_two_years=int((null & (np.asarray(rows) + 1 >= TWO_YEARS)).sum()),
        filtered_forecasts=int(engine_model.filtered[at, 0].sum()),
        max_abs_stored_minus_batched=float(np.abs(stored_forecast - batched)[both].max()),
        seconds=seconds,
        scores=scores,
        stored_on_every_target_date={
            "dates": int(alone_dates.sum()),
            "rmse": alone[0].rmse,
            "qlike": alone[0].qlike,
        },
    )


def _goal(report: SeriesReport) -> dict[str, Any]:
    stored, walk = report.scores[0], report.scores[1]
    alone = report.stored_on_every_target_date
    # The thresholds hold on the common dates and on every date with a target alike.
    checks = {
        f"QLIKE <= {GOAL_QLIKE}": max(stored.qlike, alone["qlike"]) <= GOAL_QLIKE,
        f"RMSE <= {GOAL_RMSE}": max(stored.rmse, alone["rmse"]) <= GOAL_RMSE,
        "QLIKE better than the random walk": stored.qlike < walk.qlike,
        "RMSE better than the random walk": stored.rmse < walk.rmse,
        "no NULL forecast with 2 years of history": report.null_forecasts_with_two_years == 0,
    }
    return {"checks": checks, "met": all(checks.values())}


def _table(report: SeriesReport) -> Table:
    table = Table(
        title=f"{report.label}: {report.scored_dates:,} dates scored, "
        f"{report.scored_from}..{report.scored_to} (calc dates {report.start}..{report.end})",
        title_justify="left",
    )
    table.add_column("Forecast of the next 21 days' vol")
    table.add_column("RMSE (ann. vol)", justify="right")
    table.add_column("QLIKE", justify="right")
    table.add_column("Not scored (missing / <= 0)", justify="right")
    for s in report.scores:
        table.add_row(s.forecast, f"{s.rmse:.4f}", f"{s.qlike:.3f}", str(s.invalid))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", choices=["sp500", "nasdaq", "all"], default=None)
    parser.add_argument("--from", dest="start", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_SPAN[0].year}, S&P 500 only"
    )
    parser.add_argument("--database-url", default=None, help="server for the throwaway dbs")
    args = parser.parse_args(argv)
    span = QUICK_SPAN if args.quick else FULL_SPAN
    start, end = args.start or span[0], args.end or span[1]
    if start > end:
        parser.error(f"--from {start} is after --to {end}")
    chosen = args.series or ("sp500" if args.quick else "all")
    names = ["sp500", "nasdaq"] if chosen == "all" else [chosen]
    out = Console() if Console().is_terminal else Console(width=140)

    server = benchmark_server_url(args.database_url)
    out.print(f"Throwaway databases on {safe_url(server)}")
    reports = []
    for name in names:
        report = measure(SERIES[name], server, start, end, out)
        if name == "sp500" and (start, end) == FULL_SPAN:
            report.goal = _goal(report)
        reports.append(report)
        out.print(_table(report))
        out.print(
            f"NULL forecasts: {report.null_forecasts} "
            f"({report.null_forecasts_with_two_years} on dates with 2 years of history); "
            f"insanity filter applied on {report.filtered_forecasts} dates; "
            "stored vs recomputed in one pass: max |diff| "
            f"{report.max_abs_stored_minus_batched:.1e}; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
        )
        alone = report.stored_on_every_target_date
        out.print(
            f"Stored forecast on every date with a target ({alone['dates']:,.0f}): "
            f"RMSE {alone['rmse']:.4f}, QLIKE {alone['qlike']:.3f}"
        )
        if report.goal is not None:
            for check, ok in report.goal["checks"].items():
                out.print(f"  {'met' if ok else '[red]NOT met[/]'}: {check}")
        out.print()

    payload = {
        "benchmark": "forecast_quality",
        "run_at": datetime.now(UTC).isoformat(),
        "horizon_days": HORIZON,
        "har_history_days": HAR_HISTORY_DAYS,
        "series": [asdict(r) for r in reports],
    }
    out.print(f"JSON: {write_report('forecast_quality', payload)}")
    missed = [r.series for r in reports if r.goal is not None and not r.goal["met"]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
