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


def test_the_stress_table_shows_each_scenarios_pnl_from_the_api(
    server: Server,  # noqa: F811 (the fixture imported above)
    guarded: GuardedPage,  # noqa: F811
    demo_portfolios: list[dict[str, Any]],  # noqa: F811
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    hedge = demo_portfolios[-1]
    page.get_by_label("Portfolio", exact=True).select_option(hedge["id"])
    wait_loaded(page, hedge["id"], DEMO_END.isoformat())

    report = api(server, f"/api/v1/portfolios/{hedge['id']}/stress", api_token(server))
    rows = page.locator("#stress tbody tr")
    expect(rows).to_have_count(len(report["scenarios"]))
    for scenario in report["scenarios"]:
        row = page.locator(f'#stress tbody tr[data-scenario="{scenario["code"]}"]')
        expect(row.locator("th")).to_have_text(scenario["name"])
        pnl = row.locator("td").nth(1)
        if scenario["pnl"] is None:
            expect(pnl).to_have_text("–")
            expect(row.locator("td").last).to_contain_text(scenario["null_reason"])
        else:
            whole = f"{abs(round(float(scenario['pnl']))):,}"
            expect(pnl).to_contain_text(whole)
    # The demo's prices start in late 2023: every replay says why it has no P&L, and
    # every hypothetical shock has one.
    assert all(s["pnl"] is None for s in report["scenarios"] if s["kind"] == "historical")
    assert all(s["pnl"] is not None for s in report["scenarios"] if s["kind"] == "hypothetical")
    # Every column, the notes saying why too, fits the panel: nothing scrolled out of view.
    wrap = page.locator("#stress-panel .table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")
    panel, notes = page.locator("#stress-panel").bounding_box(), rows.first.locator("td").last
    box = notes.bounding_box()
    assert panel is not None and box is not None
    assert box["x"] + box["width"] <= panel["x"] + panel["width"]
    assert guarded.console_errors == []
