"""A seeded, rate-limited simulator of the Pixee REST API v1, for demos, tests and benchmarks."""

from simulator.config import SimConfig
from simulator.server import Simulator

__all__ = ["SimConfig", "Simulator"]
