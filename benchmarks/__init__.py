"""Benchmarks, run by hand from the repository root: `.venv/bin/python -m benchmarks.<name>` (results in RESULTS.md)."""
