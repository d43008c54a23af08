"""Scripts that measure the schema's cost (migration under write load, storage) and print a
report plus JSON under ``benchmarks/results/``. Not tests: nothing here asserts a timing."""
