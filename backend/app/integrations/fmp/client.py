"""Financial Modeling Prep (FMP) client for the current ``/stable`` API.

One ``httpx.AsyncClient`` per instance. Every request is an idempotent GET, retried on
its own (never the whole job) on 429, 5xx and connection errors with bounded attempts and
total time, honouring ``Retry-After``; caller or account problems (400/401/402/403/404)
fail at once. FMP also reports errors in 200 responses (``{"Error Message": ...}``):
those are classified the same way.

The API key travels in the ``apikey`` header, so it is never part of a URL that httpx or
a log line could print; every error text is additionally passed through :func:`redact`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import stamina
from pydantic import TypeAdapter, ValidationError

from app.config import Settings
from app.core.errors import EXIT_USAGE_ERROR, AppError
from app.core.redaction import redact
from app.core.types import BENCHMARK_CODES, DEFAULT_BENCHMARK
from app.integrations.fmp.schemas import FmpConstituent, FmpMarketCap, FmpQuote

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth asking again: throttling, timeouts and server-side failures."""

MARKET_CAP_BATCH_SIZE = 100
"""Symbols per /market-capitalization-batch request (503 constituents -> 6 requests)."""

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_BODY_SNIPPET = 300

INDEX_ENDPOINTS: dict[str, str] = {
    DEFAULT_BENCHMARK: "sp500-constituent",
    "NDX": "nasdaq-constituent",
    "DJIA": "dowjones-constituent",
}
"""Benchmark code -> FMP constituents endpoint (one shape for all three; FMP's plans below
the paid ones answer 402 for them): the benchmarks that can be seeded."""
assert tuple(INDEX_ENDPOINTS) == BENCHMARK_CODES


# --- errors -------------------------------------------------------------------------------


