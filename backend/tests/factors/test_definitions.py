"""The factor file: the repository's factors, and one line naming the factor and field of
whatever is wrong with a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import EXIT_DATA_ERROR, FileDataError
from app.factors.definitions import (
    default_factors,
    factor_symbols,
    load_factors,
    parse_factors,
)

GOOD = """
version = 3
[[factor]]
code = "MARKET"
name = "Market"
long = "SPY"
[[factor]]
code = "SIZE"
name = "Size"
long = "IWM"
short = "SPY"
"""


def test_the_repository_file_defines_the_seven_factors_as_etf_spreads() -> None:
    factors = default_factors()
    assert factors.version >= 1
    assert [(f.code, f.definition) for f in factors.factors] == [
        ("MARKET", "SPY"),
        ("SIZE", "IWM - SPY"),
        ("VALUE", "IWD - IWF"),
        ("MOMENTUM", "MTUM - SPY"),
        ("QUALITY", "QUAL - SPY"),
        ("LOW_VOL", "USMV - SPY"),
        ("RATES", "TLT"),
    ]
    assert factors is default_factors()  # read once


def test_factor_symbols_lists_every_etf_once_for_the_loaders() -> None:
    assert factor_symbols() == ["IWD", "IWF", "IWM", "MTUM", "QUAL", "SPY", "TLT", "USMV"]


def test_a_good_file_parses() -> None:
    parsed = parse_factors(GOOD, "f.toml")
    assert parsed.version == 3
    assert parsed.codes == ("MARKET", "SIZE")
    assert parsed.factors[1].symbols == ("IWM", "SPY")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('short = "SPY"', 'short = "IWM"'), "f.toml, field factor SIZE.short: is the long ETF"),
        (('long = "IWM"', 'long = "iwm"'), "f.toml, field factor SIZE.long: must be an upper-case"),
        (('long = "IWM"', "long = 5"), "f.toml, field factor SIZE.long: must be an upper-case"),
        (('long = "IWM"\n', ""), "f.toml, field factor SIZE.long: must be an upper-case"),
        (('name = "Size"', 'name = ""'), "f.toml, field factor SIZE.name: must be text"),
        (('code = "SIZE"', 'code = "size"'), "f.toml, field factor #2.code: must be A-Z"),
        (('code = "SIZE"', 'code = "MARKET"'), "f.toml, field factor MARKET.code: used twice"),
        (('short = "SPY"', 'shrt = "SPY"'), "f.toml, field factor SIZE.shrt: unknown field"),
        (("version = 3", "version = 0"), "f.toml, field version: must be a whole number"),
        (("version = 3", 'version = "3"'), "f.toml, field version: must be a whole number"),
        (("[[factor]]", "[[factors]]"), "f.toml, field factors: unknown key"),
        (
            ('long = "IWM"\nshort = "SPY"', 'long = "SPY"'),
            "f.toml, field factor SIZE.long: SPY is factor MARKET",
        ),
        (("version = 3", "version = = 3"), "f.toml: not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_factor_and_field(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(FileDataError) as raised:
        parse_factors(GOOD.replace(*change, 1), "f.toml")
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert raised.value.exit_code == EXIT_DATA_ERROR


def test_no_factor_at_all_is_refused() -> None:
    with pytest.raises(FileDataError, match="field factor: no factor"):
        parse_factors("version = 1\n", "f.toml")


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(FileDataError, match=r"missing\.toml: no such file"):
        load_factors(tmp_path / "missing.toml")
