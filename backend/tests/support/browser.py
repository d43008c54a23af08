"""Headless Chromium for browser tests: Debian's ``chromium`` driven by Playwright.

Playwright cannot download its own browsers here, so the tests use the system one and
skip (with this reason) only where none is installed. Every page is guarded: requests to
any host but 127.0.0.1 are aborted and recorded, and console errors are recorded, so a
test can assert the dashboard works offline and cleanly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Page, Route

NO_CHROMIUM = "no chromium on PATH: install Debian's package (apt-get install -y chromium)"


def chromium_executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class GuardedPage:
    page: Page
    outside_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def guarded_page(
    browser: Browser, *, width: int = 1280, height: int = 800
) -> Iterator[GuardedPage]:
    context = browser.new_context(viewport={"width": width, "height": height})
    guarded = GuardedPage(context.new_page())

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            guarded.outside_requests.append(route.request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            guarded.console_errors.append(message.text)

    context.route("**/*", only_loopback)
    guarded.page.on("console", on_console)
    guarded.page.on("pageerror", lambda exc: guarded.console_errors.append(str(exc)))
    try:
        yield guarded
    finally:
        context.close()
