"""Training jobs on an RQ queue (REDIS_URL set): any training worker, on any machine that shares the
model store, runs them (`python -m backend.worker`).

The job record in the model store stays the source of truth, as for embedded jobs: the backend
creates it ("queued"), the worker that takes the job runs it with backend.jobs.execute_job (progress,
heartbeat, outcome). One job per project at a time holds across backend processes and machines: the
check-and-create runs under a Redis lock. A job is reported failed, with why, when RQ says its
worker process died, or when its heartbeat stops (worker killed, machine gone).
"""
from __future__ import annotations

import logging
import shutil
import time
import uuid

from urllib.parse import urlsplit

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from relabel.backend.config import Settings
from relabel.backend.fold_jobs import QueuedFolds, folds_dir, run_fold_job
from relabel.backend.jobs import ACTIVE_STATES, HEARTBEAT_INTERVAL, JobRecords, execute_job, fail_job, new_job_record
from relabel.backend.model_store import ModelStore

log = logging.getLogger(__name__)

QUEUE_NAME = "relabel-training"
QUEUED_STAGE = "queued: waiting for a training worker"


class QueueUnavailable(RuntimeError):
    """Redis (the training queue) cannot be reached; the backend answers 503 with this message."""


def redis_address(url: str) -> str:
    """host:port of a Redis URL, without the password it may hold."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class QueueJobRunner(JobRecords):
    """Enqueues training jobs on RQ; the same interface as backend.jobs.JobRunner."""

    def __init__(self, store: ModelStore, settings: Settings, connection: Redis | None = None):
        self.store = store
        self.settings = settings
        self.connection = connection or Redis.from_url(settings.redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)

    def _check(self, job: dict) -> dict:
        """The job, marked failed if its worker is known to be gone."""
        if job["state"] not in ACTIVE_STATES:
            return job
        reason = None
        try:
            queued = Job.fetch(job.get("rq_job") or "", connection=self.connection)
            status = queued.get_status(refresh=True)
        except NoSuchJobError:
            queued = status = None
        if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            # e.g. the worker's child process was killed, or ran past RELABEL_JOB_TIMEOUT
            result = queued.latest_result() if status == JobStatus.FAILED else None
            detail = _last_line(result.exc_string) if result is not None else ""
            reason = f"the training worker's process ended without finishing it (RQ status {status.value}" + \
                     (f": {detail})" if detail else ")")
        elif status is None and job["state"] == "queued" and time.time() - job["started_at"] > 30:
            # (younger: the backend may be between saving the record and enqueuing it)
            reason = "the queue lost it (Redis was emptied or restarted)"
        elif job["state"] == "running" and \
                time.time() - job.get("heartbeat_at", job["started_at"]) > self.settings.job_heartbeat_timeout:
            reason = f"its training worker sent no heartbeat for {self.settings.job_heartbeat_timeout:.0f} s " \
                     f"(killed, or its machine went down)"
        if reason is None:
            return job
        current = next((j for j in self.store.jobs(job["project"]) if j["id"] == job["id"]), job)
        if current["state"] not in ACTIVE_STATES:  # it finished meanwhile
            return current
        self.store.remove_job_scratch(job["project"], job["id"])  # its fold jobs' and child fits' data
        return fail_job(self.store, current, f"interrupted: {reason}; its finished models are kept; start it again")

    def _unavailable(self, error: RedisError) -> QueueUnavailable:
        return QueueUnavailable(f"the training queue (Redis at {redis_address(self.settings.redis_url)}) is not "
                                f"reachable: {type(error).__name__}; check REDIS_URL and that Redis runs")

    def jobs(self, project_id: int) -> list[dict]:
        try:
            return [self._check(job) for job in self.store.jobs(project_id)]
        except RedisError as error:
            raise self._unavailable(error) from None

    def cancel(self, project_id: int, job_id: str) -> dict:
        """The record cancelled, and its RQ job stopped: a running one's work horse is killed at once."""
        record = super().cancel(project_id, job_id)
        if record.get("state") == "cancelled" and record.get("rq_job"):
            try:
                queued = Job.fetch(record["rq_job"], connection=self.connection)
                if queued.get_status(refresh=True) == JobStatus.STARTED:
                    send_stop_job_command(self.connection, queued.id)
                else:
                    queued.cancel()
            except (NoSuchJobError, InvalidJobOperation):
                pass  # it ended meanwhile
            except RedisError as error:
                raise self._unavailable(error) from None
            # its queued folds' data, and its child fits' (they exit with the killed work horse)
            self.store.remove_job_scratch(project_id, job_id)
        return record

    def start(self, project_id: int, options: dict | None = None) -> tuple[dict, bool]:
        """Enqueue a job for the project, or return the one queued or running. (job, started?)"""
        try:
            return self._start(project_id, options)
        except RedisError as error:
            raise self._unavailable(error) from None

    def _start(self, project_id: int, options: dict | None) -> tuple[dict, bool]:
        with self.connection.lock(f"relabel:start-job:{project_id}", timeout=30, blocking_timeout=30):
            running = self.active(project_id)
            if running is not None:
                return running, False
            job = new_job_record(self.store, project_id, options or {}, "queued", QUEUED_STAGE,
                                 rq_job=f"relabel-{project_id}-{uuid.uuid4().hex}")
            self.queue.enqueue(run_queued_job, project_id, job["id"], job_id=job["rq_job"],
                               job_timeout=self.settings.job_timeout, result_ttl=24 * 3600,
                               failure_ttl=7 * 24 * 3600, description=f"train project {project_id} (job {job['id']})")
            log.info("job queued", extra={"job": job["id"], "project": project_id, "queue": QUEUE_NAME})
            return job, True


