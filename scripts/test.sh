#!/usr/bin/env bash
# Command 2: set up and run the whole test suite (unit, integration with a real Label Studio, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# From Debian's packages: Chromium for the browser test (no browser download); PostgreSQL (Label Studio's
# database, as in docker-compose.yml) and Redis (the training queue) for the integration tests.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server > /dev/null || missing+=(redis-server)
{ command -v initdb > /dev/null || ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; } || missing+=(postgresql)
command -v psql > /dev/null || missing+=(postgresql-client)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "==> installing Debian's ${missing[*]} for the tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
  else
    echo "Missing for the tests: Debian's ${missing[*]} (apt-get install ${missing[*]})"; exit 1
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# torch's OpenMP threads sleep while they wait: two workers' trainings share 2 cores, and spinning threads hold a
# core the other needs (tests 11.1 against 12.0 minutes; benchmarks/RESULTS.md 33).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# Two pytest workers (RELABEL_TEST_WORKERS; 0 runs in this process): the tests that wait on Label Studio leave a
# core idle, and the two cores stay busy side by side (benchmarks/RESULTS.md 30: tests 37.8 -> 28.9 min on 2 cores).
# --dist loadfile: a module's tests stay on one worker, so a module's Label Studio project and round are made once.
# --durations: where the suite's time goes (CI must stay under 40 minutes).
workers=${RELABEL_TEST_WORKERS:-2}
parallel=()
[ "$workers" = 0 ] || parallel=(-n "$workers" --dist loadfile)
exec .venv/bin/python -m pytest -ra --durations=30 "${parallel[@]}" "$@"
