"""Scripts that measure and print a report plus JSON under ``perf/results/``: migrations
under write load, storage, the risk engine, forecast quality, backfill, the API under
load; never timed tests, and never importing them: what they share with the tests
(throwaway databases, child processes, the TCP fault proxy) comes from :mod:`devtools`."""

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where every script writes its JSON report (not committed)."""
