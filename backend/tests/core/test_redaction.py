"""RedactingFilter, on a script's log handler: no log record leaves with a secret in it."""

from __future__ import annotations

import io
import logging

from app.core.redaction import MASK, RedactingFilter


def test_a_log_record_loses_its_secrets_in_the_message_and_in_its_arguments() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter(["s3cr3t!"]))
    logger = logging.getLogger("tests.core.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("password s3cr3t! refused for %s", "/stable/x?apikey=abc123&limit=5")
    finally:
        logger.removeHandler(handler)

    assert stream.getvalue() == f"password {MASK} refused for /stable/x?apikey={MASK}&limit=5\n"
