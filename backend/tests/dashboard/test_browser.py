"""The dashboard in a real browser: headless Chromium (Debian's package) driven by
Playwright, against uvicorn on 127.0.0.1 serving a test database with the demo data and
a short calculated range. Every page aborts and records requests to other hosts and
records console errors; the tests assert both stay empty.

The charts are Plotly's: each chart element keeps the traces it drew (``el.data``), which
the tests compare with what the JSON API returns.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import BACKEND_DIR
from app.core.security import hash_password
from app.prices.demo import DEMO_EMAIL, DEMO_END, ENTRY_DATE
from app.users import service as users
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python, uvicorn_app
from tests.support.auth import token_for
from tests.support.browser import NO_CHROMIUM, GuardedPage, chromium_executable, guarded_page
from tests.support.cli import run_script, script_env
from tests.support.factories import make_portfolio

pytestmark = [
    pytest.mark.skipif(chromium_executable() is None, reason=NO_CHROMIUM),
    pytest.mark.slow,  # uvicorn and Chromium are child processes
]

ARTIFACTS = BACKEND_DIR / "tests" / "artifacts"
CALCULATED_FROM = "2025-10-08"  # a short range: eight trading days up to DEMO_END
EARLIER_DATE = "2025-10-10"  # a Friday inside it
WEEKEND_DATE = "2025-10-12"  # a Sunday: the Friday snapshot is shown
DEMO_PASSWORD = "dashboard demo password"
SECOND_EMAIL = "second@example.com"
SECOND_PASSWORD = "dashboard second password"
SECOND_PORTFOLIO = "Second user's fresh book"
LISTING_MISSING = (
    "GET /api/v1/portfolios (portfolio list, positions and risk history) is not served by "
    "this build: the dashboard needs it"
)


@dataclass(frozen=True)
class Server:
    base: str
    demo_id: uuid.UUID


@pytest.fixture(scope="module")
def demo_with_risk(database: TestDatabase) -> None:
    """The demo and a short calculated range, by the scripts' main() in this process (their
    child-process runs are tested in tests/scripts)."""
    env = script_env(database.env_url)
    demo = run_script("demo_data", env=env)
    assert demo.code == 0, demo.stderr
    calculated = run_script(
        "calculate_risk_metrics", "--from", CALCULATED_FROM, "--to", DEMO_END.isoformat(), env=env
    )
    assert calculated.code == 0, calculated.stderr


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def filled_database(
    database: TestDatabase, engine: AsyncEngine, demo_with_risk: None
) -> AsyncIterator[uuid.UUID]:
    """The demo, a short calculated range, the demo user's password set through the
    users service, and a second user owning one portfolio with no snapshot."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        demo_user = (await users.set_password(session, DEMO_EMAIL, DEMO_PASSWORD)).user
        second = (await users.create_user(session, SECOND_EMAIL, SECOND_PASSWORD)).user
        await make_portfolio(session, SECOND_PORTFOLIO, owner=second)
        await session.commit()
    yield demo_user.id


