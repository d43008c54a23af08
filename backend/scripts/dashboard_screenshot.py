"""Take the README's dashboard screenshot from a running app, in headless Chromium.

    cd backend
    uv run uvicorn app.main:app &   # after demo_data.py and calculate_risk_metrics.py
    uv run python scripts/dashboard_screenshot.py --password-stdin < demo-password.txt
    uv run python scripts/dashboard_screenshot.py --output /tmp/shot.png --width 390 --height 844 \
        --password-stdin < demo-password.txt

Signs in through the page as a person would (the password is read from one line of
standard input, never from an argument), waits for the charts and writes a PNG
(default ../docs/dashboard.png). Needs Debian's `chromium` (apt-get install chromium):
Playwright drives it and downloads no browser. Exit codes: 0 ok, 1 the page did not
load (server down, no data), 2 usage or configuration (no Chromium, wrong password).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TextIO

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from rich.console import Console

from app.config import BACKEND_DIR
from app.core.cli import EXIT_DATA_ERROR, EXIT_OK, EXIT_USAGE_ERROR, CommandError, run_command
from app.prices.demo import DEMO_EMAIL

DEFAULT_OUTPUT = BACKEND_DIR.parent / "docs" / "dashboard.png"
# Charts drawn and headline filled: app.js sets data-loaded once a selection has rendered.
LOADED = "body[data-loaded]:not([aria-busy])"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dashboard_screenshot.py",
        description="Sign in to the dashboard in headless Chromium and save a screenshot.",
        epilog="Exit codes: 0 ok, 1 the page did not load, 2 usage/config error.",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running app")
    parser.add_argument("--email", default=DEMO_EMAIL)
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of standard input",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument(
        "--viewport-only", action="store_true", help="the visible viewport, not the whole page"
    )
    return parser.parse_args(argv)


def chromium_executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise CommandError(EXIT_USAGE_ERROR, "no chromium on PATH (apt-get install -y chromium)")
    return found


def take_screenshot(args: argparse.Namespace, password: str) -> Path:
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start as root with its sandbox on.
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            try:
                page.goto(args.url)
            except PlaywrightError:
                raise CommandError(EXIT_DATA_ERROR, f"no app answers at {args.url}") from None
            page.get_by_label("Email", exact=True).fill(args.email)
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()
            error = page.locator("#signin-error:not(:empty)")
            page.locator(f"{LOADED}, #signin-error:not(:empty)").first.wait_for(timeout=60_000)
            if error.count():
                raise CommandError(EXIT_USAGE_ERROR, f"sign-in failed: {error.inner_text()}")
            if page.locator("#content").is_hidden():
                shown = page.locator("#message").inner_text().replace("\n", " ")
                raise CommandError(EXIT_DATA_ERROR, f"the dashboard shows no data: {shown}")
            args.output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.output), full_page=not args.viewport_only)
        finally:
            browser.close()
    return Path(args.output)


def read_password(stdin: TextIO) -> str:
    password = stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError(EXIT_USAGE_ERROR, "--password-stdin: no password on standard input")
    return password


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    args = parse_args(argv)
    out, err = Console(highlight=False), Console(stderr=True)

    def body() -> int:
        password = read_password(sys.stdin if stdin is None else stdin)
        path = take_screenshot(args, password)
        out.print(f"screenshot written: {path}", markup=False)
        return EXIT_OK

    return run_command(body, err=err, interrupted="interrupted: no screenshot written")


if __name__ == "__main__":
    sys.exit(main())
