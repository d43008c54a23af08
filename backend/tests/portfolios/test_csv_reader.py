"""The book's CSV reader: any table written by a CSV writer reads back cell for cell, the
amount rules, and every bad row reported (property-based where it pays)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.portfolios.csv_reader import amount, read_book, records
from app.portfolios.rules import POSITION_FIELDS

TODAY = date(2025, 1, 10)

cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    max_size=12,
)


@given(
    rows=st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    crlf=st.booleans(),
)
def test_what_a_csv_writer_writes_reads_back_cell_for_cell(
    rows: list[list[str]], delimiter: str, quoting: int, crlf: bool
) -> None:
    # A row of blank cells is a blank line, which the reader skips (as a file's).
    rows = [row for row in rows if "".join(row).strip(" \n") or quoting == csv.QUOTE_ALL]
    out = io.StringIO()
    csv.writer(
        out, delimiter=delimiter, quoting=quoting, lineterminator="\r\n" if crlf else "\n"
    ).writerows(rows)
    got = [r.cells for r in records(out.getvalue(), delimiter)]
    assert got == [[c.replace("\r\n", "\n") for c in row] for row in rows]


@given(
    value=st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2),
    sign=st.sampled_from(["", "$", "€", "£"]),
)
def test_a_quoted_amount_may_carry_separators_and_a_currency_sign(
    value: Decimal, sign: str
) -> None:
    text = f"{'-' if value < 0 else ''}{sign}{abs(value):,.2f}"
    assert amount(text, quoted=True) == value
    assert amount(f"{value:f}", quoted=False) == value
    if "," in text or sign:
        with pytest.raises(ValueError, match="thousands separator or currency sign"):
            amount(text, quoted=False)


@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_rejected_never_an_error(data: bytes) -> None:
    book = read_book(data, entry_date=TODAY, today=TODAY)
    assert book.positions or book.rejected
    assert all(r.line is None or r.line >= 1 for r in book.rejected)


@given(
    order=st.permutations(["symbol", "quantity", "entry_price"]),
    upper=st.booleans(),
    bom=st.booleans(),
)
def test_header_names_in_any_case_and_order(order: list[str], upper: bool, bom: bool) -> None:
    values = {"symbol": "msft", "quantity": "-5", "entry_price": '"$1,000.25"'}
    header = ",".join(name.upper() if upper else name for name in order)
    text = ("\ufeff" if bom else "") + header + "\n" + ",".join(values[n] for n in order) + "\n"
    book = read_book(text.encode(), entry_date=TODAY, today=TODAY)
    assert book.rejected == []
    ((line, position),) = book.positions
    assert (line, position.symbol, position.position_type, position.quantity) == (
        2,
        "MSFT",
        "SHORT",
        5,
    )
    assert (position.entry_price, position.entry_date) == (Decimal("1000.2500"), TODAY)


def test_every_bad_row_is_reported_with_its_line_and_field() -> None:
    text = (
        "symbol,quantity,entry_date,position_type\n"
        "AAPL,10,2025-01-02,\n"
        "\n"
        '"MS\nFT",1,2025-01-02,\n'  # a quoted line break: the next record starts on line 6
        "NVDA,abc,2025-01-02,LONG\n"
        "TSLA,-3,2025-01-02,long\n"  # long and negative: which one?
        "KO,1,2025-02-30,\n"
    )
    book = read_book(text, entry_date=TODAY, today=TODAY)
    assert [line for line, _ in book.positions] == [2]
    assert [(r.line, r.field) for r in book.rejected] == [
        (4, "symbol"),
        (6, "quantity"),
        (7, "quantity"),
        (8, "entry_date"),
    ]


def test_a_negative_quantity_without_a_type_is_short() -> None:
    text = (
        "symbol,quantity,entry_price,position_type\n"
        "AAPL250620C00200000,-3,4.5,\n"
        "AAPL250620P00200000,3,4.5,\n"
        "AAPL,-3,4.5,short\n"
        "AAPL250620P00200000,-1,4.5,SP\n"
    )
    book = read_book(text, entry_date=TODAY, today=TODAY)
    assert book.rejected == []
    assert [(p.position_type, p.quantity) for _, p in book.positions] == [
        ("SC", 3),
        ("LP", 3),
        ("SHORT", 3),
        ("SP", 1),
    ]


def test_the_header_names_every_field_a_position_has() -> None:
    text = ",".join(POSITION_FIELDS) + "\nAAPL,LONG,1,2025-01-02,1,,,,,\n"
    assert read_book(text, entry_date=TODAY, today=TODAY).rejected == []
