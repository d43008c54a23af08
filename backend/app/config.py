"""Application settings: the one place every configurable value is read from."""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BACKEND_DIR = Path(__file__).resolve().parent.parent
DEFAULT_EMBEDDED_PGDATA = BACKEND_DIR / ".pgdata" / "main"
PasswordHashProfile = Literal["RFC_9106_LOW_MEMORY", "CHEAPEST"]
"""Names of argon2-cffi parameter profiles (``argon2.profiles``) a password hash may use."""
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[^/\s:\[\]]+)(:\d{1,5})?/?")


class Settings(BaseSettings):
    """Read from the environment, then from ``backend/.env`` when present."""

    model_config = SettingsConfigDict(
        env_file=BACKEND_DIR / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # Unset means: start the embedded PostgreSQL under backend/.pgdata/.
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    embedded_pgdata: Path = Field(default=DEFAULT_EMBEDDED_PGDATA, alias="EMBEDDED_PGDATA")

    fmp_api_key: SecretStr | None = Field(default=None, alias="FMP_API_KEY")
    fmp_base_url: str = Field(
        default="https://financialmodelingprep.com/stable", alias="FMP_BASE_URL"
    )
    # Retries per FMP request (429/5xx/connection errors) and the first back-off in seconds
    # (doubling, with jitter of the same size, up to 30 s; Retry-After wins when sent).
    fmp_max_attempts: int = Field(default=4, ge=1, le=10, alias="FMP_MAX_ATTEMPTS")
    fmp_retry_backoff: float = Field(default=1.0, ge=0, le=60, alias="FMP_RETRY_BACKOFF")
    # Stored trading days a price refresh asks for again, to find the past FMP rescaled
    # (a new split or dividend) or revised: when they disagree, the symbol is reloaded.
    price_overlap_days: int = Field(default=5, ge=1, le=60, alias="PRICE_OVERLAP_DAYS")
    # The engine's freshness rule: a position whose last price is more than this many of
    # the market's trading days before the calculation date gets no figures (it counts as
    # uncovered exposure and is named with its reason) instead of figures on an old close.
    stale_price_trading_days: int = Field(default=3, ge=0, le=252, alias="STALE_PRICE_TRADING_DAYS")
    # Days after which the refresh seeds the benchmark's sector weights again (counted from
    # the stored weights' date to the market's last trading day).
    benchmark_weights_max_age_days: int = Field(
        default=31, ge=1, le=366, alias="BENCHMARK_WEIGHTS_MAX_AGE_DAYS"
    )

    # The stress scenarios served (a TOML file of the format of app/stress/scenarios.toml,
    # which it replaces); unset: the repository's. A relative path counts from the
    # directory the command runs in.
    stress_scenarios_file: Path | None = Field(default=None, alias="STRESS_SCENARIOS_FILE")

    # Annual risk-free rate (a fraction: 0.04 = 4 %) behind Sharpe and Sortino; compounded
    # to a daily rate over 252 trading days.
    risk_free_rate: float = Field(default=0.0, ge=-0.05, le=0.5, alias="RISK_FREE_RATE")

    # Per-revision limits: a migration that cannot take its lock fails fast instead of
    # queueing every writer behind it.
    migration_lock_timeout: str = Field(default="5s", alias="MIGRATION_LOCK_TIMEOUT")
    migration_statement_timeout: str = Field(default="5min", alias="MIGRATION_STATEMENT_TIMEOUT")

    # Signs sign-in tokens. Unset with DATABASE_URL unset: generated once beside the
    # embedded data dir. Unset with DATABASE_URL set: the app refuses to start (scripts
    # don't need it). Read through app.core.security only.
    auth_secret_key: SecretStr | None = Field(default=None, alias="AUTH_SECRET_KEY")
    auth_token_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30, alias="AUTH_TOKEN_MINUTES")
    # The argon2-cffi parameter profile of new password hashes. The default is the library's
    # own (RFC 9106 low-memory: 64 MiB, 3 passes, 0.1-0.25 s a hash). CHEAPEST is for tests
    # only: it makes every password guess as cheap as a test's hash. A stored hash made with
    # another profile is re-hashed at its user's next sign-in.
    password_hash_profile: PasswordHashProfile = Field(
        default="RFC_9106_LOW_MEMORY", alias="PASSWORD_HASH_PROFILE"
    )

    # The API's connection pool, per worker process. Defaults fit 2 workers on 2 cores next
    # to PostgreSQL: 10 connections each keep the CPUs busy (a request holds one for a few
    # milliseconds), and stay open: overflow connections are closed as soon as the pool has
    # enough idle ones again, so under load they are opened and closed over and over (each
    # costs milliseconds of CPU on both sides). A request that gets no connection within
    # DB_POOL_TIMEOUT seconds answers 503. Keep workers x (size + overflow) below the
    # server's max_connections.
    db_pool_size: int = Field(default=10, ge=1, le=100, alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(default=0, ge=0, le=100, alias="DB_MAX_OVERFLOW")
    db_pool_timeout: float = Field(default=3.0, gt=0, le=60, alias="DB_POOL_TIMEOUT")
    # Seconds: opening a connection, and each statement of a request (enforced by the server
    # as statement_timeout, and by the client a second later in case the server hangs).
    db_connect_timeout: float = Field(default=5.0, gt=0, le=60, alias="DB_CONNECT_TIMEOUT")
    db_statement_timeout: float = Field(default=5.0, gt=0, le=600, alias="DB_STATEMENT_TIMEOUT")

    # Addresses (or networks, e.g. 10.0.0.0/8) of the reverse proxies in front of the API,
    # comma-separated. Only a request whose peer is one of them has its X-Forwarded-For and
    # X-Forwarded-Proto believed; empty (the default): every request's address is its peer's.
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default=[], alias="TRUSTED_PROXIES"
    )
    # The largest request body the API reads (bytes); a larger one answers 413 before it is
    # read. The default leaves room for a CSV import of 10,000 positions (about 1 MB).
    max_request_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=1024**3, alias="MAX_REQUEST_BODY_BYTES"
    )

    # Browser origins allowed to call the API (CORS), comma-separated, e.g.
    # "https://app.example.com,http://localhost:5173"; "*" allows any. Empty: no CORS.
    cors_origins: Annotated[list[str], NoDecode] = Field(default=[], alias="CORS_ORIGINS")

    @field_validator(
        "database_url", "fmp_api_key", "auth_secret_key", "stress_scenarios_file", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # A browser sends Origin as scheme://host[:port]: anything else would never match.
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"not an origin: {origin!r} (scheme://host[:port], no path, or '*')"
                )
        return [origin.rstrip("/") for origin in value]

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"not an IP address or network: {part!r} (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
        return networks

    @field_validator("migration_lock_timeout", "migration_statement_timeout")
    @classmethod
    def _postgres_interval(cls, value: str) -> str:
        # Interpolated into SET statements (which take no bind parameters): allow only
        # PostgreSQL duration literals such as '5s', '250ms', '10min' or '0'.
        if not re.fullmatch(r"\d+\s*(ms|s|min|h|d)?", value.strip()):
            raise ValueError(f"not a PostgreSQL duration: {value!r} (e.g. '5s', '250ms', '10min')")
        return value.strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
