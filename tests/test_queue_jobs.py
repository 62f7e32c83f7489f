"""Training jobs on the RQ queue, against a real Redis: one job per project across backend processes,
workers run them, and a job whose worker died is reported failed with why. Jobs run in-process here
(RQ's SimpleWorker) with a stand-in for the training itself; tests/test_queue_stack.py trains for real."""
from __future__ import annotations

import os
import threading
import time

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from relabel.backend import queue as backend_queue, training as backend_training
from relabel.backend.config import Settings
from relabel.backend.fold_jobs import folds_dir
from relabel.backend.model_store import ModelStore
from relabel.backend.queue import QUEUE_NAME, QUEUED_STAGE, QueueJobRunner, run_queued_job
from relabel.backend.training import TrainingError


@pytest.fixture
def connection(redis_server):
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    yield redis
    redis.flushdb()


@pytest.fixture
def settings(tmp_path, monkeypatch, redis_server):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "worker-key")
    return Settings.from_env()


def work_off_the_queue(connection) -> None:
    SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection).work(burst=True)


def test_one_job_per_project_across_backend_processes(settings, connection):
    store = ModelStore(settings.model_dir)
    # Two runners stand for two gunicorn worker processes receiving START_TRAINING at once.
    runners = [QueueJobRunner(store, settings, Redis.from_url(settings.redis_url)) for _ in range(2)]
    answers = []
    threads = [threading.Thread(target=lambda r=r: answers.append(r.start(5))) for r in runners * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(started for _, started in answers) == 1
    assert {job["id"] for job, _ in answers} == {"5-1"}
    assert len(Queue(QUEUE_NAME, connection=connection)) == 1
    job = runners[0].get(5, "5-1")
    assert job["state"] == "queued" and job["stage"] == QUEUED_STAGE
    assert runners[1].start(6)[0]["id"] == "6-1"  # another project is not held up


def test_a_worker_runs_the_job_and_records_progress_and_result(settings, connection, monkeypatch):
    def train(job, progress, worker_settings, store, **options):
        assert worker_settings.label_studio_api_key == "worker-key"  # the worker's own environment
        progress("fold 1 of 2", 1, 2)
        return {"model_version": "model-v1-abc", "options": job["options"]}

    monkeypatch.setattr(backend_training, "run_job", train)
    runner = QueueJobRunner(ModelStore(settings.model_dir), settings, connection)
    job, started = runner.start(3, {"write_predictions": False})
    work_off_the_queue(connection)
    done = runner.get(3, job["id"])
    assert done["state"] == "done" and done["runner"] == "rq"
    assert done["result"] == {"model_version": "model-v1-abc", "options": {"write_predictions": False}}
    assert done["finished_at"] >= done["heartbeat_at"] - 1
    assert runner.start(3)[0]["id"] == "3-2"  # the next one may start


def test_a_failing_job_reports_why(settings, connection, monkeypatch):
    def train(job, progress, worker_settings, store, **options):
        raise TrainingError("task 12: data.text: expected non-empty text")

    monkeypatch.setattr(backend_training, "run_job", train)
    runner = QueueJobRunner(ModelStore(settings.model_dir), settings, connection)
    job, _ = runner.start(4)
    work_off_the_queue(connection)
    failed = runner.get(4, job["id"])
    assert failed["state"] == "failed" and failed["error"] == "task 12: data.text: expected non-empty text"


def test_a_job_whose_worker_stopped_beating_is_failed(settings, connection):
    store = ModelStore(settings.model_dir)
    runner = QueueJobRunner(store, settings, connection)
    job, _ = runner.start(8)
    # A worker took it and was killed: the record says running, the heartbeat is old.
    Job.fetch(job["rq_job"], connection=connection).set_status("started")
    store.save_job({**job, "state": "running", "stage": "fold 2 of 5",
                    "heartbeat_at": time.time() - settings.job_heartbeat_timeout - 1})
    fold_data = folds_dir(store, 8, job["id"])
    os.makedirs(fold_data)  # what its queued folds read
    failed = runner.get(8, job["id"])
    assert failed["state"] == "failed" and "no heartbeat" in failed["error"] and "start it again" in failed["error"]
    assert not os.path.exists(fold_data)
    assert runner.start(8)[0]["id"] == "8-2"


def test_a_job_the_queue_lost_or_rq_failed_is_failed(settings, connection):
    store = ModelStore(settings.model_dir)
    runner = QueueJobRunner(store, settings, connection)
    lost, _ = runner.start(9)
    connection.flushdb()
    assert runner.get(9, lost["id"])["state"] == "queued"  # just created: the enqueue may be on its way
    store.save_job({**lost, "started_at": time.time() - 31})
    assert "the queue lost it" in runner.get(9, lost["id"])["error"]

    crashed, _ = runner.start(9)
    Job.fetch(crashed["rq_job"], connection=connection).set_status("failed")
    store.save_job({**crashed, "state": "running"})
    assert "ended without finishing it" in runner.get(9, crashed["id"])["error"]


def test_a_job_runs_at_most_once(settings, connection, monkeypatch):
    calls = []
    monkeypatch.setattr(backend_training, "run_job", lambda *args, **options: calls.append(args) or {})
    store = ModelStore(settings.model_dir)
    job, _ = QueueJobRunner(store, settings, connection).start(2)
    store.save_job({**job, "state": "failed", "error": "interrupted"})
    assert run_queued_job(2, job["id"]) == "skipped" and calls == []


def test_a_worker_that_cannot_run_the_job_reports_rqs_reason(settings, connection, monkeypatch):
    def broken_store(model_dir):
        raise PermissionError(f"[Errno 13] Permission denied: '{model_dir}'")

    runner = QueueJobRunner(ModelStore(settings.model_dir), settings, connection)
    job, _ = runner.start(11)
    monkeypatch.setattr(backend_queue, "ModelStore", broken_store)  # the worker's MODEL_DIR is not writable
    work_off_the_queue(connection)
    monkeypatch.undo()
    failed = runner.get(11, job["id"])
    assert failed["state"] == "failed" and "Permission denied" in failed["error"], failed


def test_redis_down_answers_503_without_its_password(tmp_path):
    from relabel.backend.app import create_app
    from relabel.stack import free_port

    url = f"redis://:queue-secret@127.0.0.1:{free_port()}/0"
    client = create_app(Settings(model_dir=str(tmp_path), redis_url=url)).test_client()
    ModelStore(str(tmp_path)).save_job({"id": "1-1", "number": 1, "project": 1, "state": "queued", "rq_job": "x",
                                        "started_at": time.time()})  # a queued job: its state is Redis's to tell
    for answer in (client.get("/jobs?project=1"), client.get("/jobs/1-1")):
        assert answer.status_code == 503
        error = answer.get_json()["error"]
        assert "training queue (Redis at 127.0.0.1:" in error and "queue-secret" not in error


@pytest.mark.parametrize("setting, queued_folds", [("1", True), ("0", False)])
def test_fold_jobs_follow_the_setting(settings, connection, monkeypatch, setting, queued_folds):
    monkeypatch.setenv("RELABEL_FOLD_JOBS", setting)
    runners = []

    def train(job, progress, worker_settings, store, fold_runner_for):
        runners.append(fold_runner_for("<View/>", {}, [[0.0], [1.0]], ["a", "b"]))
        return {}

    monkeypatch.setattr(backend_training, "run_job", train)
    QueueJobRunner(ModelStore(settings.model_dir), settings, connection).start(12)
    work_off_the_queue(connection)
    assert (runners[0] is not None) == queued_folds
