"""Small pieces the command-line scripts share: exit codes, argument types, safe messages."""

from __future__ import annotations

import argparse
import uuid
from datetime import date

from sqlalchemy.engine import make_url

from app.config import Settings

EXIT_OK = 0
EXIT_DATA_ERROR = 1
EXIT_USAGE_ERROR = 2


class CliFailure(Exception):
    """Stop a command with this exit code and message (already safe to print)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def iso_date(text: str) -> date:
    """argparse type: YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def uuid_arg(text: str) -> uuid.UUID:
    """argparse type: a UUID."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def secrets_of(settings: Settings) -> list[str]:
    """Values that must never be printed: the FMP key and the database password."""
    found: list[str] = []
    if settings.fmp_api_key is not None:
        found.append(settings.fmp_api_key.get_secret_value())
    if settings.database_url is not None:
        try:
            password = make_url(settings.database_url.get_secret_value()).password
        except Exception:  # an unparsable URL is reported by the database layer
            password = None
        if password:
            found.append(str(password))
    return found


def safe_message(exc: BaseException, secrets: list[str]) -> str:
    """First line of an exception's text with every secret masked."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
