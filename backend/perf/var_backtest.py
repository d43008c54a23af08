"""Backtest of the one-day VaR and expected shortfall on real index returns: the engine's
model against plain historical simulation, every trading day of a span.

Series: the S&P 500 (``sp500``) and NASDAQ Composite (``nasdaq``) daily closes shipped
with the ``arch`` package (1999-2018, never downloaded); returns r_t = p_t / p_{t-1} - 1.
For each trading day t of the span, the forecasts are those of the day before's close:
- ours: ``app.formulas.tail_risk.tail_risk_at`` on the returns up to t - 1, exactly as
  the engine computes a calculation date (``var_95_1d``, ``var_99_1d``,
  ``expected_shortfall_975_1d``, and ``var_975_1d`` for the ES test);
- plain historical simulation (HS 252 d), the naive anchor: the empirical quantiles of
  the last 252 losses (linear interpolation, numpy's default), and as ES the mean of
  those at or beyond the 97.5 % quantile.
``forecasts_from_formulas`` is the one place that yields our series per date; a run on
the engine's stored figures swaps it for a reader of the same shape.

Scores (perf/backtesting.py): exception rate, Kupiec's POF and Christoffersen's
independence p-values, Basel traffic-light windows (250 days) in the red and in the
yellow-or-red zones, and Acerbi & Szekely's Z2 for the ES.

Goal (every full 2001-2018 run): at 99 %, an exception rate within 0.7-1.4 %, Kupiec
and Christoffersen p >= 0.05, no red window and fewer yellow-or-red windows than HS; at
95 %, a rate within 3.5-6.5 %. The script exits 1 when a full run misses it.

Usage (from the repository root)::

    uv run python backend/perf/var_backtest.py                   # S&P 500, 2001-2018
    uv run python backend/perf/var_backtest.py --series nasdaq
    uv run python backend/perf/var_backtest.py --series all --sensitivity
    uv run python backend/perf/var_backtest.py --quick           # 2008 only, no goal

``--sensitivity`` adds our 99 % figures with other EWMA decays. Prints tables and writes
JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import arch.data.nasdaq
import arch.data.sp500
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from app.core.cli import iso_date
from app.formulas.returns import FloatArray, simple_returns
from app.formulas.tail_risk import EWMA_LAMBDA, VAR_METHOD, tail_risk_at
from app.formulas.windows import IntArray
from perf import write_report
from perf.backtesting import (
    BASEL_WINDOW,
    Z2_CRITICAL_001PCT,
    Z2_CRITICAL_5PCT,
    acerbi_szekely_z2,
    christoffersen_independence,
    exceptions,
    kupiec_pof,
    traffic_light,
    zone_bounds,
)

FULL_SPAN = (date(2001, 1, 2), date(2018, 12, 31))
QUICK_SPAN = (date(2008, 1, 2), date(2008, 12, 31))
HS_WINDOW = 252
HS_LABEL = f"HS {HS_WINDOW} d"
SENSITIVITY_LAMBDAS = (0.86, 0.88, 0.90, 0.92, 0.94)
GOAL_RATE_99 = (0.007, 0.014)
GOAL_RATE_95 = (0.035, 0.065)
GOAL_P = 0.05
SERIES_LABELS = {"sp500": "S&P 500", "nasdaq": "NASDAQ Composite"}


@dataclass(frozen=True)
class Forecasts:
    """One model's forecasts for each backtest day (made the trading day before)."""

    model: str
    var_95: FloatArray
    var_99: FloatArray
    var_975: FloatArray
    es_975: FloatArray


@dataclass
class Score:
    figure: str
    model: str
    exceptions: int
    rate: float
    kupiec_p: float | None = None
    christoffersen_p: float | None = None
    red_windows: int | None = None
    yellow_or_red_windows: int | None = None
    z2: float | None = None


@dataclass
class SeriesReport:
    series: str
    start: str
    end: str
    days: int
    compute_seconds: float
    scores: list[Score] = field(default_factory=list)
    sensitivity: list[Score] = field(default_factory=list)
    goal: dict[str, Any] | None = None


