"""The round's backend jobs, seen from the driver: connect the backend to the project, start training
through Label Studio (or directly, for a dry run or a job of another kind), and wait with a progress bar."""
from __future__ import annotations

import sys
import time
from typing import Callable

from tqdm import tqdm

from relabel.clients.backend import BackendClient
from relabel.clients.label_studio import LabelStudioClient
from relabel.rounds.errors import RoundError

BACKEND_TITLE = "Re-Label"


def ensure_backend_connected(ls: LabelStudioClient, project_id: int, url: str,
                             basic_auth: tuple[str, str] | None) -> dict:
    """The project's ML backend entry for `url`, added when the project has none."""
    normalized = url.rstrip("/")
    for backend in ls.list_ml_backends(project_id):
        if (backend.get("url") or "").rstrip("/") == normalized:
            return backend
    return ls.add_ml_backend(project_id, normalized, BACKEND_TITLE, basic_auth)


def wait_for_job(backend: BackendClient, project_id: int, find_job: Callable[[list[dict]], dict | None],
                 timeout: float, poll_interval: float, quiet: bool) -> dict:
    """Poll the backend until the job `find_job(jobs)` returns has finished; show its progress."""
    deadline = time.monotonic() + timeout
    bar = tqdm(total=1, desc="waiting for training", unit="step", disable=quiet, file=sys.stderr)
    try:
        while time.monotonic() < deadline:
            job = find_job(backend.jobs(project_id))
            if job is not None:
                bar.set_description(job["stage"])
                bar.total = max(job["total"], 1)
                bar.n = min(job["done"], bar.total)
                bar.refresh()
                if job["state"] == "done":
                    return job
                if job["state"] in ("failed", "cancelled"):
                    raise RoundError(f"training job {job['id']} {job['state']}: {job['error']}")
            time.sleep(poll_interval)
    finally:
        bar.close()
    raise RoundError(f"training did not finish within {timeout:.0f} s; its progress: GET {backend.url}/jobs?project={project_id}")


def run_backend_job(backend: BackendClient, project_id: int, timeout: float, poll_interval: float, quiet: bool,
                    **options) -> dict:
    """Start a job on the backend directly (POST /jobs with `options`) and wait for it."""
    job = backend.start_job(project_id, **options)
    return wait_for_job(backend, project_id, lambda jobs: next((j for j in jobs if j["id"] == job["id"]), None),
                        timeout, poll_interval, quiet)


def train_through_label_studio(ls: LabelStudioClient, backend: BackendClient, project_id: int, ml_backend: dict,
                               timeout: float, start_timeout: float, poll_interval: float, quiet: bool) -> dict:
    """Ask Label Studio to train (its START_TRAINING webhook reaches the backend); the finished job."""
    previous = max((j["number"] for j in backend.jobs(project_id)), default=0)
    ls.train(ml_backend["id"])  # returns once Label Studio has had the backend's answer to START_TRAINING
    started = time.monotonic()
    checked_label_studio = False

    def newest_job(jobs: list[dict]) -> dict | None:
        nonlocal checked_label_studio
        job = next((j for j in reversed(jobs) if j["number"] > previous or j["state"] in ("queued", "running")), None)
        if job is None and (not checked_label_studio or time.monotonic() - started > start_timeout):
            checked_label_studio = True
            state = ls.get_ml_backend(ml_backend["id"])
            if state.get("state") == "ER" or time.monotonic() - started > start_timeout:
                raise RoundError(f"Label Studio did not start training on the backend at {ml_backend['url']} "
                                 f"(ML backend state {state.get('state')}: "
                                 f"{state.get('error_message') or 'no error given'})")
        return job

    return wait_for_job(backend, project_id, newest_job, timeout, poll_interval, quiet)
