"""`python -m backend --host 0.0.0.0 --port 9090`: serve the backend with gunicorn.

One worker process with threads: training jobs are threads of that worker, and their records live in
MODEL_DIR. gunicorn's worker timeout only watches the request threads, not training.
"""
from __future__ import annotations

import argparse
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description="Re-Label ML backend for Label Studio")
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9090")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("RELABEL_THREADS", "8")))
    options = parser.parse_args()
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(options.threads),
                               "--timeout", "300", "--bind", f"{options.host}:{options.port}",
                               "--config", "python:backend.gunicorn_conf", "backend.app:create_app()"])


if __name__ == "__main__":
    main()
