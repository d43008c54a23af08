"""The rules of a book: what a portfolio and a position may be, stated once.

The API's JSON bodies are these models; the CSV reader (app.portfolios.csv_reader) turns
each row into one; the CLI goes through the same service. An error names its field
(``loc``), whichever way the values came in.

A position's direction is its type (LONG, SHORT, LC, LP, SC, SP) and its quantity is
positive. An OCC option symbol fills the type (a call or a put, long unless SHORT was
said), the underlying, the strike and the expiration. The dates that need "today" or a
default entry date take them from the validation context (:func:`book_context`), so a
file is checked against its own ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.core.input_files import numeric_limit, parse_iso_date, shown
from app.core.types import BENCHMARK_NAMES, DEFAULT_BENCHMARK
from app.models import Portfolio, Position
from app.models.portfolio import POSITION_TYPES
from app.portfolios.occ import OccOption, parse_occ

MAX_POSITIONS = 10_000
"""Open positions a portfolio may hold, and rows one import may bring."""

PositionType = Literal["LONG", "SHORT", "LC", "LP", "SC", "SP"]
assert set(PositionType.__args__) == set(POSITION_TYPES)  # type: ignore[attr-defined]
OPTION_TYPES = frozenset({"LC", "LP", "SC", "SP"})
STOCK_TYPES = frozenset({"LONG", "SHORT"})
SHORT_TYPES = frozenset({"SHORT", "SC", "SP"})
_OPTION_TYPE: Mapping[tuple[str, bool], PositionType] = {
    ("C", False): "LC",
    ("C", True): "SC",
    ("P", False): "LP",
    ("P", True): "SP",
}
"""(call or put, short) -> the option's type."""
OPTION_FIELDS = ("underlying_symbol", "strike_price", "expiration_date")

SYMBOL_CHARACTERS = "letters, digits, '.', '-' and '^'"
SYMBOL_MAX_LENGTH = 20
NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 10_000

# ISO 4217 codes of currencies in use (2025).
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 (a table, not a list to read)
)


def utc_today() -> date:
    return datetime.now(UTC).date()


def book_context(*, today: date | None = None, entry_date: date | None = None) -> dict[str, Any]:
    """The validation context of a position: ``today`` (no entry or exit after it; default
    the UTC date) and the entry date a position without one gets (default ``today``)."""
    today = today or utc_today()
    return {"today": today, "entry_date": entry_date or today}


# --- values ---------------------------------------------------------------------------


def _problem(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _symbol_text(value: Any) -> Any:
    """Upper case; a padded OCC symbol (``AAPL  250117C00150000``) without its padding."""
    if not isinstance(value, str):
        return value
    value = value.strip().upper()
    if " " in value and (option := parse_occ(value)) is not None:
        return option.symbol
    return value


def _symbol(value: str) -> str:
    if len(value) > SYMBOL_MAX_LENGTH and parse_occ(value) is not None:
        raise _problem(
            "symbol",
            f"{shown(value)}: an OCC symbol with a six-character root is longer than the "
            f"{SYMBOL_MAX_LENGTH} characters a symbol may have",
        )
    if not (
        0 < len(value) <= SYMBOL_MAX_LENGTH
        and value.isascii()  # "ß".upper() is "SS": only ASCII letters
        and value.replace(".", "").replace("-", "").replace("^", "").isalnum()
    ):
        raise _problem(
            "symbol",
            f"{shown(value)} is not a symbol ({SYMBOL_CHARACTERS}, 1 to "
            f"{SYMBOL_MAX_LENGTH} characters)",
        )
    return value


def _fits(column: Any, *, what: str) -> Callable[[Decimal], Decimal]:
    """The value as the NUMERIC(p, s) column stores it (rounded half away from zero to its
    scale, as PostgreSQL does); too many integer digits, or not positive once rounded, is
    an error."""
    step = Decimal(1).scaleb(-(column.type.scale or 0))
    limit = numeric_limit(column)

    def check(value: Decimal) -> Decimal:
        if abs(value) >= limit:
            raise _problem("too_large", f"{what} {value} is too large (at most {limit:,})")
        stored = value.quantize(step, rounding=ROUND_HALF_UP)
        if stored <= 0:
            raise _problem("not_positive", f"{what} must be greater than 0, got {value}")
        return stored

    return check


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise _problem("currency", f"{shown(value)} is not an ISO 4217 currency code (e.g. USD)")
    return value


def _benchmark(value: str) -> str:
    if value not in BENCHMARK_NAMES:
        known = ", ".join(f"{code} ({name})" for code, name in BENCHMARK_NAMES.items())
        raise _problem("benchmark", f"{shown(value)} is not a known benchmark: {known}")
    return value


Symbol = Annotated[str, BeforeValidator(_symbol_text), AfterValidator(_symbol)]
Quantity = Annotated[Decimal, AfterValidator(_fits(Position.__table__.c.quantity, what="quantity"))]
stored_price = _fits(Position.__table__.c.entry_price, what="price")
"""A price as a position stores it (entry, exit, strike: one precision)."""
Price = Annotated[Decimal, AfterValidator(stored_price)]
Balance = Annotated[
    Decimal, AfterValidator(_fits(Portfolio.__table__.c.equity_balance, what="equity_balance"))
]


def _day(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_iso_date(value.strip())
        except ValueError as exc:
            raise _problem("date", str(exc)) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise _problem("date", f"must be a date (YYYY-MM-DD), got {shown(str(value))}")


Day = Annotated[date, BeforeValidator(_day)]
"""YYYY-MM-DD exactly (not a timestamp, nor 20250117), or a date."""


def _one_line(value: str) -> str:
    if not value.isprintable():
        raise _problem("text", f"holds a control character or line break: {shown(value)}")
    return value


def _text(value: str) -> str:
    # Line breaks and tabs are text; other control characters (NUL, which PostgreSQL
    # cannot store, among them) are not.
    if not value.replace("\n", "").replace("\r", "").replace("\t", "").isprintable():
        raise _problem("text", f"holds a control character: {shown(value)}")
    return value


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH), AfterValidator(_one_line)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH), AfterValidator(_text)]
Currency = Annotated[str, BeforeValidator(_upper), AfterValidator(_currency)]
TypeName = Annotated[PositionType, BeforeValidator(_upper)]
Benchmark = Annotated[str, BeforeValidator(_upper), AfterValidator(_benchmark)]
"""A known benchmark code (any case): what a portfolio's over/underweights are against."""


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# --- portfolios -----------------------------------------------------------------------


