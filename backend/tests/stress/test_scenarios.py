"""The scenario file: the repository's scenarios, the setting that replaces them, and one
line naming the scenario and field of whatever is wrong with a file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from app.config import get_settings
from app.core.errors import FileDataError
from app.stress.scenarios import ScenarioFileError, load_scenarios, parse_scenarios
from app.stress.service import scenario_set

GOOD = """
version = 2
[[scenario]]
code = "CRASH"
name = "Crash"
kind = "historical"
start = 2020-02-19
end = 2020-03-23
[[scenario]]
code = "DOWN"
name = "Down"
kind = "hypothetical"
moves = { MARKET = -0.1, SIZE = 0.02 }
"""


def test_the_repository_file_has_the_replays_and_the_shocks() -> None:
    scenarios = load_scenarios()
    by_code = {s.code: s for s in scenarios.scenarios}
    assert [(s.start, s.end) for s in scenarios.scenarios if s.kind == "historical"] == [
        (date(2008, 9, 15), date(2008, 10, 10)),
        (date(2020, 2, 19), date(2020, 3, 23)),
        (date(2022, 1, 3), date(2022, 6, 16)),
    ]
    assert [by_code[c].moves for c in ("MARKET_DOWN_10", "MARKET_DOWN_20", "MARKET_DOWN_35")] == [
        (("MARKET", -0.10),),
        (("MARKET", -0.20),),
        (("MARKET", -0.35),),
    ]
    assert by_code["RATES_UP_100BP"].moves == (("RATES", -0.17),)
    assert dict(by_code["MOMENTUM_CRASH"].moves) == {"MOMENTUM": -0.20, "MARKET": 0.05}


def test_a_good_file_parses() -> None:
    parsed = parse_scenarios(GOOD, "s.toml")
    assert parsed.version == 2
    crash, down = parsed.scenarios
    assert (crash.kind, crash.start, crash.end, crash.moves) == (
        "historical",
        date(2020, 2, 19),
        date(2020, 3, 23),
        (),
    )
    assert down.moves == (("MARKET", -0.1), ("SIZE", 0.02))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("SIZE = 0.02", "SIZZLE = 0.02"), "field scenario DOWN.moves.SIZZLE: not a factor"),
        (("SIZE = 0.02", 'SIZE = "2%"'), "field scenario DOWN.moves.SIZE: must be a number"),
        (("SIZE = 0.02", "SIZE = -1.5"), "field scenario DOWN.moves.SIZE: must be from -1"),
        (
            ("moves = { MARKET = -0.1, SIZE = 0.02 }", "moves = {}"),
            "field scenario DOWN.moves: must name",
        ),
        (("end = 2020-03-23", "end = 2020-02-01"), "field scenario CRASH.end: must be after start"),
        (
            ("start = 2020-02-19", 'start = "2020-02-19"'),
            "field scenario CRASH.start: must be a date",
        ),
        (('kind = "historical"', 'kind = "replay"'), "field scenario CRASH.kind: must be one of"),
        (
            ('kind = "historical"\n', 'kind = "historical"\nmoves = { MARKET = 1 }\n'),
            "field scenario CRASH.moves: not a field of a historical",
        ),
        (('code = "DOWN"', 'code = "CRASH"'), "field scenario CRASH.code: used twice"),
        (('code = "DOWN"', 'code = "down"'), "field scenario #2.code: must be A-Z"),
        (('name = "Down"', 'name = " "'), "field scenario DOWN.name: must be text"),
        (("version = 2", "version = 0"), "field version: must be a whole number"),
        (("[[scenario]]", "[[scenarios]]"), "field scenarios: unknown key"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_scenario_and_field(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ScenarioFileError) as raised:
        parse_scenarios(GOOD.replace(*change, 1), "s.toml")
    text = str(raised.value)
    assert text.startswith(f"s.toml, {message}"), text
    assert "\n" not in text
    assert isinstance(raised.value, FileDataError)
    assert raised.value.http_status == 500  # the server's file, not the request


@pytest.fixture
def own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "mine.toml"
    monkeypatch.setenv("STRESS_SCENARIOS_FILE", str(path))
    get_settings.cache_clear()
    yield path
    monkeypatch.delenv("STRESS_SCENARIOS_FILE")
    get_settings.cache_clear()
    load_scenarios.cache_clear()


def test_the_setting_points_to_the_users_own_file_which_replaces_the_repositorys(
    own_file: Path,
) -> None:
    own_file.write_text(GOOD, encoding="utf-8")
    assert [s.code for s in scenario_set().scenarios] == ["CRASH", "DOWN"]


def test_a_bad_own_file_names_itself_the_scenario_and_field(own_file: Path) -> None:
    own_file.write_text(GOOD.replace("SIZE = 0.02", "SIZE = 20"), encoding="utf-8")
    with pytest.raises(ScenarioFileError, match=r"mine\.toml, field scenario DOWN\.moves\.SIZE"):
        scenario_set()


def test_a_missing_own_file_says_so(own_file: Path) -> None:
    with pytest.raises(ScenarioFileError, match=r"mine\.toml: no such file"):
        scenario_set()
