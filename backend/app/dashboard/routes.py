"""The dashboard at ``/``: static HTML, JS modules and CSS, plus plotly.js from the
installed ``plotly`` wheel (no CDN, no build step: the page works offline).

The page only calls the JSON API with the bearer token it gets from sign-in, so these
routes need no session and no user. Its HTML is served at ``/`` only, with the page's own
Content-Security-Policy; the static mount serves its scripts and styles, never HTML.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).with_name("static")
DASHBOARD_PREFIX = "/dashboard"
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))

router = APIRouter(include_in_schema=False)

# The page loads only its own files and talks only to this origin; Plotly sets inline
# styles on the SVG it draws, hence 'unsafe-inline' for styles (never for scripts). The
# headers every response carries (nosniff, ...) are the request policy's (app.api.policy).
PAGE_HEADERS = {
    "Cache-Control": "no-cache",  # a new release's page is picked up on reload (it is small)
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}
PAGE_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".svg"})
"""Files the static mount refuses: documents a browser would run as a page of this origin."""


class AssetFiles(StaticFiles):
    """The dashboard's scripts, styles and images; a page file is not found here (the page
    is served at ``/`` only, where its Content-Security-Policy is set)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if PurePosixPath(path).suffix.lower() in PAGE_SUFFIXES:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.get(f"{DASHBOARD_PREFIX}/vendor/plotly.min.js")
async def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript")


@router.get(DASHBOARD_PREFIX)
async def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/")


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page at ``/`` and its assets under /dashboard/static."""
    app.include_router(router)
    app.mount(
        f"{DASHBOARD_PREFIX}/static", AssetFiles(directory=STATIC_DIR), name="dashboard-static"
    )
