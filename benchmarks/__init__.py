"""Benchmarks of Tiercel against its peers; run as ``python -m benchmarks.<name>``."""
