"""/docs and /redoc work offline (every asset same-origin, served by the app), and CORS
follows CORS_ORIGINS (off by default)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app

# Nothing listens there: these tests need no database (the lifespan is not run).
NO_DATABASE = "postgresql://nobody@127.0.0.1:9/none"
FRONTEND = "http://localhost:5173"
_ASSET = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


async def _client(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(NO_DATABASE, settings))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest_asyncio.fixture(loop_scope="session")
async def plain() -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(Settings(CORS_ORIGINS="")) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def with_cors() -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(Settings(CORS_ORIGINS=f"{FRONTEND}, https://app.example")) as client:
        yield client


@pytest.mark.parametrize(
    ("page", "scripts"),
    [("/docs", {"swagger-ui-bundle.js"}), ("/redoc", {"redoc.standalone.js"})],
)
async def test_docs_pages_load_only_same_origin_assets_that_the_app_serves(
    plain: httpx.AsyncClient, page: str, scripts: set[str]
) -> None:
    response = await plain.get(page)
    assert response.status_code == 200
    html = response.text
    urls = [a or b for a, b in _ASSET.findall(html)]
    assert urls, html
    # Same origin: absolute paths, no scheme, no protocol-relative //host.
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
    assert "http://" not in html and "https://" not in html
    assert scripts <= {url.rsplit("/", 1)[-1] for url in urls}
    for url in urls:
        asset = await plain.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]


async def test_without_cors_origins_a_preflight_gets_no_cors_headers(
    plain: httpx.AsyncClient,
) -> None:
    response = await plain.options(
        "/api/v1/benchmarks/SP500/sector-weights",
        headers={"Origin": FRONTEND, "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


async def test_a_listed_origin_passes_the_preflight_with_a_bearer_token_header(
    with_cors: httpx.AsyncClient,
) -> None:
    response = await with_cors.options(
        "/api/v1/portfolios/00000000-0000-0000-0000-000000000000/risk",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers
    # Simple requests carry the header too, and a client may read Retry-After.
    health = await with_cors.get("/health", headers={"Origin": FRONTEND})
    assert health.headers["access-control-allow-origin"] == FRONTEND
    assert "retry-after" in health.headers["access-control-expose-headers"].lower()


async def test_an_origin_not_listed_is_refused(with_cors: httpx.AsyncClient) -> None:
    response = await with_cors.options(
        "/health",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    simple = await with_cors.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_origins_accepts_a_list_and_rejects_what_is_not_an_origin() -> None:
    parsed = Settings(CORS_ORIGINS=" https://a.example ,http://localhost:5173/,http://[::1]:8000")
    assert parsed.cors_origins == [
        "https://a.example",
        "http://localhost:5173",
        "http://[::1]:8000",
    ]
    assert Settings(CORS_ORIGINS="").cors_origins == []
    assert Settings(CORS_ORIGINS="*").cors_origins == ["*"]
    for bad in ("https://a.example/app", "a.example", "ftp://a.example"):
        with pytest.raises(ValidationError, match="not an origin"):
            Settings(CORS_ORIGINS=bad)
