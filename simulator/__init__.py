"""A seeded, rate-limited simulator of the Pixee REST API v1, for demos, tests and benchmarks."""