def run_queued_job(project_id: int, job_id: str) -> str:
    """What a training worker runs for a queued job (its settings come from the worker's environment)."""
    from relabel.backend.training import run_job

    settings = Settings.from_env()
    store = ModelStore(settings.model_dir)
    job = next((j for j in store.jobs(project_id) if j["id"] == job_id), None)
    if job is None or job["state"] != "queued":
        # Already failed (e.g. reported lost) or run: a job runs at most once.
        log.warning("job skipped", extra={"job": job_id, "project": project_id,
                                          "state": job and job["state"]})
        return "skipped"
    fold_runners: list[QueuedFolds] = []

    def fold_runner_for(label_config, adapter_options, features, targets) -> QueuedFolds | None:
        if not settings.fold_jobs:
            return None
        queue = Queue(QUEUE_NAME, connection=Redis.from_url(settings.redis_url))

        def enqueue_fold(split: int, fold: int) -> None:
            # At the front: a started job's folds go before jobs still waiting.
            queue.enqueue(run_fold_job, project_id, job_id, split, fold, at_front=True, job_timeout=settings.job_timeout,
                          result_ttl=3600, failure_ttl=24 * 3600,
                          description=f"fold {fold} of split {split}, project {project_id} (job {job_id})")
        try:
            runner = QueuedFolds(folds_dir(store, project_id, job_id), enqueue_fold, label_config, adapter_options,
                                 features, targets, stale_after=settings.job_heartbeat_timeout)
        except Exception as error:  # e.g. features that cannot be pickled: fit the folds here
            log.warning("folds fitted in the job's worker", extra={"job": job_id, "reason": repr(error)})
            shutil.rmtree(folds_dir(store, project_id, job_id), ignore_errors=True)
            return None
        fold_runners.append(runner)
        return runner

    def train(record: dict, progress) -> dict:
        result = run_job(record, progress, settings, store, fold_runner_for=fold_runner_for)
        if fold_runners:
            result["folds_fitted_by"] = fold_runners[-1].fitted_by
        return result

    execute_job(store, job, train, heartbeat_interval=min(HEARTBEAT_INTERVAL, settings.job_heartbeat_timeout / 4),
                runner="rq", timeout=settings.job_timeout)
    return job["state"]