def load_returns(series: str) -> pd.Series:
    """Daily simple returns of the series' adjusted closes, by date."""
    loader = arch.data.sp500 if series == "sp500" else arch.data.nasdaq
    closes: pd.Series = loader.load()["Adj Close"]
    returns = simple_returns(closes.to_numpy())[:, 0]
    return pd.Series(returns, index=closes.index[1:])


def forecasts_from_formulas(
    returns: FloatArray, rows: IntArray, ewma_lambda: float = EWMA_LAMBDA
) -> Forecasts:
    """Our forecasts for the return rows ``rows``, each from the returns before it."""
    result = tail_risk_at(returns, np.asarray(rows) - 1, ewma_lambda=ewma_lambda)
    return Forecasts(
        model=result.var_method,
        var_95=result.var_95_1d,
        var_99=result.var_99_1d,
        var_975=result.var_975_1d,
        es_975=result.expected_shortfall_975_1d,
    )


def historical_simulation(returns: FloatArray, rows: IntArray) -> Forecasts:
    """Plain HS over the HS_WINDOW losses before each row."""
    t = np.asarray(rows)
    if t.min() < HS_WINDOW:
        raise ValueError(f"historical simulation needs {HS_WINDOW} returns before the span")
    windows = -np.stack([returns[k - HS_WINDOW : k] for k in t])
    var_95, var_975, var_99 = np.quantile(windows, [0.95, 0.975, 0.99], axis=1)
    tail = windows >= var_975[:, None]
    es_975 = (windows * tail).sum(axis=1) / tail.sum(axis=1)
    return Forecasts(HS_LABEL, var_95, var_99, var_975, es_975)


def var_score(figure: str, model: str, losses: FloatArray, var: FloatArray, p: float) -> Score:
    hits = exceptions(losses, var)
    zones = traffic_light(hits, p)
    return Score(
        figure=figure,
        model=model,
        exceptions=int(hits.sum()),
        rate=float(hits.mean()),
        kupiec_p=kupiec_pof(hits, p)[1],
        christoffersen_p=christoffersen_independence(hits)[1],
        red_windows=zones.red_windows,
        yellow_or_red_windows=zones.yellow_or_red_windows,
    )


def es_score(model: str, losses: FloatArray, f: Forecasts) -> Score:
    hits = exceptions(losses, f.var_975)
    return Score(
        figure="ES 97.5 %",
        model=model,
        exceptions=int(hits.sum()),
        rate=float(hits.mean()),
        z2=acerbi_szekely_z2(losses, f.var_975, f.es_975),
    )


def scores(losses: FloatArray, f: Forecasts) -> list[Score]:
    return [
        var_score("VaR 95 %", f.model, losses, f.var_95, 0.05),
        var_score("VaR 99 %", f.model, losses, f.var_99, 0.01),
        es_score(f.model, losses, f),
    ]


def measure(series: str, start: date, end: date, *, sensitivity: bool) -> SeriesReport:
    returns = load_returns(series)
    days = returns.index
    rows = np.flatnonzero((days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end)))
    if rows.size == 0:
        raise SystemExit(f"no trading day of {series} in {start}..{end}")
    r = returns.to_numpy()
    losses = -r[rows]
    started = time.perf_counter()
    ours = forecasts_from_formulas(r, rows)
    seconds = time.perf_counter() - started
    hs = historical_simulation(r, rows)
    report = SeriesReport(
        series=series,
        start=days[rows[0]].date().isoformat(),
        end=days[rows[-1]].date().isoformat(),
        days=int(rows.size),
        compute_seconds=seconds,
    )
    for ours_score, hs_score in zip(scores(losses, ours), scores(losses, hs), strict=True):
        report.scores += [ours_score, hs_score]
    if sensitivity:
        for lam in SENSITIVITY_LAMBDAS:
            f = forecasts_from_formulas(r, rows, lam)
            report.sensitivity += [var_score("VaR 99 %", f.model, losses, f.var_99, 0.01)]
            report.sensitivity += [es_score(f.model, losses, f)]
    return report


