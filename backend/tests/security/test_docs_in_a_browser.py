"""Finding 5 in a browser: /docs and /redoc, now under a Content-Security-Policy that
allows their own inline script by hash only, still render in Chromium with no CSP
violation (Chromium reports each one as a console error), and the dashboard's page cannot
be framed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import uvicorn_app
from tests.support.browser import NO_CHROMIUM, chromium_executable, guarded_page

pytestmark = [
    pytest.mark.skipif(chromium_executable() is None, reason=NO_CHROMIUM),
    pytest.mark.slow,  # uvicorn and Chromium are child processes
]


REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def base(database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log: Path = tmp_path_factory.mktemp("docs") / "uvicorn.log"
    with uvicorn_app(subprocess_env(database), log) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    assert executable is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id]")],
)
def test_the_docs_render_under_their_policy(
    browser: Browser, base: str, path: str, rendered: str
) -> None:
    with guarded_page(browser) as guarded:
        guarded.page.goto(f"{base}{path}")
        expect(guarded.page.locator(rendered).first).to_be_visible(timeout=30_000)
        # ReDoc's bundle shows Redocly's logo from their CDN: the policy keeps it out, as
        # it does anything not served by the app. Nothing else may be refused.
        refused = [e for e in guarded.console_errors if REDOCLY_LOGO not in e]
        assert refused == []
        assert guarded.outside_requests == []


def test_the_sign_in_page_and_the_docs_cannot_be_framed(browser: Browser, base: str) -> None:
    framing = f'<iframe src="{base}/"></iframe><iframe src="{base}/docs"></iframe>'
    with guarded_page(browser) as guarded:
        guarded.page.set_content(framing)
        guarded.page.wait_for_timeout(2000)
        framed = guarded.page.frames[1:]
        assert len(framed) == 2
        for frame in framed:
            assert frame.locator("#signin-form, #swagger-ui").count() == 0, frame.url
        refusals = [e for e in guarded.console_errors if "frame-ancestors" in e]
        assert len(refusals) == 2, guarded.console_errors
