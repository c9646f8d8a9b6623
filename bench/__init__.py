"""Plenary's benchmarks: each prints figures (throughput, p50/p95/p99, memory); none asserts a time."""
