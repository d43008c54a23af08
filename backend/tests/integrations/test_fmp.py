"""FmpClient against the fake FMP over real HTTP: endpoints, retries, fail-fast errors,
error bodies in 200 answers, and the API key kept out of every error text."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
import stamina

from app.integrations.fmp.client import (
    FmpAuthError,
    FmpBadResponseError,
    FmpClient,
    FmpError,
    FmpPlanError,
    FmpRateLimitError,
    FmpUnavailableError,
    redact,
)
from tests.support.fake_fmp import (
    PREMIUM_PARAM_TEXT,
    STABLE,
    FakeFmp,
    FakeResponse,
    RecordedRequest,
)

FAST = {"backoff": 0.001, "max_backoff": 0.01}


def client_for(fake: FakeFmp, *, key: str | None = None, **kw: object) -> FmpClient:
    options = {**FAST, **kw}
    return FmpClient(key or fake.api_key, fake.base_url, **options)  # type: ignore[arg-type]


@pytest.fixture
async def fmp(fake_fmp: FakeFmp) -> AsyncIterator[FmpClient]:
    async with client_for(fake_fmp) as client:
        yield client


@pytest.fixture
def retries() -> Iterator[list[stamina.instrumentation.RetryDetails]]:
    """Records the retries stamina schedules (and how long each waits)."""
    seen: list[stamina.instrumentation.RetryDetails] = []
    previous = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([seen.append])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(previous)


def assert_no_key(fake: FakeFmp, exc: BaseException) -> None:
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        assert fake.api_key not in text


# --- endpoints ---------------------------------------------------------------------------


async def test_constituents_are_parsed_and_the_key_travels_in_a_header(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    rows = await fmp.index_constituents()
    assert [r.symbol for r in rows] == fake_fmp.data.symbols()
    googl, goog = (next(r for r in rows if r.symbol == s) for s in ("GOOGL", "GOOG"))
    assert googl.cik == goog.cik == "0001652044"
    (request,) = fake_fmp.requests
    assert request.api_key == fake_fmp.api_key
    assert request.headers["apikey"] == fake_fmp.api_key
    assert fake_fmp.api_key not in request.path and "apikey" not in request.query


async def test_market_caps_come_in_batches_of_100_matched_by_symbol_with_exact_decimals(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    symbols = fake_fmp.data.symbols()
    batches: list[int] = []
    rows = await fmp.market_caps(symbols, on_batch=batches.append)

    requests = fake_fmp.requests_to("market-capitalization-batch")
    sizes = [len(r.query["symbols"].split(",")) for r in requests]
    assert sizes == batches == [100, 100, 100, 100, 100, 3]
    expected = {s: c for s, c in fake_fmp.data.market_caps.items() if c is not None}
    assert {r.symbol: r.market_cap for r in rows} == expected  # BRK.B dropped, order ignored
    assert all(isinstance(r.market_cap, Decimal) for r in rows)
    assert {r.date for r in rows} == {fake_fmp.data.asof}


async def test_batch_size_above_100_is_refused_before_any_request(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await fmp.market_caps(["AAPL"], batch_size=101)
    assert fake_fmp.requests == []


async def test_add_route_serves_extra_endpoints_behind_the_same_key_check(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    def profile(request: RecordedRequest) -> FakeResponse:
        return FakeResponse.json([{"symbol": request.query["symbol"], "beta": 1.25}])

    fake_fmp.add_route(f"{STABLE}/profile", profile)
    assert await fmp.get_json("profile", {"symbol": "AAPL"}) == [{"symbol": "AAPL", "beta": 1.25}]
    async with client_for(fake_fmp, key="wrong-key") as bad:
        with pytest.raises(FmpAuthError):
            await bad.get_json("/profile", {"symbol": "AAPL"})


# --- retries -------------------------------------------------------------------------------


async def test_503s_are_retried_until_the_answer_comes(
    fake_fmp: FakeFmp, fmp: FmpClient, retries: list[stamina.instrumentation.RetryDetails]
) -> None:
    fake_fmp.fail_next(2, 503)
    rows = await fmp.index_constituents()
    assert len(rows) == len(fake_fmp.data.constituents)
    assert len(fake_fmp.requests) == 3
    assert [r.retry_num for r in retries] == [1, 2]


@pytest.mark.parametrize("as_200", [False, True], ids=["429", "200-limit-reach"])
async def test_rate_limit_without_retry_after_is_retried_with_backoff(
    fake_fmp: FakeFmp,
    fmp: FmpClient,
    retries: list[stamina.instrumentation.RetryDetails],
    as_200: bool,
) -> None:
    fake_fmp.rate_limit_next(2, as_200=as_200)
    assert len(await fmp.index_constituents()) == len(fake_fmp.data.constituents)
    assert len(fake_fmp.requests) == 3
    assert all(isinstance(r.caused_by, FmpRateLimitError) for r in retries)


@pytest.mark.parametrize("as_200", [False, True], ids=["429", "200-limit-reach"])
async def test_persistent_rate_limit_gives_up_after_max_attempts(
    fake_fmp: FakeFmp, as_200: bool
) -> None:
    fake_fmp.rate_limit_next(10, as_200=as_200)
    async with client_for(fake_fmp, max_attempts=3) as fmp:
        with pytest.raises(FmpRateLimitError, match="gave up after 3 attempts") as info:
            await fmp.index_constituents()
    assert len(fake_fmp.requests) == 3
    assert "wait a minute" in str(info.value)
    assert_no_key(fake_fmp, info.value)


async def test_retry_after_seconds_is_honoured(
    fake_fmp: FakeFmp, fmp: FmpClient, retries: list[stamina.instrumentation.RetryDetails]
) -> None:
    fake_fmp.fail_next(1, 429, headers={"Retry-After": "1"})
    await fmp.index_constituents()
    assert [r.wait_for for r in retries] == [1.0]


async def test_retry_after_longer_than_allowed_fails_at_once(fake_fmp: FakeFmp) -> None:
    fake_fmp.fail_next(5, 503, headers={"Retry-After": "3600"})
    async with client_for(fake_fmp, max_retry_after=60) as fmp:
        with pytest.raises(FmpUnavailableError, match="try again later"):
            await fmp.index_constituents()
    assert len(fake_fmp.requests) == 1


async def test_retry_after_as_http_date_in_the_past_retries_at_once(
    fake_fmp: FakeFmp, fmp: FmpClient, retries: list[stamina.instrumentation.RetryDetails]
) -> None:
    fake_fmp.fail_next(1, 503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    await fmp.index_constituents()
    assert [r.wait_for for r in retries] == [0.0]


async def test_persistent_5xx_raises_unavailable(fake_fmp: FakeFmp) -> None:
    fake_fmp.fail_next(10, 502)
    async with client_for(fake_fmp, max_attempts=2) as fmp:
        with pytest.raises(FmpUnavailableError, match=r"HTTP 502.*gave up after 2 attempts"):
            await fmp.index_constituents()
    assert len(fake_fmp.requests) == 2


async def test_dropped_connection_is_retried(fake_fmp: FakeFmp, fmp: FmpClient) -> None:
    fake_fmp.fail_next(1, drop_connection=True)
    assert len(await fmp.index_constituents()) == len(fake_fmp.data.constituents)
    assert len(fake_fmp.requests) == 2


async def test_slow_answer_times_out_and_is_retried_then_reported(fake_fmp: FakeFmp) -> None:
    fake_fmp.fail_next(2, 200, body="[]", delay=0.5)
    async with client_for(fake_fmp, max_attempts=2, timeout=httpx.Timeout(0.1)) as fmp:
        with pytest.raises(FmpUnavailableError, match="did not answer in time") as info:
            await fmp.index_constituents()
    assert len(fake_fmp.requests) == 2
    assert_no_key(fake_fmp, info.value)


async def test_nothing_listening_raises_unavailable_without_the_key() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = "unreachable-secret-key"
    async with FmpClient(key, f"http://127.0.0.1:{port}/stable", max_attempts=2, **FAST) as fmp:
        with pytest.raises(FmpUnavailableError, match="cannot reach FMP") as info:
            await fmp.index_constituents()
    assert key not in str(info.value) and key not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- fail fast ---------------------------------------------------------------------------


async def test_wrong_key_is_an_auth_error_without_retry(fake_fmp: FakeFmp) -> None:
    async with client_for(fake_fmp, key="not-the-key") as fmp:
        with pytest.raises(FmpAuthError, match="FMP_API_KEY") as info:
            await fmp.index_constituents()
    assert info.value.status == 401
    assert len(fake_fmp.requests) == 1


async def test_invalid_key_in_a_200_body_is_an_auth_error(fake_fmp: FakeFmp) -> None:
    fake_fmp.legacy_auth_errors = True
    async with client_for(fake_fmp, key="not-the-key") as fmp:
        with pytest.raises(FmpAuthError, match="Invalid API KEY") as info:
            await fmp.index_constituents()
    assert info.value.status == 200
    assert len(fake_fmp.requests) == 1


async def test_restricted_endpoint_402_is_a_plan_error(fake_fmp: FakeFmp, fmp: FmpClient) -> None:
    fake_fmp.restricted_paths.add(f"{STABLE}/market-capitalization-batch")
    with pytest.raises(FmpPlanError, match=r"HTTP 402: Restricted Endpoint.*subscription"):
        await fmp.market_caps(["AAPL"])
    assert len(fake_fmp.requests) == 1


async def test_premium_query_parameter_402_is_a_plan_error(
    fake_fmp: FakeFmp, fmp: FmpClient
) -> None:
    fake_fmp.fail_next(1, 402, body=PREMIUM_PARAM_TEXT)
    with pytest.raises(FmpPlanError, match="Premium Query Parameter"):
        await fmp.market_caps(["AAPL"])
    assert len(fake_fmp.requests) == 1


async def test_legacy_v3_endpoint_403_says_to_use_stable(fake_fmp: FakeFmp) -> None:
    async with FmpClient(fake_fmp.api_key, fake_fmp.url + "/api/v3", **FAST) as fmp:  # type: ignore[arg-type]
        with pytest.raises(FmpPlanError, match=r"legacy endpoint.*FMP_BASE_URL=.*/stable"):
            await fmp.index_constituents()
    assert len(fake_fmp.requests) == 1


async def test_400_plain_text_is_reported_without_retry(fake_fmp: FakeFmp, fmp: FmpClient) -> None:
    with pytest.raises(FmpBadResponseError, match="HTTP 400: Invalid or missing"):
        await fmp.get_json("market-capitalization-batch")
    assert len(fake_fmp.requests) == 1


async def test_unknown_path_404_points_at_the_base_url(fake_fmp: FakeFmp) -> None:
    async with FmpClient(fake_fmp.api_key, fake_fmp.url + "/v4", **FAST) as fmp:  # type: ignore[arg-type]
        with pytest.raises(FmpBadResponseError, match=r"HTTP 404.*ends with /stable"):
            await fmp.index_constituents()
    assert len(fake_fmp.requests) == 1


async def test_non_json_200_is_a_bad_response(fake_fmp: FakeFmp, fmp: FmpClient) -> None:
    fake_fmp.fail_next(1, 200, body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(FmpBadResponseError, match="not JSON"):
        await fmp.index_constituents()


async def test_unexpected_shape_is_a_bad_response(fake_fmp: FakeFmp, fmp: FmpClient) -> None:
    fake_fmp.inject(FakeResponse.json({"symbols": []}))
    with pytest.raises(FmpBadResponseError, match="unexpected shape"):
        await fmp.index_constituents()


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [400, 402, 403, 429, 500],
)
async def test_a_key_echoed_by_the_server_is_redacted_from_errors(
    fake_fmp: FakeFmp, status: int
) -> None:
    echo = f"bad request for /stable/x?apikey={fake_fmp.api_key}&symbols=A (key {fake_fmp.api_key})"
    fake_fmp.fail_next(5, status, body=echo)
    async with client_for(fake_fmp, max_attempts=1) as fmp:
        with pytest.raises(FmpError) as info:
            await fmp.index_constituents()
    assert_no_key(fake_fmp, info.value)
    if status != 500:  # 5xx messages do not quote the body
        assert "***" in str(info.value)


def test_redact_hides_secrets_and_apikey_values() -> None:
    text = "GET https://x/stable/a?apikey=abc123&b=1 failed; header apikey: abc123; s3cr3t!"
    cleaned = redact(text, ["s3cr3t!"])
    assert "abc123" not in cleaned and "s3cr3t!" not in cleaned
    assert "b=1" in cleaned


async def test_empty_key_is_refused_before_any_request(fake_fmp: FakeFmp) -> None:
    with pytest.raises(FmpAuthError, match="FMP_API_KEY is not set"):
        FmpClient("", fake_fmp.base_url)
    assert fake_fmp.requests == []


async def test_base_url_without_http_scheme_fails_at_once() -> None:
    async with FmpClient("k", "ftp://example.invalid/stable", **FAST) as fmp:
        with pytest.raises(FmpError, match="not an http"):
            await fmp.index_constituents()