@pytest.fixture(scope="module")
def server(
    database: TestDatabase, filled_database: uuid.UUID, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("dashboard") / "uvicorn.log"
    with uvicorn_app(subprocess_env(database), log) as base:
        yield Server(base, filled_database)


@pytest.fixture(scope="module")
def db(database: TestDatabase) -> Iterator[Engine]:
    """The module's database for rows a test adds (sync: the browser tests are sync)."""
    engine = create_engine(database.sync_url)
    yield engine
    engine.dispose()


USER_PASSWORD = "dashboard user password"


def add_user(db: Engine, email: str) -> uuid.UUID:
    """A user who signs in with USER_PASSWORD."""
    with db.begin() as conn:
        user_id: uuid.UUID = conn.execute(
            text("INSERT INTO users (email, password_hash) VALUES (:e, :h) RETURNING id"),
            {"e": email, "h": hash_password(USER_PASSWORD)},
        ).scalar_one()
    return user_id


def add_portfolio(
    db: Engine, owner: uuid.UUID, name: str, positions: list[tuple[str, str, int, str]]
) -> uuid.UUID:
    """A portfolio of ``owner`` holding (symbol, type, quantity, entry date) positions."""
    with db.begin() as conn:
        portfolio_id: uuid.UUID = conn.execute(
            text("INSERT INTO portfolios (name, owner_id) VALUES (:n, :o) RETURNING id"),
            {"n": name, "o": owner},
        ).scalar_one()
        for symbol, kind, quantity, entry in positions:
            conn.execute(
                text(
                    "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, "
                    "entry_price, entry_date) VALUES (:p, :s, :t, :q, 100, :d)"
                ),
                {"p": portfolio_id, "s": symbol, "t": kind, "q": quantity, "d": entry},
            )
    return portfolio_id


def run_command_shown(command: str, database: TestDatabase, *, left_out: str = "") -> None:
    """The calculation command a page shows, run as shown: a child process (a range run
    handles Ctrl-C, which only a main thread can). ``left_out``: a symbol without prices
    the run names (and exits 1 for)."""
    prefix = "cd backend && uv run python "
    assert command.startswith(prefix + "scripts/calculate_risk_metrics.py "), command
    run = run_python(command.removeprefix(prefix).split(), subprocess_env(database))
    assert run.returncode == (1 if left_out else 0), run.stdout + run.stderr
    assert "Risk metrics stored" in run.stdout, run.stdout
    if left_out:
        assert f"{left_out}: no {left_out} price on or before" in run.stdout, run.stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    assert executable is not None
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium will not start as root with its sandbox on (CI runs as root).
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def guarded(browser: Browser) -> Iterator[GuardedPage]:
    with guarded_page(browser) as page:
        yield page
        assert page.outside_requests == []


def api_token(server: Server, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> str:
    response = httpx.post(
        f"{server.base}/api/v1/auth/token",
        data={"username": email, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def api(server: Server, path: str, token: str, **params: str) -> Any:
    response = httpx.get(
        f"{server.base}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def demo_portfolios(server: Server) -> list[dict[str, Any]]:
    """The demo user's portfolios from the API; skips while the listing is not served."""
    token = api_token(server)
    response = httpx.get(
        f"{server.base}/api/v1/portfolios",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code in (404, 405):
        pytest.skip(LISTING_MISSING)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def sign_in(page: Page, server: Server, email: str, password: str) -> None:
    page.goto(server.base)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def wait_loaded(page: Page, portfolio_id: str, on: str) -> None:
    page.locator(f'body[data-loaded="{portfolio_id}@{on}"]:not([aria-busy])').wait_for()


def traces(page: Page, chart: str) -> dict[str, dict[str, list[Any]]]:
    """Each trace Plotly drew in ``#chart``, by name: its x and y values."""
    drawn: list[dict[str, Any]] = page.evaluate(
        "id => document.getElementById(id).data.map(t => ({name: t.name, x: t.x, y: t.y}))",
        chart,
    )
    return {t["name"]: {"x": t["x"], "y": t["y"]} for t in drawn}


def metric(page: Page, key: str) -> str:
    return page.locator(f'[data-metric="{key}"]').inner_text()


def beta_text(value: str) -> str:
    return f"{float(value):.2f}"


def percent_text(value: str) -> str:
    return f"{float(value) * 100:.1f}%"


def numbers(values: list[str | None]) -> list[float | None]:
    """Decimal strings as the page plots them (JSON numbers)."""
    return [None if v is None else float(v) for v in values]


# ---- what works without the portfolio listing ---------------------------------------


def test_sign_in_page_has_labelled_fields_and_a_wrong_password_says_so(
    server: Server, guarded: GuardedPage
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email", exact=True)).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")  # not kept in the page
    expect(page.locator("#dashboard-view")).to_be_hidden()
    # The failed sign-in's 401 is the one console error (Chromium logs failed fetches).
    assert [e for e in guarded.console_errors if "401" not in e] == []
    assert page.evaluate("sessionStorage.length") == 0


def test_an_expired_token_goes_back_to_sign_in(server: Server, guarded: GuardedPage) -> None:
    expired = token_for(server.demo_id, now=datetime.now() - timedelta(days=2))
    page = guarded.page
    page.add_init_script(f"sessionStorage.setItem('risk-dashboard-token', {expired!r})")
    page.goto(server.base)
    expect(page.locator("#signin-notice")).to_have_text(
        "Your session has expired. Please sign in again."
    )
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    assert page.evaluate("sessionStorage.getItem('risk-dashboard-token')") is None
    assert [e for e in guarded.console_errors if "401" not in e] == []


# ---- the dashboard itself -----------------------------------------------------------


def test_demo_user_sees_the_stored_points_and_headline_of_the_latest_snapshot(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    first = demo_portfolios[0]
    latest = DEMO_END.isoformat()
    assert first["latest_snapshot_date"] == latest
    wait_loaded(page, first["id"], latest)

    picker = page.get_by_label("Portfolio", exact=True)
    assert picker.locator("option").all_inner_texts() == [p["name"] for p in demo_portfolios]
    expect(page.get_by_label("Date", exact=True)).to_have_value(latest)

    token = api_token(server)
    risk = api(server, f"/api/v1/portfolios/{first['id']}/risk", token)
    assert metric(page, "beta-weighted") == beta_text(risk["market_beta_weighted"])
    assert metric(page, "beta-direct") == beta_text(risk["market_beta_direct"])
    assert metric(page, "vol-21d") == percent_text(risk["realized_volatility_21d"])
    assert metric(page, "vol-expected") == percent_text(risk["expected_volatility_21d"])

    points = api(server, f"/api/v1/portfolios/{first['id']}/risk/history", token)["points"]
    assert len(points) == 8  # the calculated range
    dates = [p["calculation_date"] for p in points]
    beta = traces(page, "beta-chart")
    assert beta["Weighted beta"]["x"] == dates
    assert beta["Weighted beta"]["y"] == numbers([p["market_beta_weighted"] for p in points])
    assert beta["Direct beta"]["y"] == numbers([p["market_beta_direct"] for p in points])
    vol = traces(page, "vol-chart")
    assert vol["Realized 21-day"]["y"] == numbers([p["realized_volatility_21d"] for p in points])
    assert vol["Expected 21-day (HAR)"]["y"] == numbers(
        [p["expected_volatility_21d"] for p in points]
    )
    concentration = traces(page, "concentration-chart")
    assert concentration["HHI"]["y"] == numbers([p["hhi"] for p in points])
    assert concentration["Top 10"]["y"] == numbers([p["top_10_concentration"] for p in points])

    sectors = traces(page, "sector-chart")
    comparison = risk["benchmark_comparison"]
    if comparison is not None:
        by_sector = {s["sector"]: s for s in comparison["sectors"]}
        active = sectors["Active (over/under)"]
        drawn = dict(zip(active["y"], active["x"], strict=True))
        assert drawn == {k: float(v["active_weight"]) for k, v in by_sector.items()}
    else:
        drawn = dict(zip(sectors["Portfolio"]["y"], sectors["Portfolio"]["x"], strict=True))
        assert drawn == {k: float(v) for k, v in risk["sector_exposure"].items()}

    positions = api(server, f"/api/v1/portfolios/{first['id']}/positions", token)["items"]
    rows = page.locator("#positions tbody tr")
    expect(rows).to_have_count(len(positions))
    assert sorted(page.locator("#positions tbody tr td:first-child").all_inner_texts()) == sorted(
        p["symbol"] for p in positions
    )
    assert page.locator("svg.main-svg").count() >= 5  # the five charts drew SVG

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert guarded.console_errors == []


def test_the_tail_risk_panel_shows_the_latest_figures_and_the_drawdown_history(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    first = demo_portfolios[0]
    latest = DEMO_END.isoformat()
    wait_loaded(page, first["id"], latest)
    token = api_token(server)
    risk = api(server, f"/api/v1/portfolios/{first['id']}/risk", token)
    # The demo's two years of prices are enough for every figure.
    assert risk["var_99_1d"] is not None and risk["max_drawdown_252d"] is not None

    panel = page.get_by_role("region", name="Tail risk")
    expect(panel).to_be_visible()
    two = "{:.2f}%"
    assert metric(page, "var-95") == two.format(float(risk["var_95_1d"]) * 100)
    assert metric(page, "var-99") == two.format(float(risk["var_99_1d"]) * 100)
    assert metric(page, "es-975") == two.format(float(risk["expected_shortfall_975_1d"]) * 100)
    assert metric(page, "max-drawdown") == percent_text(risk["max_drawdown_252d"])
    assert metric(page, "current-drawdown") == percent_text(risk["current_drawdown"])
    assert metric(page, "realized-drawdown") == percent_text(risk["realized_max_drawdown_252d"])
    assert metric(page, "sharpe") == beta_text(risk["sharpe_252d"])
    assert metric(page, "sortino") == beta_text(risk["sortino_252d"])
    expect(page.locator("#tail-note")).to_have_text(
        f"Model: {risk['var_method']} (filtered historical simulation, GPD tail)."
    )

    points = api(server, f"/api/v1/portfolios/{first['id']}/risk/history", token)["points"]
    drawn = traces(page, "drawdown-chart")
    assert drawn["Current drawdown"]["x"] == [p["calculation_date"] for p in points]

    def below_zero(key: str) -> list[float | None]:
        return [None if v is None else -v for v in numbers([p[key] for p in points])]

    assert drawn["Current drawdown"]["y"] == below_zero("current_drawdown")
    assert drawn["Max drawdown 252d"]["y"] == below_zero("max_drawdown_252d")
    assert drawn["Realized max drawdown 252d (as held)"]["y"] == below_zero(
        "realized_max_drawdown_252d"
    )
    # The betas' note appears exactly when they part by more than 0.05.
    gap = abs(float(risk["market_beta_direct"]) - float(risk["market_beta_weighted"]))
    note = page.locator("#beta-note")
    if gap > 0.05:
        expect(note).to_contain_text("The betas part")
    else:
        expect(note).to_be_hidden()
    assert guarded.console_errors == []


def test_a_book_that_changed_in_the_beta_window_shows_the_betas_parting(
    server: Server, guarded: GuardedPage, db: Engine, database: TestDatabase
) -> None:
    """A book that held Johnson & Johnson (beta ~0.55) until three weeks ago and Tesla
    (~1.9) since: today's book regressed on the past says Tesla's beta, the book as held
    much less; the page says the two betas part, and why."""
    owner = add_user(db, "rotated@example.com")
    portfolio_id = add_portfolio(db, owner, "Rotated book", [("TSLA", "LONG", 100, "2025-09-26")])
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO positions (portfolio_id, symbol, position_type, quantity,"
                " entry_price, entry_date, exit_date) VALUES (:p, 'JNJ', 'LONG', 300, 100,"
                " :entry, DATE '2025-09-26')"
            ),
            {"p": portfolio_id, "entry": ENTRY_DATE},
        )
    run = run_python(
        [
            "scripts/calculate_risk_metrics.py",
            "--portfolio",
            str(portfolio_id),
            "--date",
            DEMO_END.isoformat(),
        ],
        subprocess_env(database),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    page = guarded.page
    sign_in(page, server, "rotated@example.com", USER_PASSWORD)
    wait_loaded(page, str(portfolio_id), DEMO_END.isoformat())
    risk = api(
        server,
        f"/api/v1/portfolios/{portfolio_id}/risk",
        api_token(server, "rotated@example.com", USER_PASSWORD),
    )
    direct, weighted = float(risk["market_beta_direct"]), float(risk["market_beta_weighted"])
    assert weighted - direct > 0.3
    expect(page.locator("#beta-note")).to_have_text(
        f"The betas part: direct {direct:.2f} (the book as held each day) vs weighted "
        f"{weighted:.2f} (today's book). The book changed, or its weights drifted, over the "
        "beta window."
    )
    assert guarded.console_errors == []


def test_switching_portfolio_and_date_updates_charts_and_headline(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    latest = DEMO_END.isoformat()
    wait_loaded(page, demo_portfolios[0]["id"], latest)
    token = api_token(server)

    other = demo_portfolios[-1]
    page.get_by_label("Portfolio", exact=True).select_option(label=other["name"])
    wait_loaded(page, other["id"], latest)
    risk = api(server, f"/api/v1/portfolios/{other['id']}/risk", token)
    assert metric(page, "beta-weighted") == beta_text(risk["market_beta_weighted"])
    points = api(server, f"/api/v1/portfolios/{other['id']}/risk/history", token)["points"]
    assert traces(page, "beta-chart")["Weighted beta"]["y"] == numbers(
        [p["market_beta_weighted"] for p in points]
    )

    page.get_by_label("Date", exact=True).fill(EARLIER_DATE)
    wait_loaded(page, other["id"], EARLIER_DATE)
    earlier = api(server, f"/api/v1/portfolios/{other['id']}/risk", token, date=EARLIER_DATE)
    assert earlier["calculation_date"] == EARLIER_DATE
    expect(page.locator("#headline-date")).to_have_text(EARLIER_DATE)
    assert metric(page, "beta-weighted") == beta_text(earlier["market_beta_weighted"])
    assert metric(page, "vol-21d") == percent_text(earlier["realized_volatility_21d"])
    marker = page.evaluate("document.getElementById('beta-chart').layout.shapes[0].x0")
    assert marker == EARLIER_DATE

    page.get_by_label("Date", exact=True).fill(WEEKEND_DATE)
    wait_loaded(page, other["id"], WEEKEND_DATE)
    expect(page.locator("#headline-date")).to_have_text(EARLIER_DATE)
    expect(page.locator("#asof-note")).to_contain_text(f"on or before {WEEKEND_DATE}")
    assert guarded.console_errors == []


def test_positions_table_sorts_from_the_keyboard(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    wait_loaded(page, demo_portfolios[0]["id"], DEMO_END.isoformat())
    symbol_header = page.locator("#positions th").first
    page.locator('button[data-sort="symbol"]').focus()
    page.keyboard.press("Enter")
    expect(symbol_header).to_have_attribute("aria-sort", "ascending")
    symbols = page.locator("#positions tbody td:first-child").all_inner_texts()
    assert symbols == sorted(symbols)
    expect(page.locator('button[data-sort="symbol"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(symbol_header).to_have_attribute("aria-sort", "descending")
    assert page.locator("#positions tbody td:first-child").all_inner_texts() == sorted(
        symbols, reverse=True
    )
    assert guarded.console_errors == []


def test_a_second_user_sees_none_of_the_demo_portfolios_and_what_to_do_next(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, SECOND_EMAIL, SECOND_PASSWORD)
    message = page.locator("#message")
    expect(message).to_contain_text(
        f"No risk snapshots yet for {SECOND_PORTFOLIO}. It has no positions: add one or "
        "import a CSV"
    )
    options = page.get_by_label("Portfolio", exact=True).locator("option").all_inner_texts()
    assert options == [SECOND_PORTFOLIO]
    assert not set(options) & {p["name"] for p in demo_portfolios}
    expect(page.locator("#content")).to_be_hidden()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert guarded.console_errors == []


def test_the_hint_is_this_portfolios_own_command_and_one_date_draws_a_marker(
    server: Server, guarded: GuardedPage, db: Engine, database: TestDatabase
) -> None:
    """A new book entered on the last price date: the page names the calculation of THIS
    portfolio over ITS range; run as shown, it stores one date, which the time charts draw
    as a marker on an axis of days (no "23:59:59.999")."""
    owner = add_user(db, "one-day@example.com")
    name = "One day's book"
    day = DEMO_END.isoformat()
    portfolio_id = add_portfolio(db, owner, name, [("AAPL", "LONG", 10, day)])
    page = guarded.page
    sign_in(page, server, "one-day@example.com", USER_PASSWORD)
    message = page.locator("#message")
    expect(message).to_contain_text(
        f"No risk snapshots yet for {name}. Calculate its figures from its first entry ({day}) "
        f"to the last SPY price ({day}) with:"
    )
    command = message.locator("code").inner_text()
    assert command == (
        "cd backend && uv run python scripts/calculate_risk_metrics.py "
        f"--portfolio {portfolio_id} --from {day} --to {day}"
    )

    run_command_shown(command, database)
    page.reload()
    wait_loaded(page, str(portfolio_id), day)
    for chart in ("beta-chart", "vol-chart", "concentration-chart"):
        drawn = page.evaluate(
            "id => document.getElementById(id).data.map(t => [t.mode, t.x])", chart
        )
        assert all(mode == "markers" and x == [day] for mode, x in drawn), (chart, drawn)
        ticks = page.locator(f"#{chart} .xtick text").all_text_contents()
        assert "Oct 17" in ticks, (chart, ticks)
        assert not [t for t in ticks if ":" in t or "." in t], (chart, ticks)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-one-date.png"), full_page=True)
    assert guarded.console_errors == []


def test_a_date_without_a_snapshot_is_described_as_picked(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    first = demo_portfolios[0]
    wait_loaded(page, first["id"], DEMO_END.isoformat())
    page.get_by_label("Date", exact=True).fill(WEEKEND_DATE)
    wait_loaded(page, first["id"], WEEKEND_DATE)
    expect(page.locator("#asof-note")).to_contain_text(f"on or before {WEEKEND_DATE}")

    before = "2025-10-01"  # before the first calculated date
    page.get_by_label("Date", exact=True).fill(before)
    wait_loaded(page, first["id"], before)
    expect(page.locator("#asof-note")).to_have_text(f"No snapshot on or before {before}.")
    message = page.locator("#message")
    expect(message).to_contain_text(
        f"No risk snapshot of {first['name']} on or before {before}. Pick a later date, or "
        f"calculate its figures from its first entry ({ENTRY_DATE}) to the last SPY price "
        f"({DEMO_END}) with:"
    )
    expect(message.locator("code")).to_have_text(
        "cd backend && uv run python scripts/calculate_risk_metrics.py "
        f"--portfolio {first['id']} --from {ENTRY_DATE} --to {DEMO_END}"
    )
    expect(page.locator("#content")).to_be_hidden()
    # Back to a date with a snapshot: the figures and a note of that date.
    page.get_by_label("Date", exact=True).fill(EARLIER_DATE)
    wait_loaded(page, first["id"], EARLIER_DATE)
    expect(page.locator("#asof-note")).to_have_text("")
    expect(page.locator("#content")).to_be_visible()
    assert guarded.console_errors == [] or all("404" in e for e in guarded.console_errors)


def test_position_types_show_as_words(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    fund = next(p for p in demo_portfolios if "Long/Short" in p["name"])
    page.get_by_label("Portfolio", exact=True).select_option(label=fund["name"])
    wait_loaded(page, fund["id"], DEMO_END.isoformat())
    types = set(page.locator("#positions tbody td:nth-child(2)").all_inner_texts())
    assert types == {"Long", "Short", "Long put", "Short call", "Short put"}
    assert guarded.console_errors == []


def test_the_demos_synthetic_benchmark_weights_are_marked(
    server: Server, browser: Browser, demo_portfolios: list[dict[str, Any]]
) -> None:
    for source in ("file:demo (synthetic)", "FMP"):
        with guarded_page(browser) as guarded:
            page = guarded.page
            if source == "FMP":  # weights of a real seed, as the API would answer them

                def real(route: Route) -> None:
                    body = route.fetch().json()
                    for weight in body["weights"]:
                        weight["data_source"] = "FMP"
                    route.fulfill(json=body)

                page.route("**/api/v1/benchmarks/*/sector-weights?*", real)
            sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
            wait_loaded(page, demo_portfolios[0]["id"], DEMO_END.isoformat())
            note = page.locator("#sector-source")
            if source == "FMP":
                expect(note).to_have_text("Weights source: FMP.")
            else:
                expect(note).to_have_text(
                    "Synthetic weights (file:demo (synthetic)): made up for the demo, not the "
                    "real SP500."
                )
                expect(note).to_have_class("badge warn")
            assert guarded.console_errors == []
            assert guarded.outside_requests == []


def test_the_correlation_heatmap_draws_the_apis_matrix_and_names_what_is_left_out(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    token = api_token(server)
    for portfolio, on in ((demo_portfolios[0], DEMO_END.isoformat()), (demo_portfolios[-1], "")):
        if on == "":
            page.get_by_label("Portfolio", exact=True).select_option(label=portfolio["name"])
            on = portfolio["latest_snapshot_date"] or ""
        wait_loaded(page, portfolio["id"], on)
        found = api(server, f"/api/v1/portfolios/{portfolio['id']}/correlations", token)
        assert found["holdings"], found  # the demo's prices cover the beta window

        drawn: dict[str, Any] = page.evaluate(
            "() => { const t = document.getElementById('correlation-chart').data[0];"
            " return {type: t.type, x: t.x, y: t.y, z: t.z}; }"
        )
        symbols = [h["symbol"] for h in found["holdings"]]
        assert drawn["type"] == "heatmap"
        assert [x.split(" (")[0] for x in drawn["x"]] == symbols
        assert drawn["x"] == drawn["y"] and len(set(drawn["x"])) == len(symbols)
        assert drawn["z"] == [[float(v) for v in row] for row in found["matrix"]]

        note = page.locator("#correlation-note")
        expect(note).to_contain_text(
            f"Largest {len(symbols)} holding(s), {found['observations']} trading days to "
            f"{found['as_of']}."
        )
        ratio = found["diversification_ratio"]
        expect(note).to_contain_text(
            f"Diversification ratio: {float(ratio):.2f} (1 = none)"
            if ratio is not None
            else f"Diversification ratio: – ({found['diversification_ratio_reason']})"
        )
        left_out = page.locator("#correlation-left-out li")
        expect(left_out).to_have_count(len(found["left_out"]))
        for item, expected in zip(left_out.all_inner_texts(), found["left_out"], strict=True):
            assert item == f"{expected['symbol']}: {expected['reason']}"
    assert guarded.console_errors == []


def test_a_failed_correlations_request_is_said_in_its_panel_only(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    page.route(
        "**/api/v1/portfolios/*/correlations*",
        lambda route: route.fulfill(status=500, json={"detail": "boom"}),
    )
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    wait_loaded(page, demo_portfolios[0]["id"], DEMO_END.isoformat())
    expect(page.locator("#correlation-note")).to_have_text(
        "Correlations could not be loaded (500): boom"
    )
    expect(page.locator("#correlation-chart")).to_be_hidden()
    expect(page.locator("#content")).to_be_visible()  # the rest of the page is unaffected
    assert expected_failures_only(guarded.console_errors, 500)


# ---- the owner's book -----------------------------------------------------------------


def expected_failures_only(errors: list[str], *statuses: int) -> bool:
    """Chromium logs each 4xx answer the page asked for (and shows) as a console error."""
    return all(any(f"status of {s}" in e for s in statuses) for e in errors)


def dialog(page: Page, title: str) -> Any:
    return page.get_by_role("dialog", name=title)


# ---- freshness ------------------------------------------------------------------------


def test_a_banner_says_when_figures_are_older_than_the_last_completed_trading_day(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page
    first = demo_portfolios[0]
    assert first["prices_as_of"] == DEMO_END.isoformat()  # Friday 2025-10-17
    # Tuesday 09:00 in New York: Monday's close is the last completed, one day after.
    page.clock.set_fixed_time(datetime(2025, 10, 21, 13, 0, tzinfo=UTC))
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    wait_loaded(page, first["id"], DEMO_END.isoformat())
    banner = page.locator("#freshness")
    expect(banner).to_be_hidden()

    # Wednesday 17:30 in New York: Monday, Tuesday and Wednesday have closed since.
    page.clock.set_fixed_time(datetime(2025, 10, 22, 21, 30, tzinfo=UTC))
    page.reload()
    wait_loaded(page, first["id"], DEMO_END.isoformat())
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(
        "Figures are as of 2025-10-17, 3 trading days before the last completed trading day "
        "(2025-10-22)"
    )
    expect(banner.locator("code")).to_have_text("cd backend && uv run python scripts/refresh.py")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-old-figures.png"))
    assert guarded.console_errors == []


def test_positions_left_out_are_named_beside_the_headline_and_in_the_table(
    server: Server, guarded: GuardedPage, db: Engine, database: TestDatabase
) -> None:
    email = "partly@example.com"
    owner = add_user(db, email)
    entry = "2025-01-02"
    portfolio = add_portfolio(
        db, owner, "Partly priced", [("AAPL", "LONG", 10, entry), ("NOPX", "LONG", 5, entry)]
    )
    day = DEMO_END.isoformat()
    calculated = run_python(
        ["scripts/calculate_risk_metrics.py", "--date", day, "--portfolio", str(portfolio)],
        subprocess_env(database),
    )
    output = calculated.stdout + calculated.stderr
    assert calculated.returncode == 1, output  # NOPX has no price: named, exit 1
    assert f"left out of Partly priced on {day}: NOPX" in output

    page = guarded.page
    page.clock.set_fixed_time(datetime(2025, 10, 20, 21, 0, tzinfo=UTC))  # Monday evening
    sign_in(page, server, email, USER_PASSWORD)
    wait_loaded(page, str(portfolio), day)
    left_out = page.locator("#left-out")
    expect(left_out).to_contain_text("1 position left out of these figures")
    expect(left_out.locator('li[data-symbol="NOPX"]')).to_have_text(
        f"NOPX: no NOPX price on or before {day}: no figures"
    )
    risk = api(
        server, f"/api/v1/portfolios/{portfolio}/risk", api_token(server, email, USER_PASSWORD)
    )
    assert 0 < float(risk["beta_coverage"]) < 1
    assert metric(page, "beta-coverage") == percent_text(risk["beta_coverage"])
    assert metric(page, "top-10") == percent_text(risk["top_10_concentration"]) != "100.0%"
    nopx = page.locator("#positions tbody tr", has_text="NOPX")
    expect(nopx).to_contain_text("Left out: no price")
    aapl = page.locator("#positions tbody tr", has_text="AAPL")
    expect(aapl).to_contain_text(day)  # its price date
    expect(page.locator("#freshness")).to_be_hidden()  # Friday's figures on Monday evening
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-left-out.png"), full_page=True)
    assert guarded.console_errors == []


def test_a_new_user_creates_a_portfolio_then_adds_closes_and_deletes_positions(
    server: Server, guarded: GuardedPage, db: Engine, database: TestDatabase
) -> None:
    add_user(db, "book@example.com")
    page = guarded.page
    sign_in(page, server, "book@example.com", USER_PASSWORD)
    expect(page.locator("#message")).to_contain_text("You have no portfolios yet")
    for name in ("Import CSV", "Add position", "Delete portfolio"):
        expect(page.get_by_role("button", name=name)).to_be_disabled()

    # New portfolio, from the keyboard; a bad equity is named next to its field.
    new = page.get_by_role("button", name="New portfolio")
    new.focus()
    page.keyboard.press("Enter")
    form = dialog(page, "New portfolio")
    expect(form.get_by_label("Name")).to_be_focused()
    expect(form.get_by_label("Currency (ISO 4217)")).to_have_value("USD")
    page.keyboard.type("My book")
    form.get_by_label("Currency (ISO 4217)").fill("EUR")
    form.get_by_label("Equity balance (optional)").fill("-5")
    page.keyboard.press("Enter")
    equity = form.get_by_label("Equity balance (optional)")
    expect(equity).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#pf-equity-error")).to_contain_text("greater than 0")
    expect(equity).to_be_focused()
    equity.fill("250000")
    form.get_by_role("button", name="Create").click()
    expect(form).to_be_hidden()
    expect(page.locator("#book-status")).to_have_text(
        "Created portfolio My book (EUR). Add positions or import a CSV."
    )
    expect(page.get_by_label("Portfolio", exact=True)).to_have_value(
        page.get_by_label("Portfolio", exact=True)
        .locator("option", has_text="My book")
        .get_attribute("value")
        or ""
    )
    expect(page.locator("#message")).to_contain_text("My book. It has no positions")

    # The same name again (any case): 409, said next to the name; Escape gives focus back.
    new.click()
    form.get_by_label("Name").fill("my BOOK")
    form.get_by_role("button", name="Create").click()
    expect(form.locator("#pf-name-error")).to_contain_text("you have a portfolio named")
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(new).to_be_focused()

    # Add a position: a wrong quantity is named; the entry price defaults to the close.
    page.get_by_role("button", name="Add position").click()
    add = dialog(page, "Add a position to My book")
    add.get_by_label("Symbol").fill("aapl")
    add.get_by_label("Quantity (shares or contracts)").fill("0")
    add.get_by_label("Entry date", exact=True).fill("2025-10-13")
    add.get_by_role("button", name="Add position").click()
    expect(add.locator("#ps-quantity-error")).to_contain_text("greater than 0")
    add.get_by_label("Quantity (shares or contracts)").fill("10")
    add.get_by_role("button", name="Add position").click()
    expect(add).to_be_hidden()
    expect(page.locator("#book-status")).to_contain_text("Added AAPL (Long, 10 from 2025-10-13 at ")
    # Its own calculation, as the page names it: the book is marked out of date from its
    # first entry, and the range from there to the last SPY price clears the mark as it
    # computes. Run, figures show, no out-of-date note.
    portfolio_id = page.get_by_label("Portfolio", exact=True).input_value()
    expect(page.locator("#message")).to_contain_text(
        f"No risk snapshots yet for My book. Calculate its figures from its first entry "
        f"(2025-10-13) to the last SPY price ({DEMO_END}) with:"
    )
    command = page.locator("#message code")
    expect(command).to_have_text(
        "cd backend && uv run python scripts/calculate_risk_metrics.py "
        f"--portfolio {portfolio_id} --from 2025-10-13 --to {DEMO_END}"
    )
    run_command_shown(command.inner_text(), database)
    page.reload()
    wait_loaded(page, portfolio_id, DEMO_END.isoformat())
    expect(page.locator("#content")).to_be_visible()
    expect(page.locator("#stale")).to_be_hidden()

    # A symbol without data is never refused: its status and the command that loads it.
    # The figures are now out of date from its entry: the page says so, and what to run.
    page.get_by_role("button", name="Add position").click()
    add.get_by_label("Symbol").fill("ZZZZ")
    add.get_by_label("Type").select_option(label="Short")
    add.get_by_label("Quantity (shares or contracts)").fill("3")
    add.get_by_label("Entry date", exact=True).fill("2025-10-14")
    add.get_by_label("Entry price (optional: the stored close of the entry date)").fill("12.5")
    add.get_by_role("button", name="Add position").click()
    expect(add).to_be_hidden()
    expect(page.locator("#book-status")).to_have_text(
        "Added ZZZZ (Short, 3 from 2025-10-14 at 12.50)."
    )
    rows = page.locator("#positions tbody tr")
    expect(rows).to_have_count(2)  # held on the snapshot's date, 2025-10-17
    zzzz = rows.filter(has_text="ZZZZ")
    expect(zzzz.locator("td").nth(1)).to_have_text("Short")
    expect(zzzz.locator("td.status-missing")).to_have_text("No prices")
    expect(page.locator("#data-note code")).to_have_text(
        "cd backend && uv run python scripts/load_prices.py --fmp ZZZZ"
    )
    stale = page.locator("#stale")
    expect(stale).to_contain_text("Figures out of date from 2025-10-14")
    expect(stale.locator("code")).to_have_text(
        "cd backend && uv run python scripts/calculate_risk_metrics.py --stale "
        f"--portfolio {portfolio_id}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-book.png"), full_page=True)
    run_command_shown(stale.locator("code").inner_text(), database, left_out="ZZZZ")
    page.reload()
    wait_loaded(page, portfolio_id, DEMO_END.isoformat())
    expect(stale).to_be_hidden()

    # Close AAPL: an exit before the entry is named next to the exit date.
    page.get_by_role("button", name="Close AAPL (Long, 10)").click()
    close = dialog(page, "Close AAPL (Long, 10)")
    close.get_by_label("Exit date").fill("2025-10-10")
    close.get_by_role("button", name="Close position").click()
    expect(close.locator("#cl-exit-date-error")).not_to_be_empty()
    close.get_by_label("Exit date").fill("2025-10-16")
    close.get_by_label("Exit price (optional)").fill("250")
    close.get_by_role("button", name="Close position").click()
    expect(close).to_be_hidden()
    expect(page.locator("#book-status")).to_have_text("Closed AAPL on 2025-10-16 at 250.00.")
    expect(rows).to_have_count(1)  # AAPL was sold before the snapshot's date
    token = api_token(server, "book@example.com", USER_PASSWORD)
    (listed,) = api(server, "/api/v1/portfolios", token)["items"]
    assert listed["stale_from"] is not None
    expect(stale).to_contain_text(f"Figures out of date from {listed['stale_from']}")

    # Delete ZZZZ (entered by mistake): the confirmation starts on Cancel.
    page.get_by_role("button", name="Delete ZZZZ (Short, 3)").click()
    confirm = dialog(page, "Are you sure?")
    expect(confirm).to_contain_text("Only for an entry made by mistake")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Delete").click()
    expect(confirm).to_be_hidden()
    expect(rows).to_have_count(0)
    expect(page.locator("#book-status")).to_have_text("Deleted ZZZZ from My book.")

    # Delete the portfolio.
    page.get_by_role("button", name="Delete portfolio").click()
    expect(confirm).to_contain_text("Delete the portfolio My book?")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator("#message")).to_contain_text("You have no portfolios yet")
    assert api(server, "/api/v1/portfolios", token)["items"] == []
    assert expected_failures_only(guarded.console_errors, 409, 422), guarded.console_errors


IMPORT_BAD = "symbol,quantity,entry_date\nMSFT,5,2025-10-13\nKO,abc,2025-10-14\n,3,2025-10-14\n"
IMPORT_GOOD = "symbol,quantity,entry_date\nMSFT,5,2025-10-13\nKO,20,2025-10-14\n"


def csv_file(body: str) -> dict[str, Any]:
    return {"name": "book.csv", "mimeType": "text/csv", "buffer": body.encode()}


def test_a_csv_import_is_previewed_before_anything_is_written(
    server: Server, guarded: GuardedPage, db: Engine
) -> None:
    owner = add_user(db, "import@example.com")
    portfolio_id = add_portfolio(db, owner, "Imported book", [("AAPL", "LONG", 10, "2025-10-13")])
    token = api_token(server, "import@example.com", USER_PASSWORD)
    page = guarded.page
    sign_in(page, server, "import@example.com", USER_PASSWORD)
    expect(page.locator("#positions tbody tr")).to_have_count(1)

    page.get_by_role("button", name="Import CSV").click()
    form = dialog(page, "Import positions into Imported book")
    form.get_by_label("CSV file").set_input_files(csv_file(IMPORT_BAD))
    form.get_by_role("button", name="Preview").click()
    rejected = form.locator("#import-rejected tbody tr")
    expect(rejected).to_have_count(2)
    assert [row.locator("td").all_inner_texts()[:2] for row in rejected.all()] == [
        ["3", "quantity"],
        ["4", "symbol"],
    ]
    expect(form.locator("#import-summary")).to_contain_text("2 rows rejected, nothing written")
    expect(form.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-import-rejected.png"))

    # A good file, replacing the book on a date: the dry run says what would change.
    form.get_by_label("CSV file").set_input_files(csv_file(IMPORT_GOOD))
    form.get_by_label("Replace: the file is the whole book on the date below").check()
    form.get_by_label("As of").fill(DEMO_END.isoformat())
    form.get_by_role("button", name="Preview").click()
    expect(form.locator("#import-summary")).to_have_text(
        f"Nothing is written yet. On {DEMO_END} (replace) this import would add 2, close 1 "
        "and leave 0 unchanged."
    )
    added = form.locator("#import-added tbody tr")
    assert [r.locator("td").all_inner_texts()[:4] for r in added.all()] == [
        ["2", "MSFT", "Long", "5"],
        ["3", "KO", "Long", "20"],
    ]
    expect(form.locator("#import-closed tbody tr")).to_have_count(1)
    expect(form.locator("#import-closed tbody tr td").nth(1)).to_have_text("AAPL")
    expect(form.locator("#import-rejected h3")).to_have_text("Rejected: 0")
    page.screenshot(path=str(ARTIFACTS / "dashboard-import-preview.png"), full_page=True)
    book = api(server, f"/api/v1/portfolios/{portfolio_id}/positions", token)["items"]
    assert [p["symbol"] for p in book] == ["AAPL"]  # the dry runs wrote nothing

    write = form.get_by_role("button", name="Import: add 2, close 1")
    expect(write).to_be_enabled()
    form.get_by_label("As of").fill("2025-10-16")  # a change after the preview: preview again
    expect(write).to_be_disabled()
    form.get_by_label("As of").fill(DEMO_END.isoformat())
    form.get_by_role("button", name="Preview").click()
    expect(write).to_be_enabled()
    write.focus()
    page.keyboard.press("Enter")
    expect(form).to_be_hidden()
    expect(page.locator("#book-status")).to_have_text(
        f"Imported into Imported book on {DEMO_END}: 2 added, 1 closed, 0 unchanged."
    )
    symbols = page.locator("#positions tbody tr td:first-child")
    assert sorted(symbols.all_inner_texts()) == ["KO", "MSFT"]
    book = api(server, f"/api/v1/portfolios/{portfolio_id}/positions", token)["items"]
    assert sorted(p["symbol"] for p in book) == ["KO", "MSFT"]
    expect(page.locator("#message")).to_contain_text(
        f"its figures from its first entry (2025-10-13) to the last SPY price ({DEMO_END})"
    )
    assert expected_failures_only(guarded.console_errors, 422), guarded.console_errors


def test_an_unavailable_api_is_reported(
    server: Server, guarded: GuardedPage, demo_portfolios: list[dict[str, Any]]
) -> None:
    page = guarded.page

    # What the app answers when its database is down (app.api.errors): a 503 with detail.
    def unavailable(route: Route) -> None:
        route.fulfill(status=503, json={"detail": "database unavailable"})

    page.route("**/api/v1/portfolios/*/risk?*", unavailable)
    page.route("**/api/v1/portfolios/*/risk", unavailable)
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    expect(page.locator("#message")).to_contain_text("The service is unavailable right now")
    expect(page.locator("#content")).to_be_hidden()
    assert [e for e in guarded.console_errors if "503" not in e] == []


def test_readable_on_a_narrow_screen(
    server: Server, browser: Browser, demo_portfolios: list[dict[str, Any]]
) -> None:
    with guarded_page(browser, width=390, height=844) as guarded:
        page = guarded.page
        sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
        wait_loaded(page, demo_portfolios[0]["id"], DEMO_END.isoformat())
        # No sideways scrolling of the page: the wide table scrolls inside its own box.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        charts = page.locator(".chart").all()
        assert (
            len(charts) == 7
        )  # beta, volatility, sectors, concentration, factors, correlations, drawdown
        for chart in charts:
            box = chart.bounding_box()
            assert box is not None and 0 < box["width"] <= 390
        assert guarded.outside_requests == []
        assert guarded.console_errors == []


def test_screenshot_script_writes_a_png_of_the_whole_dashboard(
    server: Server,
    database: TestDatabase,
    demo_portfolios: list[dict[str, Any]],
    guarded: GuardedPage,
    tmp_path: Path,
) -> None:
    script = ["scripts/dashboard_screenshot.py", "--url", server.base, "--password-stdin"]
    output = tmp_path / "dashboard.png"
    result = run_python(
        [*script, "--output", str(output)],
        subprocess_env(database),
        stdin=DEMO_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    png = output.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert DEMO_PASSWORD not in result.stdout + result.stderr
    # The whole page, down to its last panel, not the viewport: as tall as the page.
    page = guarded.page
    sign_in(page, server, DEMO_EMAIL, DEMO_PASSWORD)
    wait_loaded(page, demo_portfolios[0]["id"], DEMO_END.isoformat())
    size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
    assert size == (1280, page.evaluate("document.documentElement.scrollHeight"))
    assert size[1] > 800

    # main() in this process, on a thread of its own: Playwright's sync API refuses to
    # start on a thread where it already runs (this module's browser).
    with ThreadPoolExecutor(1) as thread:
        wrong = thread.submit(
            run_script,
            "dashboard_screenshot",
            *script[1:],
            "--output",
            str(tmp_path / "no.png"),
            env=script_env(database.env_url),
            stdin="wrong password\n",
        ).result()
    assert wrong.returncode == 2
    assert "Wrong email or password" in wrong.stderr
    assert not (tmp_path / "no.png").exists()
