"""Scripts that measure and print a report plus JSON under ``perf/results/``: migrations
under write load, storage, the risk engine, forecast quality, backfill, the API under
load; never timed tests, and never importing them: what they share with the tests
(throwaway databases, child processes, the TCP fault proxy) comes from :mod:`devtools`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where every script writes its JSON report (not committed)."""


def write_report(name: str, report: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``report`` as JSON to ``path``, by default ``RESULTS_DIR/<name>-<UTC time>.json``
    (values JSON does not know, dates and UUIDs, as text); the path written."""
    if path is None:
        path = RESULTS_DIR / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    return path
