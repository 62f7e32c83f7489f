"""`python -m relabel.backend --host 127.0.0.1 --port 9090`: serve the backend with gunicorn.

On an address other machines reach (--host 0.0.0.0, as in docker-compose) it needs BASIC_AUTH_USER and
BASIC_AUTH_PASS, or RELABEL_ALLOW_UNAUTHENTICATED=1 (see relabel.backend.auth).

Without REDIS_URL: one worker process with threads, training jobs are threads of that worker (their
records live in MODEL_DIR) and gunicorn's worker timeout only watches the request threads. With
REDIS_URL: training goes to the RQ queue (`python -m relabel.backend.worker`), so the backend may run several
worker processes (RELABEL_WEB_WORKERS, default 2).
"""
from __future__ import annotations

import argparse
import os
import sys

from relabel.backend.auth import exposure_problem
from relabel.backend.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m relabel.backend", description="Re-Label ML backend for Label Studio")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                        help="address to listen on (env HOST; default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9090")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("RELABEL_THREADS", "8")))
    queued = bool(os.environ.get("REDIS_URL"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("RELABEL_WEB_WORKERS") or (2 if queued else 1)),
                        help="gunicorn worker processes (env RELABEL_WEB_WORKERS; more than 1 needs REDIS_URL)")
    options = parser.parse_args()
    try:
        settings = Settings.from_env()
    except ValueError as error:
        parser.error(str(error))
    problem = exposure_problem([options.host], settings)
    if problem:
        parser.error(problem)
    if options.workers > 1 and not queued:
        parser.error("several worker processes need REDIS_URL: without it, training jobs are threads of the "
                     "one backend process (set REDIS_URL and run python -m relabel.backend.worker, or use --workers 1)")
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--workers", str(options.workers),
                               "--threads", str(options.threads), "--timeout", "300",
                               "--bind", f"{options.host}:{options.port}",
                               "--config", "python:relabel.backend.gunicorn_conf", "relabel.backend.app:create_app()"])


if __name__ == "__main__":
    main()
