#!/usr/bin/env python3
"""Run one Re-Label round on a Label Studio project: `python scripts/sync_round.py --help`.

The round driver is the library `relabel.rounds` (installed by scripts/setup.sh into .venv, and as the
command `relabel-sync-round`); this script is its command line.
"""
import sys

try:
    from relabel.rounds.cli import main
except ImportError as error:  # run with a Python that has not installed the project
    sys.exit(f"sync_round: {error}; install Re-Label first (bash scripts/setup.sh) and run .venv/bin/python")

if __name__ == "__main__":
    sys.exit(main())