class PortfolioIn(BaseModel):
    """A new portfolio."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name = Field(description="1-255 characters, unique among your live portfolios.")
    description: Description | None = None
    currency: Currency = Field(default="USD", description="ISO 4217, e.g. USD.")
    equity_balance: Balance | None = Field(
        default=None, description="Net liquidation value, > 0 (a decimal string or number)."
    )
    benchmark_code: Benchmark = Field(
        default=DEFAULT_BENCHMARK,
        description="The benchmark GET /risk measures sector over/underweights against: "
        + ", ".join(BENCHMARK_NAMES)
        + ".",
    )


class PortfolioChanges(BaseModel):
    """Fields of a portfolio to change; those not sent keep their value."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    description: Description | None = None
    currency: Currency | None = None
    equity_balance: Balance | None = None
    benchmark_code: Benchmark | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> Self:
        problems = [
            _detail(field, "required", f"{field} cannot be removed (null)", None)
            for field in ("name", "currency", "benchmark_code")
            if field in self.model_fields_set and getattr(self, field) is None
        ]
        _raise(type(self).__name__, problems)
        return self


# --- positions ------------------------------------------------------------------------


def _detail(field: str, kind: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=_problem(kind, message), loc=(field,), input=value)


def _raise(title: str, problems: list[InitErrorDetails]) -> None:
    if problems:
        raise ValidationError.from_exception_data(title, problems)


