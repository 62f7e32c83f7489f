"""Background training jobs, one at a time per project.

Label Studio waits at most 100 s on /webhook, so training runs in a thread and the caller polls the
job record. Records are kept in the model store, so they survive a restart; a job that was running
when the process stopped is reported as failed rather than left "running" forever.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Callable

from backend.model_store import ModelStore

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")

# run(job record, progress callback) -> result dict; raises to fail the job.
JobFunction = Callable[[dict, Callable[[str, int, int], None]], dict]


class JobRunner:
    def __init__(self, store: ModelStore, run: JobFunction, progress_interval: float = 0.5):
        self.store = store
        self.run = run
        self.progress_interval = progress_interval
        self._lock = threading.Lock()
        self._fail_interrupted_jobs()

    def _fail_interrupted_jobs(self) -> None:
        for project_id in self.store.all_project_ids():
            for job in self.store.jobs(project_id):
                if job["state"] in ACTIVE_STATES:
                    job.update(state="failed", finished_at=time.time(),
                               error="interrupted: the backend stopped while this job was running; start it again")
                    self.store.save_job(job)

    def active(self, project_id: int) -> dict | None:
        return next((j for j in reversed(self.store.jobs(project_id)) if j["state"] in ACTIVE_STATES), None)

    def start(self, project_id: int, options: dict | None = None) -> tuple[dict, bool]:
        """Start a job for the project, or return the one already running. (job, started?)"""
        with self._lock:
            running = self.active(project_id)
            if running is not None:
                return running, False
            jobs = self.store.jobs(project_id)
            number = jobs[-1]["number"] + 1 if jobs else 1
            job = {"id": f"{project_id}-{number}", "number": number, "project": project_id, "state": "running",
                   "options": options or {}, "stage": "starting", "done": 0, "total": 0,
                   "started_at": time.time(), "finished_at": None, "error": None, "result": None}
            self.store.save_job(job)
            threading.Thread(target=self._execute, args=(job,), name=f"job-{job['id']}", daemon=True).start()
            return job, True

    def _execute(self, job: dict) -> None:
        last_saved = 0.0

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal last_saved
            job.update(stage=stage, done=done, total=total)
            now = time.monotonic()
            if now - last_saved >= self.progress_interval or done >= total:
                self.store.save_job(job)
                last_saved = now

        log.info("job started", extra={"job": job["id"], "project": job["project"]})
        try:
            result = self.run(job, progress)
            job.update(state="done", result=result, stage="done")
            log.info("job done", extra={"job": job["id"], "project": job["project"], "result": result})
        except Exception as error:  # the job's failure is reported, never raised into the server
            job.update(state="failed", error=str(error) or type(error).__name__)
            log.warning("job failed", extra={"job": job["id"], "project": job["project"], "error": job["error"],
                                              "trace": traceback.format_exc(limit=5)})
        job["finished_at"] = time.time()
        self.store.save_job(job)

    def get(self, project_id: int, job_id: str) -> dict | None:
        return next((j for j in self.store.jobs(project_id) if j["id"] == job_id), None)
