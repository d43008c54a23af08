"""The dashboard at ``/``: static HTML, JS modules and CSS, plus plotly.js from the
installed ``plotly`` wheel (no CDN, no build step: the page works offline).

The page only calls the JSON API with the bearer token it gets from sign-in, so these
routes need no session and no user.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
DASHBOARD_PREFIX = "/dashboard"
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    # no-cache: a new release's page is picked up on reload (it is small).
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


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
        f"{DASHBOARD_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static"
    )
