"""Keeping secrets out of output: the API key, the database password, the signing key.

Every message a script prints or a log line writes about an external failure passes
through :func:`redact` (or :func:`safe_message`), which masks each known secret and any
``apikey=...`` value a provider echoes back; a script's log handler carries a
:class:`RedactingFilter` as the last line of defence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote_plus

from sqlalchemy.engine import URL, make_url

from app.config import Settings

MASK = "***"
_APIKEY_IN_TEXT = re.compile(r"(apikey[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each secret (also URL-quoted) and any ``apikey=...`` value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
            quoted = quote_plus(secret)
            if quoted != secret:
                text = text.replace(quoted, MASK)
    return _APIKEY_IN_TEXT.sub(rf"\g<1>{MASK}", text)


class RedactingFilter(logging.Filter):
    """Last line of defence: no log record leaves with a secret in it."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self._secrets)
        record.args = None
        return True


def secrets_of(settings: Settings) -> list[str]:
    """Values that must never be printed: the FMP key, the token signing key and the
    database password."""
    found: list[str] = []
    for secret in (settings.fmp_api_key, settings.auth_secret_key):
        if secret is not None:
            found.append(secret.get_secret_value())
    if settings.database_url is not None:
        try:
            password = make_url(settings.database_url.get_secret_value()).password
        except Exception:  # an unparsable URL is reported by the database layer
            password = None
        if password:
            found.append(str(password))
    return found


def safe_message(exc: BaseException, secrets: Iterable[str]) -> str:
    """First line of an exception's text with every secret masked."""
    lines = str(exc).strip().splitlines()
    return redact(lines[0] if lines else type(exc).__name__, secrets)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)
