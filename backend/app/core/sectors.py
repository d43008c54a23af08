"""GICS sector names, and the one mapping from provider labels to them.

FMP's current API labels sectors its own way ("Technology", "Financial Services", ...);
older responses and other sources use the GICS names. Everything that stores or compares
sectors normalises through :func:`to_gics`.
"""

from __future__ import annotations

from app.core.errors import InputDataError

GICS_SECTORS: tuple[str, ...] = (
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
)

_PROVIDER_LABELS: dict[str, str] = {
    # FMP /stable labels
    "Technology": "Information Technology",
    "Financial Services": "Financials",
    "Consumer Cyclical": "Consumer Discretionary",
    "Consumer Defensive": "Consumer Staples",
    "Healthcare": "Health Care",
    "Basic Materials": "Materials",
    # Seen in older data sets
    "Telecommunication Services": "Communication Services",
    "Telecommunications Services": "Communication Services",
}

_BY_KEY: dict[str, str] = {
    label.casefold(): gics
    for label, gics in [*((g, g) for g in GICS_SECTORS), *_PROVIDER_LABELS.items()]
}


class UnknownSectorError(InputDataError):
    def __init__(self, label: str) -> None:
        super().__init__(f"unknown sector label {label!r}; known: {', '.join(GICS_SECTORS)}")
        self.label = label


def to_gics(label: str) -> str:
    """The GICS sector name for a provider's label (case and spacing tolerant)."""
    gics = _BY_KEY.get(" ".join(label.split()).casefold())
    if gics is None:
        raise UnknownSectorError(label)
    return gics
