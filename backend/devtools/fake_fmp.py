"""A fake Financial Modeling Prep API served over real HTTP on 127.0.0.1.

It answers like the current ``/stable`` API, quirks included:

- ``/stable/sp500-constituent``: 503 rows for 500 companies; GOOGL/GOOG, FOXA/FOX and
  NWSA/NWS share a cik; sector labels are FMP's, some rows GICS's (older responses);
- ``/stable/nasdaq-constituent`` (101 rows, 100 companies, no Real Estate) and
  ``/stable/dowjones-constituent`` (30 rows, no Materials, Real Estate or Utilities), the
  same shape; companies in two indexes have one cap; plans without them get 402;
- ``/stable/batch-quote?symbols=...``: last prices with a Unix-seconds ``timestamp``
  (16:00 New York on the data's date), known symbols only, reversed;
- ``/stable/market-capitalization-batch?symbols=...``: company-level caps (both share
  classes report the company), some fractional; symbols without data (BRK.B) are
  dropped silently; rows come back in reverse order (match by symbol, never position);
- errors: missing/wrong key -> 401 JSON "Invalid API KEY" (or the older 200 with that
  body when ``legacy_auth_errors``); ``restricted_paths`` -> 402 plain text;
  ``/api/v3/...`` -> 403 "Legacy Endpoint"; unknown path -> 404 ``[]``; bad parameters ->
  400 plain text; injected 429 "Limit Reach" JSON without Retry-After, or as a 200.

Tests inject faults per request (:meth:`FakeFmp.fail_next`), count requests in
``requests`` and serve more endpoints with :meth:`FakeFmp.add_route`. Tests and the
benchmarks share it (``tests.support.fake_fmp`` adds the ``fake_fmp`` fixture, which
``tests/conftest.py`` registers for every test).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

STABLE = "/stable"
INVALID_KEY_MESSAGE = (
    "Invalid API KEY. Feel free to create a Free API Key or visit "
    "https://site.financialmodelingprep.com/faqs?search=why-is-my-api-key-invalid for more "
    "information."
)
LIMIT_REACH_MESSAGE = (
    "Limit Reach . Please upgrade your plan or visit our documentation for more details at "
    "https://site.financialmodelingprep.com/"
)
LEGACY_MESSAGE = (
    "Legacy Endpoint : Due to Legacy endpoints being no longer supported - This endpoint is "
    "only available for legacy users who have valid subscriptions prior August 31, 2025."
)
RESTRICTED_TEXT = (
    "Restricted Endpoint: This endpoint is not available under your current subscription "
    "please visit our subscription page to upgrade your plan at "
    "https://site.financialmodelingprep.com/developer/docs/pricing"
)
PREMIUM_PARAM_TEXT = (
    "Premium Query Parameter: 'symbols' is not available under your current subscription"
)

# --- data ---------------------------------------------------------------------------------

FMP_LABEL: dict[str, str] = {
    "Information Technology": "Technology",
    "Financials": "Financial Services",
    "Consumer Discretionary": "Consumer Cyclical",
    "Consumer Staples": "Consumer Defensive",
    "Health Care": "Healthcare",
    "Materials": "Basic Materials",
    "Communication Services": "Communication Services",
    "Industrials": "Industrials",
    "Energy": "Energy",
    "Utilities": "Utilities",
    "Real Estate": "Real Estate",
}
"""GICS -> FMP label, written here independently of app.core.sectors (ground truth)."""

# Companies per GICS sector (500 in all); Communication Services has 3 dual-class ones.
COMPANIES_PER_SECTOR: dict[str, int] = {
    "Information Technology": 69,
    "Financials": 73,
    "Health Care": 60,
    "Consumer Discretionary": 50,
    "Communication Services": 23,
    "Industrials": 78,
    "Consumer Staples": 37,
    "Energy": 22,
    "Utilities": 31,
    "Real Estate": 31,
    "Materials": 26,
}

# Named companies: (symbols, cik, GICS sector, company cap per share class).
_NAMED: list[tuple[tuple[str, ...], str, str, tuple[str | None, ...]]] = [
    (("AAPL",), "0000320193", "Information Technology", ("3512345678901.45",)),
    (("MSFT",), "0000789019", "Information Technology", ("3398765432109.8",)),
    (("NVDA",), "0001045810", "Information Technology", ("4401234567890.125",)),
    # Both classes report the company's cap; GOOG's is a slightly different snapshot.
    (
        ("GOOGL", "GOOG"),
        "0001652044",
        "Communication Services",
        ("2301234567890.55", "2300987654321.05"),
    ),
    (
        ("FOXA", "FOX"),
        "0001754301",
        "Communication Services",
        ("25123456789.375", "25123456789.375"),
    ),
    (("NWSA", "NWS"), "0001564708", "Communication Services", ("16987654321.5", "16987654321.5")),
    (("META",), "0001326801", "Communication Services", ("1745678901234.99",)),
    (("JPM",), "0000019617", "Financials", ("701234567890.4",)),
    # In the index, but FMP has no market cap for it: dropped from batch answers.
    (("BRK.B",), "0001067983", "Financials", (None,)),
    (("XOM",), "0000034088", "Energy", ("489123456789.005",)),
]
# The NASDAQ-100: 100 companies (GOOGL/GOOG one of them), no Real Estate.
NDX_COMPANIES_PER_SECTOR: dict[str, int] = {
    "Information Technology": 40,
    "Communication Services": 15,
    "Consumer Discretionary": 14,
    "Health Care": 12,
    "Consumer Staples": 6,
    "Industrials": 6,
    "Utilities": 4,
    "Energy": 1,
    "Materials": 1,
    "Financials": 1,
}
NDX_NAMED = [n for n in _NAMED if n[0][0] in {"AAPL", "MSFT", "NVDA", "GOOGL", "META"}]

# The Dow: 30 companies, no Materials, Real Estate or Utilities.
DJIA_COMPANIES_PER_SECTOR: dict[str, int] = {
    "Information Technology": 6,
    "Financials": 6,
    "Health Care": 5,
    "Industrials": 5,
    "Consumer Discretionary": 3,
    "Consumer Staples": 3,
    "Communication Services": 1,
    "Energy": 1,
}
DJIA_NAMED = [n for n in _NAMED if n[0][0] in {"AAPL", "MSFT", "NVDA", "JPM"}]

_FRACTIONS = ("0", "0.5", "0.25", "0.125", "0.37", "0.999", "0.01", "0.005")

ASOF = date(2025, 11, 14)


@dataclass
class Sp500Data:
    """What the fake serves; tests may edit it (it is per fixture instance)."""

    constituents: list[dict[str, Any]]
    market_caps: dict[str, Decimal | None]  # None: FMP has no data, symbol dropped
    gics: dict[str, str]  # symbol -> true GICS sector (not served)
    asof: date = ASOF
    cap_dates: dict[str, date] = field(default_factory=dict)  # per-symbol date override
    prices: dict[str, Decimal] = field(default_factory=dict)  # last price, for /batch-quote

    @classmethod
    def default(cls) -> Sp500Data:
        """The S&P 500: 503 symbols of 500 companies in all 11 sectors."""
        return cls.build(_NAMED, COMPANIES_PER_SECTOR, suffix="X", cik_base=2_000_000)

    @classmethod
    def build(
        cls,
        named: list[tuple[tuple[str, ...], str, str, tuple[str | None, ...]]],
        companies_per_sector: dict[str, int],
        *,
        suffix: str,
        cik_base: int,
    ) -> Sp500Data:
        """An index of ``named`` companies, then made-up ones (``<sector letter><n><suffix>``)
        up to ``companies_per_sector``."""
        constituents: list[dict[str, Any]] = []
        caps: dict[str, Decimal | None] = {}
        gics: dict[str, str] = {}
        row_no = 0

        def add(symbol: str, cik: str, sector: str, cap: str | None) -> None:
            nonlocal row_no
            row_no += 1
            # Mixed labels: every 5th row carries the older GICS label.
            label = sector if row_no % 5 == 0 else FMP_LABEL[sector]
            constituents.append(
                {
                    "symbol": symbol,
                    "name": f"{symbol} Holdings Inc.",
                    "sector": label,
                    "subSector": f"{label} - general",
                    "headQuarter": "Somewhere, USA",
                    "dateFirstAdded": "1990-01-01",
                    "cik": cik,
                    "founded": "1950",
                }
            )
            caps[symbol] = None if cap is None else Decimal(cap)
            gics[symbol] = sector

        named_per_sector: dict[str, int] = {}
        for symbols, cik, sector, class_caps in named:
            named_per_sector[sector] = named_per_sector.get(sector, 0) + 1
            for symbol, cap in zip(symbols, class_caps, strict=True):
                add(symbol, cik, sector, cap)
        serial = 0
        for sector_no, (sector, companies) in enumerate(companies_per_sector.items()):
            for n in range(companies - named_per_sector.get(sector, 0)):
                serial += 1
                whole = 4_000_000_000 + (serial * 2_654_435_761) % 390_000_000_000
                amount = Decimal(whole) + Decimal(_FRACTIONS[serial % len(_FRACTIONS)])
                add(
                    f"{chr(65 + sector_no)}{n:03d}{suffix}",
                    f"{cik_base + serial:010d}",
                    sector,
                    str(amount),
                )
        for symbol, stored in caps.items():
            # Served as JSON numbers: keep them exactly representable as shortest floats.
            assert stored is None or Decimal(repr(float(stored))) == stored, symbol
        # Prices from 20 to 900 with cents, one per symbol whatever the index: a
        # price-weighted index far from its caps.
        prices = {s: Decimal(2_000 + zlib.crc32(s.encode()) % 88_000) / 100 for s in caps}
        return cls(constituents=constituents, market_caps=caps, gics=gics, prices=prices)

    def symbols(self) -> list[str]:
        return [row["symbol"] for row in self.constituents]

    def cap_rows(self, symbols: list[str]) -> list[dict[str, Any]]:
        """What /market-capitalization-batch answers: known symbols only, reversed."""
        rows = []
        for symbol in symbols:
            cap = self.market_caps.get(symbol)
            if cap is None:
                continue
            when = self.cap_dates.get(symbol, self.asof)
            rows.append({"symbol": symbol, "date": when.isoformat(), "marketCap": float(cap)})
        return rows[::-1]

    def quote_rows(self, symbols: list[str]) -> list[dict[str, Any]]:
        """What /batch-quote answers: known symbols only, reversed; the quote time is
        16:00 New York time on ``asof`` (20:00 or 21:00 UTC)."""
        close = datetime.combine(self.asof, clock(16), ZoneInfo("America/New_York"))
        rows = []
        for symbol in symbols:
            price = self.prices.get(symbol)
            if price is None:
                continue
            rows.append(
                {
                    "symbol": symbol,
                    "name": f"{symbol} Holdings Inc.",
                    "price": float(price),
                    "changePercentage": 0.42,
                    "change": 0.5,
                    "volume": 1_234_567,
                    "marketCap": float(self.market_caps.get(symbol) or 0),
                    "exchange": "NYSE",
                    "previousClose": float(price) - 0.5,
                    "timestamp": int(close.timestamp()),
                }
            )
        return rows[::-1]


# --- HTTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names

    @property
    def api_key(self) -> str | None:
        """The key as FMP reads it: ``apikey`` query parameter or header."""
        return self.query.get("apikey") or self.headers.get("apikey")


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # close the socket without answering
    delay: float = 0.0  # seconds to wait before answering (timeouts)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kw: Any) -> FakeResponse:
        return cls(status=status, body=json.dumps(payload).encode(), **kw)

    @classmethod
    def text(cls, text: str, status: int, **kw: Any) -> FakeResponse:
        return cls(status=status, body=text.encode(), content_type="text/plain", **kw)


Handler = Callable[[RecordedRequest], FakeResponse]


@dataclass
class _Fault:
    response: FakeResponse
    times: int
    path: str | None


class FakeFmp:
    """One fake FMP server; ``base_url`` is what FMP_BASE_URL should be set to."""

    def __init__(self) -> None:
        self.api_key = f"fake-fmp-key-{uuid.uuid4().hex}"
        self.data = Sp500Data.default()
        self.ndx = Sp500Data.build(
            NDX_NAMED, NDX_COMPANIES_PER_SECTOR, suffix="N", cik_base=3_000_000
        )
        self.djia = Sp500Data.build(
            DJIA_NAMED, DJIA_COMPANIES_PER_SECTOR, suffix="D", cik_base=4_000_000
        )
        self.requests: list[RecordedRequest] = []
        self.legacy_auth_errors = False  # older FMP: 200 with {"Error Message": ...}
        self.restricted_paths: set[str] = set()  # answered 402 plain text
        self.max_batch_symbols = 100
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._routes: dict[str, Handler] = {
            f"{STABLE}/sp500-constituent": lambda r: FakeResponse.json(self.data.constituents),
            f"{STABLE}/nasdaq-constituent": lambda r: FakeResponse.json(self.ndx.constituents),
            f"{STABLE}/dowjones-constituent": lambda r: FakeResponse.json(self.djia.constituents),
            f"{STABLE}/market-capitalization-batch": self._market_caps,
            f"{STABLE}/batch-quote": self._quotes,
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeFmp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeFmp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + STABLE

    # -- test controls -----------------------------------------------------------------

    def add_route(self, path: str, handler: Handler) -> None:
        """Serve ``path`` (e.g. ``/stable/historical-price-eod/full``) with ``handler``;
        key checks, faults and the request log apply as for built-in endpoints."""
        with self._lock:
            self._routes[path] = handler

    def handler_for(self, path: str) -> Handler:
        """The handler serving ``path`` now (to wrap it in a new route)."""
        with self._lock:
            return self._routes[path]

    def fail_next(
        self,
        times: int,
        status: int = 503,
        *,
        body: str | bytes | None = None,
        content_type: str = "text/plain",
        headers: dict[str, str] | None = None,
        path: str | None = None,
        drop_connection: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests (to ``path`` only, if given) this way."""
        raw = body.encode() if isinstance(body, str) else (body or b"Service Unavailable")
        self.inject(
            FakeResponse(
                status=status,
                body=raw,
                content_type=content_type,
                headers=dict(headers or {}),
                drop_connection=drop_connection,
                delay=delay,
            ),
            times=times,
            path=path,
        )

    def inject(self, response: FakeResponse, *, times: int = 1, path: str | None = None) -> None:
        with self._lock:
            self._faults.append(_Fault(response, times, path))

    def rate_limit_next(self, times: int, *, as_200: bool = False) -> None:
        """FMP's rate limit: 429 JSON without Retry-After, or (sometimes) a 200."""
        self.inject(
            FakeResponse.json({"Error Message": LIMIT_REACH_MESSAGE}, 200 if as_200 else 429),
            times=times,
        )

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/" + endpoint.lstrip("/"))]

    # -- request handling ----------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.path in (None, request.path):
                    fault.times -= 1
                    return fault.response
            route = self._routes.get(request.path)
        if request.path.startswith("/api/v3/"):
            return FakeResponse.json({"Error Message": LEGACY_MESSAGE}, 403)
        if request.api_key != self.api_key:
            status = 200 if self.legacy_auth_errors else 401
            return FakeResponse.json({"Error Message": INVALID_KEY_MESSAGE}, status)
        if request.path in self.restricted_paths:
            return FakeResponse.text(RESTRICTED_TEXT, 402)
        if route is None:
            return FakeResponse.json([], 404)
        return route(request)

    def _market_caps(self, request: RecordedRequest) -> FakeResponse:
        raw = request.query.get("symbols", "")
        symbols = [s for s in raw.split(",") if s]
        if not symbols:
            return FakeResponse.text("Invalid or missing query parameter: symbols", 400)
        if len(symbols) > self.max_batch_symbols:
            return FakeResponse.text(
                f"Bad Request: at most {self.max_batch_symbols} symbols per request", 400
            )
        rows = []
        for symbol in symbols:  # one cap table: a company in two indexes has one cap
            index = next((d for d in self._indexes() if symbol in d.market_caps), self.data)
            rows.extend(index.cap_rows([symbol]))
        return FakeResponse.json(rows[::-1])

    def _quotes(self, request: RecordedRequest) -> FakeResponse:
        symbols = [s for s in request.query.get("symbols", "").split(",") if s]
        if not symbols:
            return FakeResponse.text("Invalid or missing query parameter: symbols", 400)
        rows = []
        for symbol in symbols:
            index = next((d for d in self._indexes() if symbol in d.prices), self.data)
            rows.extend(index.quote_rows([symbol]))
        return FakeResponse.json(rows[::-1])

    def _indexes(self) -> tuple[Sp500Data, ...]:
        return (self.data, self.ndx, self.djia)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method="GET",
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                response = fake._respond(request)
                if response.delay:
                    time.sleep(response.delay)
                if response.drop_connection:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(response.body)))
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up first (a timeout test): nothing to answer.
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return _Handler
