#!/usr/bin/env bash
# Command 1: set up, start Label Studio and the backend, create the noisy demo project, run a round.
set -euo pipefail
cd "$(dirname "$0")/.."
RELABEL_EXTRAS=${RELABEL_EXTRAS:-text,image} bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
