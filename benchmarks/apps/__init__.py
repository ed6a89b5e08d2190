"""The benchmark apps: one file per server, each serving the scenarios of benchmarks/README.md."""
