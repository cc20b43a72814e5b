"""Benchmarks: `python -m station.bench.NAME [--json]`, each printing its figures.

A benchmark measures and reports; it asserts nothing. Figures quoted in the docs come
from these runs, never from a timed assertion in a unit test.
"""