class FmpError(AppError):
    """Any failure talking to FMP. ``str(error)`` is safe to show: it says what to do and
    never contains the API key."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        super().__init__(message)
        self.status = status
        self.path = path


class FmpAuthError(FmpError):
    """401 / "Invalid API KEY": the key is missing, wrong or revoked (fix the setting)."""

    exit_code = EXIT_USAGE_ERROR


class FmpPlanError(FmpError):
    """402 (restricted endpoint or premium parameter) or 403 legacy endpoint."""


class FmpRateLimitError(FmpError):
    """429 / "Limit Reach", still refused after the retries."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class FmpUnavailableError(FmpError):
    """5xx, timeouts or connection failures, still failing after the retries."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class FmpBadResponseError(FmpError):
    """An answer we cannot use: 400, 404, non-JSON, or not the documented shape."""


_TRANSIENT = (FmpRateLimitError, FmpUnavailableError)


# --- client -------------------------------------------------------------------------------


class FmpClient:
    """Async FMP client; use as ``async with FmpClient(key, base_url) as fmp: ...``."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        max_total_seconds: float = 180.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise FmpAuthError(
                "FMP_API_KEY is not set: add FMP_API_KEY=<your key> to backend/.env or "
                "export it in the shell"
            )
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._max_total_seconds = max_total_seconds
        self.requests_sent: Counter[str] = Counter()
        """HTTP requests sent so far, by endpoint path (each retry counts)."""
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            timeout=timeout or DEFAULT_TIMEOUT,
            headers={"apikey": api_key, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, offline_hint: str) -> Self:
        """The client every command uses: key, base URL and retry policy from settings.

        ``offline_hint`` says how to do without FMP when the key is missing.
        """
        if settings.fmp_api_key is None:
            raise FmpAuthError(
                "FMP_API_KEY is not set. Add a line FMP_API_KEY=<your key> to backend/.env, "
                "or run `export FMP_API_KEY=<your key>` first (free keys: "
                f"financialmodelingprep.com). {offline_hint}"
            )
        return cls(
            settings.fmp_api_key.get_secret_value(),
            settings.fmp_base_url,
            max_attempts=settings.fmp_max_attempts,
            backoff=settings.fmp_retry_backoff,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def redact(self, text: str) -> str:
        return redact(text, [self._api_key])

    # -- one GET -----------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        exact_decimals: bool = False,
    ) -> Any:
        """GET ``path`` (relative to the base URL) and return the decoded JSON.

        ``exact_decimals`` decodes JSON numbers with a fraction as ``Decimal`` (money).
        Raises an :class:`FmpError` subclass; transient failures are retried first.
        """
        path = path.lstrip("/")
        attempt_no = 0
        try:
            async for attempt in stamina.retry_context(
                on=self._retry_delay,
                attempts=self.max_attempts,
                timeout=self._max_total_seconds,
                wait_initial=self._backoff,
                wait_max=self._max_backoff,
                wait_jitter=self._backoff,
            ):
                with attempt:
                    attempt_no = attempt.num
                    response = await self._send(path, params)
                    return self._decode(path, response, exact_decimals=exact_decimals)
        except _TRANSIENT as exc:
            if attempt_no > 1:
                exc.args = (f"{exc.args[0]} (gave up after {attempt_no} attempts)",)
            raise
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    def _retry_delay(self, exc: Exception) -> bool | float:
        """stamina backoff hook: retry transient errors, waiting Retry-After when given."""
        if not isinstance(exc, _TRANSIENT):
            return False
        if exc.retry_after is None:
            return True
        if exc.retry_after > self._max_retry_after:
            return False  # FMP asks for a longer pause than a seed run should sit through
        return exc.retry_after

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return sum(self.requests_sent.values())

    async def _send(self, path: str, params: Mapping[str, str] | None) -> httpx.Response:
        started = time.monotonic()
        self.requests_sent[path] += 1
        try:
            response = await self._http.get(path, params=dict(params or {}))
        except httpx.UnsupportedProtocol:
            raise FmpError(
                f"FMP_BASE_URL {self.redact(self.base_url)!r} is not an http(s) URL; the "
                "default is https://financialmodelingprep.com/stable",
                path=path,
            ) from None
        except httpx.TimeoutException as exc:
            raise FmpUnavailableError(
                f"FMP did not answer in time ({type(exc).__name__}) for /{path}: "
                "check your network or try again later",
                path=path,
            ) from None
        except httpx.TransportError as exc:
            raise FmpUnavailableError(
                f"cannot reach FMP at {self.redact(self.base_url)} ({type(exc).__name__}: "
                f"{self.redact(str(exc)) or 'connection failed'}): check your network and "
                "FMP_BASE_URL",
                path=path,
            ) from None
        logger.debug(
            "GET /%s -> %s (%.2fs)", path, response.status_code, time.monotonic() - started
        )
        return response

    def _decode(self, path: str, response: httpx.Response, *, exact_decimals: bool) -> Any:
        status = response.status_code
        text = response.text
        snippet = self.redact(" ".join(text.split())[:_BODY_SNIPPET])
        where = f"/{path}"
        if status == 200:
            try:
                payload = json.loads(text, parse_float=Decimal if exact_decimals else float)
            except ValueError:
                raise FmpBadResponseError(
                    f"FMP answered {where} with something that is not JSON: {snippet!r}",
                    status=status,
                    path=path,
                ) from None
            if isinstance(payload, dict) and "Error Message" in payload:
                raise self._error_from_message(str(payload["Error Message"]), status, path)
            return payload
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        if status == 401:
            raise self._error_from_message(_error_message(text) or snippet, status, path)
        if status == 402:
            raise FmpPlanError(
                f"your FMP plan does not include {where} (HTTP 402: {snippet}): "
                "check your subscription at financialmodelingprep.com or use --from-file",
                status=status,
                path=path,
            )
        if status == 403:
            message = _error_message(text) or snippet
            if "legacy" in message.lower():
                raise FmpPlanError(
                    f"FMP refused {where} as a legacy endpoint (HTTP 403: {message}): "
                    "keys issued after 2025-08-31 only work with the /stable API; set "
                    "FMP_BASE_URL=https://financialmodelingprep.com/stable",
                    status=status,
                    path=path,
                )
            raise FmpAuthError(
                f"FMP refused access to {where} (HTTP 403: {message}): check FMP_API_KEY "
                "and your plan",
                status=status,
                path=path,
            )
        if status == 429:
            raise FmpRateLimitError(
                f"FMP rate limit reached (HTTP 429: {_error_message(text) or snippet}): "
                "wait a minute and run again, or check your plan's request limit",
                retry_after=retry_after,
                status=status,
                path=path,
            )
        if status in RETRYABLE_STATUS_CODES or status >= 500:
            raise FmpUnavailableError(
                f"FMP is unavailable (HTTP {status} for {where}): try again later",
                retry_after=retry_after,
                status=status,
                path=path,
            )
        if status == 404:
            raise FmpBadResponseError(
                f"FMP has no endpoint {where} (HTTP 404): check that FMP_BASE_URL "
                f"({self.redact(self.base_url)}) ends with /stable",
                status=status,
                path=path,
            )
        raise FmpBadResponseError(
            f"FMP rejected the request to {where} (HTTP {status}: {snippet})",
            status=status,
            path=path,
        )

    def _error_from_message(self, message: str, status: int, path: str) -> FmpError:
        """Classify FMP's ``Error Message`` text (sent with 401/403/429, or with a 200)."""
        message = self.redact(" ".join(message.split())[:_BODY_SNIPPET])
        lowered = message.lower()
        if "limit reach" in lowered:
            return FmpRateLimitError(
                f"FMP rate limit reached ({message}): wait a minute and run again, or check "
                "your plan's request limit",
                status=status,
                path=path,
            )
        if "legacy" in lowered or "restricted" in lowered or "premium" in lowered:
            return FmpPlanError(
                f"your FMP plan does not allow /{path} ({message}): check your subscription "
                "and that FMP_BASE_URL points at the /stable API",
                status=status,
                path=path,
            )
        if status == 401 or "api key" in lowered or "apikey" in lowered:
            return FmpAuthError(
                f"FMP rejected the API key ({message}): set FMP_API_KEY in backend/.env or "
                "the environment to a valid key from financialmodelingprep.com",
                status=status,
                path=path,
            )
        return FmpBadResponseError(
            f"FMP answered /{path} with an error: {message}", status=status, path=path
        )

    # -- endpoints ---------------------------------------------------------------------

    async def index_constituents(
        self, benchmark_code: str = DEFAULT_BENCHMARK
    ) -> list[FmpConstituent]:
        """Current constituents of a benchmark (``/sp500-constituent`` for SP500,
        ``/nasdaq-constituent`` for NDX, ``/dowjones-constituent`` for DJIA)."""
        try:
            path = INDEX_ENDPOINTS[benchmark_code]
        except KeyError:
            raise ValueError(
                f"no FMP constituents endpoint for benchmark {benchmark_code!r}; "
                f"known: {', '.join(INDEX_ENDPOINTS)}"
            ) from None
        payload = await self.get_json(path)
        return parse_payload(_CONSTITUENTS, payload, path)

    async def market_caps(
        self,
        symbols: Sequence[str],
        *,
        batch_size: int = MARKET_CAP_BATCH_SIZE,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[FmpMarketCap]:
        """Market caps for ``symbols``, ``batch_size`` per request. FMP silently drops
        symbols it has no data for: callers match rows by symbol, never by position.
        ``on_batch(n_symbols)`` is called after each batch (progress display)."""
        return await self._batched(
            "market-capitalization-batch", _MARKET_CAPS, symbols, batch_size, on_batch
        )

    async def quotes(
        self,
        symbols: Sequence[str],
        *,
        batch_size: int = MARKET_CAP_BATCH_SIZE,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[FmpQuote]:
        """Last prices of ``symbols`` (``/batch-quote``), ``batch_size`` per request; as
        with market caps, symbols FMP has nothing for are left out of its answer."""
        return await self._batched("batch-quote", _QUOTES, symbols, batch_size, on_batch)

    async def _batched(
        self,
        path: str,
        adapter: TypeAdapter[list[T]],
        symbols: Sequence[str],
        batch_size: int,
        on_batch: Callable[[int], None] | None,
    ) -> list[T]:
        """The rows of a ``symbols=A,B,...`` endpoint, ``batch_size`` distinct symbols per
        request, ``on_batch(n_symbols)`` after each."""
        if not 1 <= batch_size <= MARKET_CAP_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MARKET_CAP_BATCH_SIZE}")
        rows: list[T] = []
        unique = list(dict.fromkeys(symbols))
        for start in range(0, len(unique), batch_size):
            batch = unique[start : start + batch_size]
            payload = await self.get_json(path, {"symbols": ",".join(batch)}, exact_decimals=True)
            rows.extend(parse_payload(adapter, payload, path))
            if on_batch is not None:
                on_batch(len(batch))
        return rows


T = TypeVar("T")

_CONSTITUENTS = TypeAdapter(list[FmpConstituent])
_MARKET_CAPS = TypeAdapter(list[FmpMarketCap])
_QUOTES = TypeAdapter(list[FmpQuote])


def parse_payload(
    adapter: TypeAdapter[list[T]], payload: Any, path: str, subject: str = ""
) -> list[T]:
    """Validate an FMP JSON list; a shape FMP changed becomes FmpBadResponseError.
    ``subject`` (e.g. the symbol asked for) is named in the message."""
    try:
        return adapter.validate_python(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FmpBadResponseError(
            f"FMP answered /{path}{f' for {subject}' if subject else ''} in an unexpected "
            f"shape ({exc.error_count()} problem(s), "
            f"first at {where or 'top level'}: {first['msg']})",
            path=path,
        ) from None


def _error_message(text: str) -> str | None:
    """FMP's ``{"Error Message": ...}`` text, if the body is that."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if isinstance(payload, dict) and "Error Message" in payload:
        return str(payload["Error Message"])
    return None


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent/garbled."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
