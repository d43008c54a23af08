"""Scripts that measure and print a report plus JSON under ``perf/results/``: migrations
under write load, storage, the risk engine, forecast quality. Never timed tests."""
