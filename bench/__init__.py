"""Benchmarks: rate-limit utilisation, requests spent, throughput and marts build time."""
