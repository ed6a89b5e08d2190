"""Hello-world apps, one per server under test, started by the benchmark drivers."""
