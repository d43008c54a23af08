"""Scripts that measure and print a report (+ JSON); never timed tests."""
