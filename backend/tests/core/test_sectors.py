import pytest

from app.core.sectors import GICS_SECTORS, UnknownSectorError, to_gics


@pytest.mark.parametrize(
    ("label", "gics"),
    [
        ("Technology", "Information Technology"),
        ("Financial Services", "Financials"),
        ("Consumer Cyclical", "Consumer Discretionary"),
        ("Consumer Defensive", "Consumer Staples"),
        ("Healthcare", "Health Care"),
        ("Basic Materials", "Materials"),
        ("Communication Services", "Communication Services"),
        ("Industrials", "Industrials"),
        ("Energy", "Energy"),
        ("Utilities", "Utilities"),
        ("Real Estate", "Real Estate"),
        ("information  technology", "Information Technology"),
    ],
)
def test_provider_and_gics_labels_map_to_gics(label: str, gics: str) -> None:
    assert to_gics(label) == gics


def test_every_gics_name_maps_to_itself() -> None:
    assert [to_gics(s) for s in GICS_SECTORS] == list(GICS_SECTORS)
    assert len(GICS_SECTORS) == 11


def test_unknown_label_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownSectorError, match="Crypto"):
        to_gics("Crypto")