class PositionIn(BaseModel):
    """A position: stock (LONG, SHORT) or option (LC, LP, SC, SP). After validation
    ``entry_date`` is set (the context's default) and an OCC symbol has filled the type,
    underlying, strike and expiration."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol = Field(
        description=f"Ticker ({SYMBOL_CHARACTERS}, upper-cased) or an OCC option symbol "
        "such as 'AAPL  250117C00150000' (with or without the padding)."
    )
    position_type: TypeName | None = Field(
        default=None, description="LONG (default), SHORT, LC, LP, SC or SP."
    )
    quantity: Quantity = Field(description="Shares or contracts, > 0: the direction is the type.")
    entry_date: Day | None = Field(default=None, description="Not after today (default today).")
    entry_price: Price | None = Field(
        default=None,
        description="> 0; omitted: the symbol's stored close on the entry date (the last "
        "close before it when that day has none, up to a week before).",
    )
    exit_date: Day | None = Field(default=None, description="After entry_date; closes it.")
    exit_price: Price | None = None
    underlying_symbol: Symbol | None = Field(default=None, description="Options only.")
    strike_price: Price | None = Field(default=None, description="Options only, > 0.")
    expiration_date: Day | None = Field(
        default=None, description="Options only, on or after entry_date."
    )

    @property
    def given(self) -> set[str]:
        """The fields the input gave (defaults and the OCC symbol fill others)."""
        return self.model_fields_set

    def fill_default(self, field: str, value: Any) -> None:
        """Set a field the input left out (it stays out of :attr:`given`)."""
        # Into the field's slot, not through setattr: the field stays out of
        # model_fields_set, which keeps saying what the input gave.
        self.__dict__[field] = value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        context = info.context or {}
        today: date = context.get("today") or utc_today()
        problems: list[InitErrorDetails] = []
        option = parse_occ(self.symbol)
        if option is not None:
            problems += self._fill_from_occ(option)
        elif self.position_type is None:
            self.fill_default("position_type", "LONG")
        if self.entry_date is None:
            self.fill_default("entry_date", context.get("entry_date") or today)
        if (
            self.exit_date is None
            and self.exit_price is None
            and self.expiration_date is None
            and self.entry_date <= today  # type: ignore[operator]
            and self.position_type in STOCK_TYPES
            and self.underlying_symbol is None
            and self.strike_price is None
        ):
            return self  # an open stock position entered by today: nothing more to check
        problems += self._dates(today)
        problems += self._option_fields()
        _raise("PositionIn", problems)
        return self

    def _fill_from_occ(self, option: OccOption) -> list[InitErrorDetails]:
        problems = []
        kind = "C" if option.call else "P"
        if self.position_type in OPTION_TYPES and self.position_type[1] != kind:
            problems.append(
                _detail(
                    "position_type",
                    "occ_conflict",
                    f"{self.position_type} does not fit {self.symbol}, a "
                    f"{'call' if option.call else 'put'}",
                    self.position_type,
                )
            )
        self.fill_default("position_type", _OPTION_TYPE[kind, self.position_type in SHORT_TYPES])
        for field, value in (
            ("underlying_symbol", option.root),
            ("strike_price", stored_price(option.strike)),
            ("expiration_date", option.expiration),
        ):
            given = getattr(self, field)
            if given is None:
                self.fill_default(field, value)
            elif given != value:
                problems.append(
                    _detail(
                        field,
                        "occ_conflict",
                        f"{given} differs from the {value} of {self.symbol}",
                        str(given),
                    )
                )
        return problems

    def _dates(self, today: date) -> list[InitErrorDetails]:
        entry = self.entry_date
        assert entry is not None
        problems = []
        if not _on_or_before(entry, today):
            problems.append(
                _detail("entry_date", "future", f"{entry} is after today ({today})", str(entry))
            )
        if self.exit_date is not None:
            if _on_or_before(self.exit_date, entry):
                problems.append(
                    _detail(
                        "exit_date",
                        "order",
                        f"{self.exit_date} must be after entry_date {entry}",
                        str(self.exit_date),
                    )
                )
            elif not _on_or_before(self.exit_date, today):
                problems.append(
                    _detail(
                        "exit_date",
                        "future",
                        f"{self.exit_date} is after today ({today})",
                        str(self.exit_date),
                    )
                )
        elif self.exit_price is not None:
            problems.append(
                _detail("exit_price", "no_exit", "an exit_price needs an exit_date", None)
            )
        if self.expiration_date is not None and not _on_or_before(entry, self.expiration_date):
            problems.append(
                _detail(
                    "expiration_date",
                    "order",
                    f"{self.expiration_date} is before entry_date {entry}",
                    str(self.expiration_date),
                )
            )
        return problems

    def _option_fields(self) -> list[InitErrorDetails]:
        if self.position_type in OPTION_TYPES:
            return [
                _detail(
                    field,
                    "missing",
                    f"an option ({self.position_type}) needs {field} (or an OCC symbol)",
                    None,
                )
                for field in OPTION_FIELDS
                if getattr(self, field) is None
            ]
        return [
            _detail(
                field,
                "stock",
                f"only options (LC, LP, SC, SP) have {field}; "
                f"{self.symbol} is {self.position_type}",
                str(getattr(self, field)),
            )
            for field in OPTION_FIELDS
            if getattr(self, field) is not None
        ]


def _on_or_before(first: date, second: date) -> bool:
    """The two dates are in order (or the same day)."""
    return first <= second


class PositionChanges(BaseModel):
    """Fields of a position to change (close it with exit_date and exit_price); those not
    sent keep their value. The position they make is checked as a new one is."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol | None = None
    position_type: TypeName | None = None
    quantity: Quantity | None = None
    entry_date: Day | None = None
    entry_price: Price | None = None
    exit_date: Day | None = None
    exit_price: Price | None = None
    underlying_symbol: Symbol | None = None
    strike_price: Price | None = None
    expiration_date: Day | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> Self:
        problems = [
            _detail(field, "required", f"{field} cannot be removed (null)", None)
            for field in ("symbol", "position_type", "quantity", "entry_date", "entry_price")
            if field in self.model_fields_set and getattr(self, field) is None
        ]
        _raise(type(self).__name__, problems)
        return self


POSITION_FIELDS = tuple(PositionIn.model_fields)
"""The fields of a position, in the order of the API and the CSV example."""
