"""OCC option symbols: ``AAPL  250117C00150000`` is a call on AAPL expiring 2025-01-17 with a
strike of 150.000.

The OSI format is the root (1-6 characters, padded with spaces to 6), the expiration as
YYMMDD, C or P, and the strike in thousandths as 8 digits. Brokers write it with the
padding or without (``AAPL250117C00150000``); both are read, and a position stores it
without (the symbol column holds 20 characters: a six-character root is one too many).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

_SHORTEST = 16
"""A one-character root and the 15 characters after it."""
_OCC = re.compile(r"([A-Z0-9.]{1,6}) *(\d{2})(\d{2})(\d{2})([CP])(\d{8})")


@dataclass(frozen=True)
class OccOption:
    root: str
    """The underlying's symbol as OCC writes it (BRKB for BRK.B)."""
    expiration: date
    call: bool
    strike: Decimal

    @property
    def symbol(self) -> str:
        """The symbol without padding, as positions store it."""
        return format_occ(self)


def parse_occ(text: str) -> OccOption | None:
    """The option ``text`` names (stripped, upper-cased first), or None when it is not an
    OCC symbol (a stock ticker, a date that does not exist, a strike of 0)."""
    if len(text) < _SHORTEST:
        return None  # a ticker: too short to be an option (the common case, and fast)
    match = _OCC.fullmatch(text.strip().upper())
    if match is None:
        return None
    root, yy, mm, dd, kind, strike = match.groups()
    try:
        expiration = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return None
    if int(strike) == 0:
        return None  # no option is struck at 0
    return OccOption(root, expiration, kind == "C", Decimal(strike).scaleb(-3))


def format_occ(option: OccOption, *, padded: bool = False) -> str:
    """The OCC symbol of ``option`` (the root padded to 6 characters with ``padded``)."""
    thousandths = int(option.strike.scaleb(3))
    root = option.root.ljust(6) if padded else option.root
    return f"{root}{option.expiration:%y%m%d}{'C' if option.call else 'P'}{thousandths:08d}"
