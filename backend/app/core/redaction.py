"""Keeping secrets out of output: the API key, the database password, the signing key,
and whatever a client puts in a URL.

Every message a script prints or a log line writes about an external failure passes
through :func:`redact` (or :func:`safe_message`), which masks each known secret and any
``apikey=...`` value a provider echoes back; a script's log handler carries a
:class:`RedactingFilter` as the last line of defence. The server's access log passes
through :class:`AccessLogRedaction`: secret-looking query values masked, long URLs cut.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote_plus, unquote_plus

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


# ------------------------------------------------------------------ the access log

ACCESS_LOGGER = "uvicorn.access"
LOGGED_TARGET_MAX = 300
"""Characters of a request's path and query an access-log line keeps."""
_SECRET_PARAMETER = re.compile(r"token|passw|secret|api_?key|auth", re.IGNORECASE)
"""Query parameters whose values are masked: access_token, token, password, apikey, ..."""


def redact_target(target: str) -> str:
    """A request's path and query for a log line: the value of every parameter whose name
    looks secret masked, and the whole cut to LOGGED_TARGET_MAX characters."""
    path, question, query = target.partition("?")
    if question:
        pairs = []
        for pair in query.split("&"):
            name, equals, _ = pair.partition("=")
            if equals and _SECRET_PARAMETER.search(unquote_plus(name)):
                pair = f"{name}={MASK}"
            pairs.append(pair)
        target = f"{path}?{'&'.join(pairs)}"
    if len(target) > LOGGED_TARGET_MAX:
        cut = len(target) - LOGGED_TARGET_MAX
        target = f"{target[:LOGGED_TARGET_MAX]}...[{cut} more characters]"
    return target


class AccessLogRedaction(logging.Filter):
    """Rewrites uvicorn's access-log records (``client - "METHOD target HTTP/v" status``):
    their target through :func:`redact_target`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_target(args[2]), args[3], args[4])
        return True


def install_access_log_redaction() -> None:
    """Put :class:`AccessLogRedaction` on uvicorn's access logger, once per process."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, AccessLogRedaction) for f in access.filters):
        access.addFilter(AccessLogRedaction())
