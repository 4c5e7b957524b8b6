"""`python -m simulator`: the same as `pixee-etl simulate`."""

import sys

from simulator.cli import run

sys.exit(run())
