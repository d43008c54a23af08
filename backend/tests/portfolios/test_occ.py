"""OCC option symbols, padded or not (property-based)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.portfolios.occ import OccOption, format_occ, parse_occ

roots = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.", min_size=1, max_size=6)
options = st.builds(
    OccOption,
    root=roots,
    expiration=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    call=st.booleans(),
    strike=st.integers(1, 99_999_999).map(lambda t: Decimal(t).scaleb(-3)),
)


@given(options)
def test_a_symbol_reads_back_as_the_option_it_was_written_from(option: OccOption) -> None:
    assert parse_occ(format_occ(option)) == option
    assert parse_occ(format_occ(option, padded=True)) == option
    assert parse_occ(f"  {format_occ(option, padded=True).lower()} ") == option


@given(st.text(max_size=30))
def test_any_text_is_an_option_or_none_never_an_error(text: str) -> None:
    option = parse_occ(text)
    if option is not None:
        assert parse_occ(format_occ(option)) == option


def test_the_fields_of_a_known_symbol() -> None:
    assert parse_occ("AAPL  250117C00150000") == OccOption(
        "AAPL", date(2025, 1, 17), True, Decimal("150.000")
    )
    assert parse_occ("SPY250620P00512500") == OccOption(
        "SPY", date(2025, 6, 20), False, Decimal("512.500")
    )
    assert parse_occ("AAPL  250117C00150000").symbol == "AAPL250117C00150000"  # type: ignore[union-attr]


def test_stock_tickers_and_impossible_dates_are_not_options() -> None:
    for text in (
        "AAPL",
        "BRK.B",
        "AAPL250231C00150000",
        "AAPL250117X00150000",
        "AAPL250117C0015000",
        "TOOLONGX250117C00150000",
        "AAPL250117C00000000",
    ):
        assert parse_occ(text) is None, text
