"""Benchmarks (bench/README.md); run from the project root, e.g. ``python -m bench.compare``."""
