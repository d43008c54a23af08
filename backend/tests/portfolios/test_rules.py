"""Each rule of a book, on the models the API, the CSV reader and the CLI share."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.portfolios.rules import (
    PortfolioChanges,
    PortfolioIn,
    PositionChanges,
    PositionIn,
    book_context,
)

TODAY = date(2025, 3, 3)
BASE: dict[str, Any] = {
    "symbol": "AAPL",
    "quantity": "10",
    "entry_price": "150",
    "entry_date": "2025-01-02",
}


def _position(**changes: Any) -> PositionIn:
    fields = {k: v for k, v in (BASE | changes).items() if v is not None}
    return PositionIn.model_validate(fields, context=book_context(today=TODAY))


def _refused(model: type[Any], data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data, context=book_context(today=TODAY))
    return {str(e["loc"][0]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"symbol": "AA PL"}, "symbol", "is not a symbol"),
        ({"symbol": "ÄPPLE"}, "symbol", "is not a symbol"),
        ({"symbol": "A" * 21}, "symbol", "1 to 20 characters"),
        ({"symbol": "GOOGL1250117C00150000"}, "symbol", "six-character root"),
        ({"position_type": "FUTURE"}, "position_type", "Input should be"),
        ({"quantity": "0"}, "quantity", "must be greater than 0"),
        ({"quantity": "0.0000001"}, "quantity", "must be greater than 0"),  # 0 once stored
        ({"quantity": "1e15"}, "quantity", "too large"),
        ({"quantity": "NaN"}, "quantity", "finite"),
        ({"entry_price": "-1"}, "entry_price", "must be greater than 0"),
        ({"entry_date": "2025-03-04"}, "entry_date", "after today (2025-03-03)"),
        ({"entry_date": "20250102"}, "entry_date", "not a date (YYYY-MM-DD)"),
        ({"entry_date": 1735776000}, "entry_date", "must be a date"),
        ({"exit_date": "2025-01-02"}, "exit_date", "must be after entry_date"),
        ({"exit_date": "2025-03-04"}, "exit_date", "after today"),
        ({"exit_price": "10"}, "exit_price", "needs an exit_date"),
        ({"strike_price": "10"}, "strike_price", "only options"),
        ({"underlying_symbol": "MSFT"}, "underlying_symbol", "only options"),
        ({"position_type": "LC"}, "expiration_date", "needs expiration_date"),
        (
            {"symbol": "AAPL250117C00150000", "expiration_date": "2025-01-10"},
            "expiration_date",
            "differs from the 2025-01-17",
        ),
        ({"symbol": "AAPL241220C00150000"}, "expiration_date", "is before entry_date"),
        ({"symbol": "AAPL250117C00150000", "position_type": "SP"}, "position_type", "a call"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_a_position_breaking_a_rule_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    problems = _refused(PositionIn, {k: v for k, v in (BASE | changes).items() if v is not None})
    assert field in problems, problems
    assert message in problems[field]


def test_defaults_case_and_the_stored_precision() -> None:
    position = PositionIn.model_validate(
        {"symbol": " brk.b ", "quantity": "1.23456789", "entry_price": "10.00005"},
        context=book_context(today=TODAY),
    )
    assert (position.symbol, position.position_type, position.entry_date) == (
        "BRK.B",
        "LONG",
        TODAY,
    )
    assert (position.quantity, position.entry_price) == (Decimal("1.234568"), Decimal("10.0001"))
    assert position.given == {"symbol", "quantity", "entry_price"}
    later = PositionIn.model_validate(
        {"symbol": "X", "quantity": 1},
        context=book_context(today=TODAY, entry_date=date(2025, 2, 3)),
    )
    assert later.entry_date == date(2025, 2, 3)


def test_an_occ_symbol_fills_the_option_and_keeps_the_direction() -> None:
    long_call = _position(symbol="AAPL  250620C00200000")
    assert (
        long_call.symbol,
        long_call.position_type,
        long_call.underlying_symbol,
        long_call.strike_price,
        long_call.expiration_date,
    ) == ("AAPL250620C00200000", "LC", "AAPL", Decimal("200.0000"), date(2025, 6, 20))
    assert _position(symbol="AAPL250620P00200000", position_type="short").position_type == "SP"
    assert _position(symbol="AAPL250620P00200000", strike_price="200").strike_price == 200
    spelled_out = _position(
        symbol="MYOPT",
        position_type="SC",
        underlying_symbol="aapl",
        strike_price="5",
        expiration_date="2025-06-20",
    )
    assert spelled_out.underlying_symbol == "AAPL"


def test_the_rules_of_a_portfolio() -> None:
    made = PortfolioIn.model_validate({"name": "  Core  ", "currency": "eur", "equity_balance": 10})
    assert (made.name, made.currency, made.equity_balance) == ("Core", "EUR", Decimal("10.00"))
    assert PortfolioIn.model_validate({"name": "x"}).currency == "USD"
    problems = _refused(PortfolioIn, {"name": "", "currency": "EU", "equity_balance": 0})
    assert problems.keys() == {"name", "currency", "equity_balance"}
    assert "not an ISO 4217 currency code" in problems["currency"]
    assert "at most 255" in _refused(PortfolioIn, {"name": "n" * 256})["name"]
    assert "control character" in _refused(PortfolioIn, {"name": "a\x00b"})["name"]
    assert "control character" in _refused(PortfolioIn, {"name": "two\nlines"})["name"]
    refused = _refused(PortfolioIn, {"name": "x", "description": "nul \x00"})
    assert "control character" in refused["description"]
    described = PortfolioIn.model_validate({"name": "x", "description": "two\nlines\tok"})
    assert described.description == "two\nlines\tok"
    assert "cannot be removed" in _refused(PortfolioChanges, {"currency": None})["currency"]
    assert PortfolioChanges.model_validate({"description": None}).model_fields_set == {
        "description"
    }


def test_a_change_may_not_remove_what_a_position_needs() -> None:
    assert "cannot be removed" in _refused(PositionChanges, {"quantity": None})["quantity"]
    assert PositionChanges.model_validate({"exit_date": None}).exit_date is None
