"""The factor-exposure panel in a real browser (the pattern and fixtures of
test_browser.py): the bars are the portfolio's exposures the JSON API returns, for the
demo, whose factor ETFs are priced, and the note gives R² and specific volatility."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from app.prices.demo import DEMO_EMAIL, DEMO_END
from tests.dashboard.test_browser import (  # noqa: F401 (fixtures used by name)
    DEMO_PASSWORD,
    EARLIER_DATE,
    Server,
    api,
    api_token,
    browser,
    demo_portfolios,
    demo_with_risk,
    filled_database,
    guarded,
    server,
    sign_in,
    traces,
    wait_loaded,
)
from tests.support.browser import NO_CHROMIUM, GuardedPage, chromium_executable

pytestmark = [
    pytest.mark.skipif(chromium_executable() is None, reason=NO_CHROMIUM),
    pytest.mark.slow,  # uvicorn and Chromium are child processes
]


def test_the_factor_bars_are_the_portfolios_exposures_from_the_api(
    server: Server,  # noqa: F811 (the fixture imported above)
    guarded: GuardedPage,  # noqa: F811
    demo_portfolios: list[dict[str, Any]],  # noqa: F811
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    first = demo_portfolios[0]
    wait_loaded(page, first["id"], DEMO_END.isoformat())

    body = api(server, f"/api/v1/portfolios/{first['id']}/factors", api_token(server))
    assert body["calculation_date"] == DEMO_END.isoformat()
    expect(page.locator("#factor-panel")).to_be_visible()
    bars = traces(page, "factor-chart")["Exposure"]
    names = {f["code"]: f"{f['name']} ({f['definition']})" for f in body["factors"]}
    exposures = body["portfolio"]["exposures"]
    drawn = dict(zip(bars["y"], bars["x"], strict=True))
    assert drawn == {names[e["factor"]]: float(e["exposure"]) for e in exposures}
    # The demo prices every factor ETF: each factor has an exposure, none a reason.
    assert all(e["exposure"] is not None for e in exposures)
    expect(page.locator("#factor-reasons li")).to_have_count(0)
    r_squared = float(body["portfolio"]["r_squared"])
    expect(page.locator("#factor-note")).to_contain_text(
        f"Factors explain {r_squared * 100:.1f}% of the variance"
    )
    assert drawn["Market (SPY)"] > 0.5  # a long book

    # Another date shows that date's exposures.
    page.get_by_label("Date", exact=True).fill(EARLIER_DATE)
    wait_loaded(page, first["id"], EARLIER_DATE)
    expect(page.locator("#factor-note")).to_contain_text(f"On {EARLIER_DATE}")
    assert guarded.console_errors == []
