"""A portfolio's P&L in each stress scenario, on the date of its stored factor exposures.

Computed on request from stored rows (no table): the factor exposures of the latest date
with them on or before the one asked (app.factors.queries), the positions held then and
their exposures as GET /positions values them (app.portfolios.service), and, for a
historical replay, the total-return closes of the factors' ETFs and of the held series on
the window's first and last trading days (SPY's). Formulas: app.formulas.stress.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.factors import queries as factor_queries
from app.factors.definitions import Factor, default_factors
from app.formulas.exposure import equity_denominator
from app.formulas.stress import factor_pnl_fraction, position_model_pnl, revaluation_pnl
from app.models import DailyPrice, Position
from app.portfolios.repository import Owner, get_portfolio
from app.portfolios.service import ValuedPosition, holdings_of
from app.prices.repository import MARKET_INDEX, trading_days
from app.stress.scenarios import SCENARIOS_FILE, Scenario, ScenarioSet, load_scenarios


def scenario_set() -> ScenarioSet:
    """The scenarios served: the STRESS_SCENARIOS_FILE setting's, else the repository's."""
    return load_scenarios(get_settings().stress_scenarios_file or SCENARIOS_FILE)


@dataclass(frozen=True)
class Move:
    factor: str
    move: float | None
    null_reason: str | None = None


@dataclass(frozen=True)
class Revaluation:
    pnl: float
    """Sum of E_i R_i over the positions compared (those whose own prices cover the window
    and that have the loadings the scenario needs)."""
    model_pnl: float
    """The factor model's P&L of the same positions: the model's error is pnl - model_pnl."""
    coverage: float
    """Share of the gross exposure compared."""
    not_covered: list[tuple[str, str]] = field(default_factory=list)
    """(symbol, why) of the positions left out."""


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    moves: list[Move]
    pnl: float | None
    """Through the portfolio's factor exposures, in the portfolio's currency."""
    pnl_fraction: float | None
    """The same over the denominator (the equity, else the gross exposure)."""
    null_reason: str | None
    left_out: list[Move] = field(default_factory=list)
    """Moving factors that were not in the model on the date (their ETFs had no prices for
    the regressions' window), with the reason: the model prices the others."""
    window: tuple[date, date] | None = None
    """The trading days a historical replay measured (first, last)."""
    revaluation: Revaluation | None = None


@dataclass(frozen=True)
class StressReport:
    portfolio_id: uuid.UUID
    calculation_date: date
    currency: str
    denominator: float
    denominator_is_equity: bool
    scenario_version: int
    results: list[ScenarioResult]


@dataclass(frozen=True)
class _Window:
    first: date
    last: date
    returns: dict[str, float]
    """Total-return close on ``last`` / on ``first`` - 1, of the symbols priced on both."""


async def window_returns(
    session: AsyncSession, symbols: list[str], start: date, end: date
) -> _Window | None:
    """Each symbol's return over the market's trading days in [start, end] (None: SPY has
    no price in the window)."""
    days = await trading_days(session, start, end)
    if len(days) < 2:
        return None
    first, last = days[0], days[-1]
    rows = await session.execute(
        select(DailyPrice.symbol, DailyPrice.date, DailyPrice.adjusted_close).where(
            DailyPrice.symbol.in_(sorted({*symbols, MARKET_INDEX})),
            DailyPrice.date.in_([first, last]),
        )
    )
    closes: dict[str, dict[date, float]] = {}
    for symbol, day, close in rows:
        closes.setdefault(symbol, {})[day] = float(close)
    returns = {
        s: c[last] / c[first] - 1.0
        for s, c in closes.items()
        if first in c and last in c and c[first] > 0
    }
    return _Window(first, last, returns)


def _measured_moves(factors: list[Factor], window: _Window) -> list[Move]:
    out = []
    for factor in factors:
        missing = [s for s in factor.symbols if s not in window.returns]
        if missing:
            out.append(
                Move(
                    factor.code,
                    None,
                    f"no {' or '.join(missing)} prices on {window.first} and {window.last}",
                )
            )
            continue
        move = window.returns[factor.long] - (
            window.returns[factor.short] if factor.short is not None else 0.0
        )
        out.append(Move(factor.code, move))
    return out


async def portfolio_stress(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    on_or_before: date | None,
    scenarios: ScenarioSet | None = None,
) -> StressReport:
    """Every scenario's P&L for the portfolio (404s as GET /factors: not visible, or no
    factor exposures on or before the date)."""
    scenarios = scenarios or scenario_set()
    # The one ownership check of the request: the reads below are of this portfolio.
    portfolio = await get_portfolio(session, portfolio_id, owner=owner)
    found = await factor_queries.factor_exposures_of(session, portfolio, on_or_before=on_or_before)
    day = found.calculation_date
    # Valued as the engine and GET /positions value them (the traded close times the
    # shares held that day); a position the figures left out for want of a fresh price
    # takes no part (NaN).
    holdings = await holdings_of(session, portfolio, on_or_before=day)
    held = [v.position for v in holdings.positions]
    series = [p.underlying_symbol or p.symbol for p in held]
    exposures = np.array([_exposure(v) for v in holdings.positions], dtype=np.float64)
    gross = float(np.nansum(np.abs(exposures)))
    equity = equity_denominator(
        None if portfolio.equity_balance is None else float(portfolio.equity_balance)
    )
    by_equity = equity is not None
    denominator = gross if equity is None else equity

    factors = list(default_factors().factors)
    codes = [f.code for f in factors]
    portfolio_x = {r.factor: r for r in found.portfolio}
    x = np.array([_float(portfolio_x[c].exposure) if c in portfolio_x else np.nan for c in codes])
    reasons = {
        c: (portfolio_x[c].null_reason if c in portfolio_x else "not computed on this date")
        for c in codes
    }
    # A factor left out of the date's regressions (no coverage figure: its ETFs had too few
    # prices) is not in the model: its moves are left out, and said so.
    in_model = np.array([c in portfolio_x and portfolio_x[c].coverage is not None for c in codes])
    loadings = np.full((len(held), len(codes)), np.nan)
    row_of = {p.id: i for i, p in enumerate(held)}
    column_of = {c: j for j, c in enumerate(codes)}
    for r in found.positions:
        if r.position_id in row_of and r.factor in column_of:
            loadings[row_of[r.position_id], column_of[r.factor]] = _float(r.exposure)

    # What a replay's window is measured on: the factors' ETFs and the held series.
    symbols = sorted({*(s for f in factors for s in f.symbols), *series})
    results = []
    for scenario in scenarios.scenarios:
        window: _Window | None = None
        if scenario.kind == "hypothetical":
            given = dict(scenario.moves)
            moves = [Move(c, given.get(c, 0.0)) for c in codes]
        else:
            assert scenario.start is not None and scenario.end is not None
            window = await window_returns(session, symbols, scenario.start, scenario.end)
            if window is None:
                why = f"no {MARKET_INDEX} prices between {scenario.start} and {scenario.end}"
                results.append(
                    ScenarioResult(scenario, [Move(c, None, why) for c in codes], None, None, why)
                )
                continue
            moves = _measured_moves(factors, window)
        m = np.array([np.nan if mv.move is None else mv.move for mv in moves])
        moving = ~(m == 0)
        left_out = [
            Move(c, mv.move, f"not in the model on {day}: {reasons[c]}")
            for c, mv, out in zip(codes, moves, moving & ~in_model, strict=True)
            if out
        ]
        m_model = np.where(in_model, m, 0.0)
        fraction = factor_pnl_fraction(x, m_model) if denominator > 0 else float("nan")
        reason = None
        if not (moving & in_model).any():
            fraction = float("nan")
            reason = "; ".join(f"{mv.factor} {mv.null_reason}" for mv in left_out) or "no move"
        elif not np.isfinite(fraction):
            reason = _why_unknown(moves, x, reasons, codes, denominator, in_model)
        revaluation = None
        if window is not None:
            revaluation = _revalue(held, series, exposures, loadings, m_model, window, gross)
        results.append(
            ScenarioResult(
                scenario,
                moves,
                fraction * denominator if np.isfinite(fraction) else None,
                fraction if np.isfinite(fraction) else None,
                reason,
                left_out,
                (window.first, window.last) if window else None,
                revaluation,
            )
        )
    return StressReport(
        portfolio_id, day, portfolio.currency, denominator, by_equity, scenarios.version, results
    )


def _exposure(valued: ValuedPosition) -> float:
    if valued.market_value is None or valued.excluded is not None:
        return float("nan")
    return float(valued.market_value)


def _float(value: object) -> float:
    return float("nan") if value is None else float(value)  # type: ignore[arg-type]


def _why_unknown(
    moves: list[Move],
    x: np.ndarray,
    reasons: dict[str, str | None],
    codes: list[str],
    denominator: float,
    in_model: np.ndarray,
) -> str:
    if denominator <= 0:
        return "no priced position and no equity"
    for move, code, exposure, modelled in zip(moves, codes, x, in_model, strict=True):
        if not modelled:
            continue
        if move.move is None:
            return f"{code} move unknown: {move.null_reason}"
        if move.move != 0 and not np.isfinite(exposure):
            return f"no {code} exposure: {reasons[code]}"
    return "not computable"


def _revalue(
    held: list[Position],
    series: list[str],
    exposures: np.ndarray,
    loadings: np.ndarray,
    moves: np.ndarray,
    window: _Window,
    gross: float,
) -> Revaluation:
    own = np.array([window.returns.get(s, np.nan) for s in series])
    revalued = revaluation_pnl(exposures, own)
    modelled = position_model_pnl(exposures, loadings, moves)
    compared = np.isfinite(revalued) & np.isfinite(modelled)
    not_covered = []
    for i, p in enumerate(held):
        if compared[i]:
            continue
        if not np.isfinite(exposures[i]):
            why = f"no {series[i]} price on the calculation date"
        elif not np.isfinite(own[i]):
            why = f"no {series[i]} prices on {window.first} and {window.last}"
        else:
            why = "a loading the scenario needs was not estimated"
        not_covered.append((p.symbol, why))
    covered = float(np.abs(exposures[compared]).sum())
    return Revaluation(
        pnl=float(revalued[compared].sum()),
        model_pnl=float(modelled[compared].sum()),
        coverage=covered / gross if gross > 0 else 0.0,
        not_covered=not_covered,
    )
