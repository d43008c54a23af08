"""Findings 5 and 6: security headers only on ``/``.

5. ``/dashboard/static/index.html`` served the whole sign-in page without CSP,
   frame-ancestors or nosniff (frameable, CSP bypassed); ``/docs`` and ``/redoc`` could be
   framed; API and static responses lacked ``X-Content-Type-Options: nosniff``.
6. The token response and signed-in data carried no ``Cache-Control: no-store``
   (RFC 6749 5.1).

Replayed against the app on a real PostgreSQL: every kind of response it gives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from devtools.databases import TestDatabase
from tests.support.auth import PASSWORD, bearer, make_signed_in_user

ANY_RESPONSE = [
    ("GET", "/"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/openapi.json"),
    ("GET", "/health"),
    ("GET", "/health/db"),
    ("GET", "/dashboard"),  # a redirect
    ("GET", "/dashboard/static/app.js"),
    ("GET", "/dashboard/static/style.css"),
    ("GET", "/dashboard/vendor/plotly.min.js"),
    ("GET", "/static-offline-docs/swagger-ui.css"),
    ("GET", "/dashboard/static/index.html"),  # 404 now
    ("GET", "/nowhere"),  # 404
    ("GET", "/api/v1/me"),  # 401
    ("GET", "/api/v1/portfolios/not-a-uuid/risk"),  # 401 before validation
    ("GET", "/api/v1/benchmarks/SP500/sector-weights?asof=yesterday"),  # 422
    ("DELETE", "/health"),  # 405
    ("GET", "/probe/crash"),  # 500
]
HTML_PAGES = ["/", "/docs", "/redoc", "/docs/oauth2-redirect"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def probed(database: TestDatabase) -> AsyncIterator[FastAPI]:
    """The real app plus a route that fails: 500s pass through the policy too."""
    app = create_app(database.async_url)

    @app.get("/probe/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def http(probed: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=probed, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(("method", "path"), ANY_RESPONSE)
async def test_finding_5_every_response_is_nosniff_and_never_framed(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await http.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff", response.status_code
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    # Each header once: the app's own copies are replaced, not doubled.
    for name in ("x-content-type-options", "x-frame-options", "content-security-policy"):
        assert len(response.headers.get_list(name)) == 1, name


@pytest.mark.parametrize("path", HTML_PAGES)
async def test_finding_5_every_html_page_has_a_policy_without_inline_script(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = {
        directive.split(" ", 1)[0]: directive.split(" ", 1)[1]
        for directive in response.headers["content-security-policy"].split("; ")
    }
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]


async def test_finding_5_the_dashboard_page_is_served_only_with_its_headers(
    http: httpx.AsyncClient,
) -> None:
    for path in ("/dashboard/static/index.html", "/dashboard/static/INDEX.HTML"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert "Sign in" not in response.text
    page = await http.get("/")
    assert "<form" in page.text and "script-src 'self'" in page.headers["content-security-policy"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def user_headers(seed_session: AsyncSession) -> dict[str, str]:
    user = await make_signed_in_user(seed_session, "reader@example.com")
    await seed_session.commit()
    return bearer(user.id)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/me", "/api/v1/portfolios", "/api/v1/benchmarks/SP500/sector-weights", "/health/db"],
)
async def test_finding_6_signed_in_responses_are_never_stored(
    http: httpx.AsyncClient, user_headers: dict[str, str], path: str
) -> None:
    response = await http.get(path, headers=user_headers)
    assert response.headers["cache-control"] == "no-store", response.status_code
    assert len(response.headers.get_list("cache-control")) == 1


async def test_finding_6_the_token_response_is_never_stored(
    http: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await http.post(
        "/api/v1/auth/token", data={"username": "reader@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
