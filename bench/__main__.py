"""`python -m bench`: see bench/cli.py."""

import sys

from bench.cli import main

if __name__ == "__main__":  # spawned children import this module too; only the parent runs
    sys.exit(main())
