"""The dashboard's files as the app serves them (no browser needed)."""

from __future__ import annotations

import httpx

from app.dashboard.routes import PLOTLY_JS


async def test_root_serves_the_sign_in_page_with_labelled_fields(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<label for="email">Email</label>' in page
    assert '<label for="password">Password</label>' in page
    assert '<button type="submit">Sign in</button>' in page
    # Everything the page loads comes from the app itself.
    assert "https://" not in page and "http://" not in page
    # ... and the browser is told to load nothing else (the browser tests see no violation).
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy


async def test_plotly_is_served_from_the_installed_wheel(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == PLOTLY_JS.read_bytes()


async def test_static_modules_are_served_and_missing_files_are_404(
    client: httpx.AsyncClient,
) -> None:
    for name in (
        "app.js",
        "api.js",
        "book.js",
        "charts.js",
        "commands.js",
        "correlations.js",
        "format.js",
        "forms.js",
        "freshness.js",
        "positions.js",
        "style.css",
    ):
        assert (await client.get(f"/dashboard/static/{name}")).status_code == 200, name
    assert (await client.get("/dashboard/static/nope.js")).status_code == 404


async def test_dashboard_routes_stay_out_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/dashboard")]
