"""Benchmarks of Tiercel against its peers; run as ``python -m benchmarks run`` (see README.md)."""
