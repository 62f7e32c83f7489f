"""Training jobs, one at a time per project: run in the backend process (embedded) or on an RQ queue.

Label Studio waits at most 100 s on /webhook, so training never runs inside the request: the
embedded runner starts a thread, the queue runner (backend.queue) hands the job to any training
worker. Either way the job's record lives in the model store (MODEL_DIR/project-<id>/jobs/), which
the backend and every worker share: callers poll it, and it survives a restart.

A running job writes a heartbeat into its record every few seconds. A job whose process died
(backend restarted, worker killed) stops beating and is reported as failed, with why, rather than
left "running" for ever; its finished models are untouched (the store swaps versions in whole).
A record changes under the store's lock, and an ended job (done, failed, cancelled) never runs again:
a late heartbeat cannot revive it, and a job that finds its record ended (cancelled with DELETE
/jobs/<id>, or failed by another process) stops at its next step, as it does past RELABEL_JOB_TIMEOUT.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from typing import Callable

from relabel.backend.model_store import ModelStore

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
#: seconds between a running job's heartbeats
HEARTBEAT_INTERVAL = 5.0

# run(job record, progress callback) -> result dict; raises to fail the job.
JobFunction = Callable[[dict, Callable[[str, int, int], None]], dict]


def new_job_record(store: ModelStore, project_id: int, options: dict, state: str, stage: str, **extra) -> dict:
    """The next job record of the project (ids "<project>-<number>"), saved. Call under the runner's lock."""
    jobs = store.jobs(project_id)
    number = jobs[-1]["number"] + 1 if jobs else 1
    now = time.time()
    job = {"id": f"{project_id}-{number}", "number": number, "project": project_id, "state": state,
           "options": options, "stage": stage, "done": 0, "total": 0, "started_at": now, "heartbeat_at": now,
           "finished_at": None, "error": None, "result": None, **extra}
    store.save_job(job)
    return job


class JobStopped(Exception):
    """Raised from a job's progress callback: the job must stop (cancelled, failed elsewhere, or too long)."""


def end_job(store: ModelStore, job: dict, state: str, error: str) -> dict:
    """End a queued or running job as `state` (failed, cancelled) with `error`, unless it has ended already.
    Returns the record as it stands."""
    def change(current: dict | None) -> dict | None:
        if current is None or current["state"] not in ACTIVE_STATES:
            return None
        return {**current, "state": state, "finished_at": time.time(), "error": error}
    record = store.update_job(job["project"], job["id"], change) or job
    if record.get("error") == error:
        log.warning(f"job {state}", extra={"job": job["id"], "project": job["project"], "error": error})
    return record


def fail_job(store: ModelStore, job: dict, error: str) -> dict:
    return end_job(store, job, "failed", error)


def execute_job(store: ModelStore, job: dict, run: JobFunction, progress_interval: float = 0.5,
                heartbeat_interval: float = HEARTBEAT_INTERVAL, runner: str = "embedded",
                timeout: float | None = None) -> dict:
    """Run `run` for the job record, saving its progress, heartbeats and outcome. Never raises.

    The job stops at its next progress step once its record was ended elsewhere or after `timeout` seconds.
    """
    lock = threading.Lock()
    last_saved = 0.0
    finished = threading.Event()
    started = time.monotonic()
    ended_elsewhere: list[dict] = []

    def save() -> None:
        def change(current: dict | None) -> dict | None:
            if current is not None and current["state"] not in ACTIVE_STATES:
                ended_elsewhere[:] = [current]  # cancelled, or failed by another process: theirs stands
                return None
            return dict(job, heartbeat_at=time.time())
        with lock:
            if not ended_elsewhere:
                store.update_job(job["project"], job["id"], change)

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal last_saved
        if ended_elsewhere:
            raise JobStopped(f"its record was ended: {ended_elsewhere[0].get('error') or ended_elsewhere[0]['state']}")
        if timeout is not None and time.monotonic() - started > timeout:
            raise JobStopped(f"stopped: it ran longer than RELABEL_JOB_TIMEOUT ({timeout:g} s)")
        job.update(stage=stage, done=done, total=total)
        now = time.monotonic()
        if now - last_saved >= progress_interval or done >= total:
            save()
            last_saved = now

    def beat() -> None:
        while not finished.wait(heartbeat_interval):
            save()

    # Which process on which machine runs it: where to look when it stops beating.
    job.update(state="running", stage="starting", runner=runner, host=socket.gethostname(), pid=os.getpid())
    save()
    threading.Thread(target=beat, name=f"heartbeat-{job['id']}", daemon=True).start()
    log.info("job started", extra={"job": job["id"], "project": job["project"], "runner": runner})
    try:
        result = run(job, progress)
        job.update(state="done", result=result, stage="done")
        log.info("job done", extra={"job": job["id"], "project": job["project"], "result": result})
    except Exception as error:  # the job's failure is reported, never raised into the server or worker
        job.update(state="failed", error=str(error) or type(error).__name__)
        log.warning("job failed", extra={"job": job["id"], "project": job["project"], "error": job["error"],
                                          "trace": traceback.format_exc(limit=5)})
    finished.set()
    job["finished_at"] = time.time()
    save()
    return ended_elsewhere[0] if ended_elsewhere else job


class JobRecords:
    """What both runners answer from the job records in the model store."""

    store: ModelStore

    def jobs(self, project_id: int) -> list[dict]:
        return self.store.jobs(project_id)

    def active(self, project_id: int) -> dict | None:
        return next((j for j in reversed(self.jobs(project_id)) if j["state"] in ACTIVE_STATES), None)

    def get(self, project_id: int, job_id: str) -> dict | None:
        return next((j for j in self.jobs(project_id) if j["id"] == job_id), None)

    def cancel(self, project_id: int, job_id: str) -> dict:
        """End a queued or running job as cancelled; its process stops at its next step. An ended job stays."""
        return end_job(self.store, {"project": project_id, "id": job_id}, "cancelled",
                       "cancelled on request (DELETE /jobs/<id>); its finished models are kept")


class JobRunner(JobRecords):
    """Runs jobs as threads of this process (the embedded default, without REDIS_URL).

    Only one backend process may run jobs this way (python -m relabel.backend starts one worker without
    REDIS_URL): the one-job-per-project lock and the restart check are this process's. A thread cannot
    be killed: a job past `timeout` seconds, or cancelled, stops at its next progress step.
    """

    def __init__(self, store: ModelStore, run: JobFunction, progress_interval: float = 0.5,
                 timeout: float | None = None):
        self.store = store
        self.run = run
        self.progress_interval = progress_interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._fail_interrupted_jobs()

    def _fail_interrupted_jobs(self) -> None:
        # This process has just started: no job of the store can be running in it.
        for project_id in self.store.all_project_ids():
            for job in self.store.jobs(project_id):
                if job["state"] in ACTIVE_STATES:
                    self.store.remove_job_scratch(project_id, job["id"])  # e.g. its child fits' folder
                    fail_job(self.store, job, "interrupted: the backend stopped while this job was running; "
                                              "its finished models are kept; start it again")

    def start(self, project_id: int, options: dict | None = None) -> tuple[dict, bool]:
        """Start a job for the project, or return the one already running. (job, started?)"""
        with self._lock:
            running = self.active(project_id)
            if running is not None:
                return running, False
            job = new_job_record(self.store, project_id, options or {}, "running", "starting")
            threading.Thread(target=execute_job, args=(self.store, job, self.run, self.progress_interval),
                             kwargs={"timeout": self.timeout}, name=f"job-{job['id']}", daemon=True).start()
            return job, True