def goal(report: SeriesReport) -> dict[str, Any]:
    by = {(s.figure, s.model): s for s in report.scores}
    ours99, hs99 = by[("VaR 99 %", VAR_METHOD)], by[("VaR 99 %", HS_LABEL)]
    ours95 = by[("VaR 95 %", VAR_METHOD)]
    lo99, hi99 = GOAL_RATE_99
    lo95, hi95 = GOAL_RATE_95
    checks = {
        f"99 % exception rate within {lo99:.1%}..{hi99:.1%}": lo99 <= ours99.rate <= hi99,
        f"99 % Kupiec p >= {GOAL_P}": (ours99.kupiec_p or 0.0) >= GOAL_P,
        f"99 % Christoffersen p >= {GOAL_P}": (ours99.christoffersen_p or 0.0) >= GOAL_P,
        "no red-zone window": ours99.red_windows == 0,
        f"fewer yellow-or-red windows than {HS_LABEL}": (ours99.yellow_or_red_windows or 0)
        < (hs99.yellow_or_red_windows or 0),
        f"95 % exception rate within {lo95:.1%}..{hi95:.1%}": lo95 <= ours95.rate <= hi95,
    }
    return {"checks": checks, "met": all(checks.values())}


def _cell(value: float | int | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(title: str, rows: list[Score]) -> Table:
    t = Table(title=title, title_justify="left")
    for name in ("Figure", "Model", "Exceptions", "Rate", "Kupiec p", "Christoffersen p"):
        t.add_column(name, justify="left" if name in ("Figure", "Model") else "right")
    for name in ("Red windows", "Yellow or red", "ES Z2"):
        t.add_column(name, justify="right")
    for s in rows:
        t.add_row(
            s.figure,
            s.model,
            f"{s.exceptions:,}",
            f"{s.rate:.2%}",
            _cell(s.kupiec_p, ".3f"),
            _cell(s.christoffersen_p, ".3f"),
            _cell(s.red_windows, ","),
            _cell(s.yellow_or_red_windows, ","),
            _cell(s.z2, ".3f"),
        )
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", choices=["sp500", "nasdaq", "all"], default="sp500")
    parser.add_argument("--from", dest="start", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2008 only, no goal")
    parser.add_argument(
        "--sensitivity", action="store_true", help="also our 99 %% VaR and ES at other decays"
    )
    args = parser.parse_args(argv)
    span = QUICK_SPAN if args.quick else FULL_SPAN
    start, end = args.start or span[0], args.end or span[1]
    if start > end:
        parser.error(f"--from {start} is after --to {end}")
    names = ["sp500", "nasdaq"] if args.series == "all" else [args.series]
    out = Console() if Console().is_terminal else Console(width=140)

    reports = []
    for name in names:
        report = measure(name, start, end, sensitivity=args.sensitivity)
        if (start, end) == FULL_SPAN:
            report.goal = goal(report)
        reports.append(report)
        out.print(
            table(
                f"{SERIES_LABELS[name]}: one-day VaR and ES, {report.days:,} days "
                f"{report.start}..{report.end}",
                report.scores,
            )
        )
        (yellow99, red99), (yellow95, red95) = zone_bounds(0.01), zone_bounds(0.05)
        out.print(
            f"Windows: every {BASEL_WINDOW} consecutive days; red from {red99} exceptions at "
            f"99 % (Basel), from {red95} at 95 % (the same binomial rule), yellow from "
            f"{yellow99} and {yellow95}. ES rows: exceptions of the 97.5 % VaR; Z2 critical "
            "values "
            f"{Z2_CRITICAL_5PCT} (5 %), {Z2_CRITICAL_001PCT} (0.01 %). "
            f"Our forecasts computed in {report.compute_seconds:.2f} s."
        )
        if report.sensitivity:
            out.print(table(f"{SERIES_LABELS[name]}: EWMA decay sensitivity", report.sensitivity))
        if report.goal is not None:
            for check, ok in report.goal["checks"].items():
                out.print(f"  {'met' if ok else '[red]NOT met[/]'}: {check}")
        out.print()

    payload = {
        "benchmark": "var_backtest",
        "run_at": datetime.now(UTC).isoformat(),
        "var_method": VAR_METHOD,
        "series": [asdict(r) for r in reports],
    }
    out.print(f"JSON: {write_report('var_backtest', payload)}")
    missed = [r.series for r in reports if r.goal is not None and not r.goal["met"]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
