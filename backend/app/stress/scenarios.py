"""Stress scenarios: read from the repository's file (scenarios.toml beside this module)
or the user's own (the STRESS_SCENARIOS_FILE setting, which replaces it), checked against
the factors of app/factors/factors.toml. A file that cannot be used stops with one line
naming the file, the scenario and the field."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from app.core.errors import FileDataError
from app.core.input_files import read_text, versioned_tables
from app.factors.definitions import FactorSet, default_factors

SCENARIOS_FILE = Path(__file__).with_name("scenarios.toml")
KINDS = ("historical", "hypothetical")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_FIELDS = {
    "historical": {"code", "name", "kind", "start", "end"},
    "hypothetical": {"code", "name", "kind", "moves"},
}


class ScenarioFileError(FileDataError):
    """The scenario file the API serves cannot be used: the server's file, not the
    caller's request (500, the one line naming scenario and field)."""

    http_status = 500


@dataclass(frozen=True)
class Scenario:
    code: str
    name: str
    kind: str
    start: date | None = None
    end: date | None = None
    """The window of a historical replay (None for a hypothetical one)."""
    moves: tuple[tuple[str, float], ...] = ()
    """(factor code, move) of a hypothetical scenario, in the file's order."""


@dataclass(frozen=True)
class ScenarioSet:
    version: int
    scenarios: tuple[Scenario, ...]
    path: Path


def parse_scenarios(
    text: str, path: Path | str = SCENARIOS_FILE, factor_set: FactorSet | None = None
) -> ScenarioSet:
    """The scenarios of a file's ``text``; ScenarioFileError naming the scenario and field
    of the first problem."""
    codes = (factor_set or default_factors()).codes
    version, entries = versioned_tables(text, path, "scenario", ScenarioFileError)
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        scenario = _scenario(entry, number, path, codes)
        if scenario.code in seen:
            raise ScenarioFileError(path, "used twice", field=f"scenario {scenario.code}.code")
        seen.add(scenario.code)
        scenarios.append(scenario)
    return ScenarioSet(version, tuple(scenarios), Path(path))


def _scenario(entry: Any, number: int, path: Path | str, factor_codes: tuple[str, ...]) -> Scenario:
    label = f"scenario #{number}"
    if not isinstance(entry, dict):
        raise ScenarioFileError(path, "must be a table", field=label)
    code = entry.get("code")
    if not (isinstance(code, str) and _CODE.fullmatch(code)):
        raise ScenarioFileError(
            path, "must be A-Z, 0-9 or _, starting with a letter, at most 32", field=f"{label}.code"
        )
    label = f"scenario {code}"
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise ScenarioFileError(path, "must be text of 1 to 80 characters", field=f"{label}.name")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ScenarioFileError(path, f"must be one of {', '.join(KINDS)}", field=f"{label}.kind")
    unknown = sorted(set(entry) - _FIELDS[kind])
    if unknown:
        expected = ", ".join(sorted(_FIELDS[kind]))
        raise ScenarioFileError(
            path,
            f"not a field of a {kind} scenario (expected {expected})",
            field=f"{label}.{unknown[0]}",
        )
    if kind == "historical":
        start, end = entry.get("start"), entry.get("end")
        for field, value in (("start", start), ("end", end)):
            if not isinstance(value, date) or hasattr(value, "hour"):
                raise ScenarioFileError(
                    path, "must be a date (YYYY-MM-DD)", field=f"{label}.{field}"
                )
        if start >= end:  # type: ignore[operator]
            raise ScenarioFileError(path, f"must be after start ({start})", field=f"{label}.end")
        return Scenario(code, name.strip(), kind, start=start, end=end)
    moves = entry.get("moves")
    if not isinstance(moves, dict) or not moves:
        raise ScenarioFileError(
            path, "must name at least one factor's move", field=f"{label}.moves"
        )
    parsed = []
    for factor, move in moves.items():
        where = f"{label}.moves.{factor}"
        if factor not in factor_codes:
            raise ScenarioFileError(
                path, f"not a factor of the factor file ({', '.join(factor_codes)})", field=where
            )
        if not isinstance(move, int | float) or isinstance(move, bool) or not math.isfinite(move):
            raise ScenarioFileError(path, "must be a number (-0.10 = -10 %)", field=where)
        if not -1.0 <= move <= 10.0:
            raise ScenarioFileError(path, "must be from -1 (-100 %) to 10", field=where)
        parsed.append((factor, float(move)))
    return Scenario(code, name.strip(), kind, moves=tuple(parsed))


@cache
def load_scenarios(path: Path = SCENARIOS_FILE) -> ScenarioSet:
    """The scenarios of the file at ``path``, read and checked once per process."""
    try:
        text = read_text(path)
    except FileDataError as exc:  # the server's file: its error, not the caller's
        raise ScenarioFileError(path, exc.problem, line=exc.line, column=exc.column) from None
    return parse_scenarios(text, path)
