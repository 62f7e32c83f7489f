"""`python -m relabel.backend.worker`: a training worker. It takes training jobs from the RQ queue at
REDIS_URL and runs them with its own environment's settings (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY,
MODEL_DIR shared with the backend, model names, device). Start as many as you like, on any machine
that mounts the same model store; each runs one job at a time, in a child process (RQ's work horse),
so a job that crashes does not take the worker down.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket

from redis import Redis
from rq import Queue, Worker

from relabel.backend.config import Settings
from relabel.backend.logs import configure_logging
from relabel.backend.queue import QUEUE_NAME

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Re-Label training worker (RQ)")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    parser.add_argument("--name", default=None, help="worker name (default: host and process id)")
    options = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(secrets=settings.secrets())  # before RQ's own setup, so RQ's lines are JSON too
    if not settings.redis_url:
        parser.error("set REDIS_URL: the worker takes its jobs from that Redis's queue")
    if not settings.label_studio_api_key:
        parser.error("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY: the worker reads tasks and writes predictions")
    connection = Redis.from_url(settings.redis_url)
    name = options.name or f"relabel-{socket.gethostname()}-{os.getpid()}"
    # Loaded once here, not in every job's child process.
    import relabel.adapters  # noqa: F401
    import relabel.backend.training  # noqa: F401

    log.info("worker started", extra={"worker": name, "queue": QUEUE_NAME, "model_dir": settings.model_dir})
    Worker([Queue(QUEUE_NAME, connection=connection)], connection=connection, name=name).work(burst=options.burst)


if __name__ == "__main__":
    main()
