"""One round at a time per project (the lock, in the model store and in Redis), and jobs that can be
stopped: a timeout in the embedded runner, DELETE /jobs/<id>, no revival by a late heartbeat; the
loaded models' LRU; the embedder shared between requests and training."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from redis import Redis

from relabel.backend.app import create_app
from relabel.backend.config import Settings
from relabel.backend.jobs import JobRunner, execute_job, fail_job, new_job_record
from relabel.backend.model_store import ModelStore
from relabel.backend.round_locks import LocalRoundLocks, RedisRoundLocks, RoundLockHeld, RoundLockLost
from relabel.clients.backend import BackendClient, BackendError
from relabel.rounds.errors import RoundError
from relabel.rounds.locks import RoundLock


@pytest.fixture(params=["in-process", "redis"])
def locks(request):
    if request.param == "in-process":
        return LocalRoundLocks()
    server = request.getfixturevalue("redis_server")
    connection = Redis.from_url(server.url)
    connection.flushdb()
    return RedisRoundLocks(connection)


def test_a_second_round_is_told_who_holds_the_lock_and_since_when(locks):
    first = locks.acquire(3, "alice@host-a (process 1)", ttl=30)
    with pytest.raises(RoundLockHeld, match=r"project 3's round is being run by alice@host-a \(process 1\) since "
                                            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC") as held:
        locks.acquire(3, "bob@host-b (process 2)", ttl=30)
    assert "token" not in held.value.lock and held.value.lock["holder"] == "alice@host-a (process 1)"
    locks.acquire(4, "bob@host-b (process 2)", ttl=30)  # another project: its own lock
    with pytest.raises(RoundLockLost):
        locks.renew(3, "not-the-token", ttl=30)
    assert locks.renew(3, first["token"], ttl=30)["holder"] == first["holder"]
    assert not locks.release(3, "not-the-token") and locks.release(3, first["token"])
    assert locks.held(3) is None and locks.acquire(3, "bob@host-b (process 2)", ttl=30)["holder"].startswith("bob")


def test_a_lock_whose_holder_stopped_renewing_lapses(locks):
    locks.acquire(5, "alice", ttl=1)
    time.sleep(1.3)
    assert locks.held(5) is None
    assert locks.acquire(5, "bob", ttl=30)["holder"] == "bob"


def test_the_round_driver_holds_the_lock_over_http_and_a_second_driver_stops(tmp_path):
    app = create_app(Settings(model_dir=str(tmp_path)))
    client = app.test_client()

    class FlaskBackend(BackendClient):  # the backend's HTTP API, through Flask's test client
        def _request(self, method, path, **kwargs):
            answer = client.open(path, method=method, json=kwargs.get("json"))
            if answer.status_code >= 400:
                raise BackendError(f"the Re-Label backend answered {answer.status_code} to {method} {path}: "
                                   f"{answer.get_json()['error']}", answer.status_code)
            return answer.get_json()

    backend = FlaskBackend("http://backend", None)
    with RoundLock(backend, 7, ttl=30):
        assert "process" in client.get("/projects/7/round-lock").get_json()["lock"]["holder"]
        with pytest.raises(RoundError, match="another round is running: project 7's round is being run by .* since"):
            with RoundLock(backend, 7, ttl=30):
                pass
    assert client.get("/projects/7/round-lock").status_code == 404  # given back
    answer = client.post("/projects/7/round-lock", json={"holder": "x", "ttl": 10 ** 6})
    assert answer.status_code == 400 and "ttl" in answer.get_json()["error"]


def test_a_driver_that_lost_its_lock_writes_nothing_more(tmp_path):
    lock = RoundLock(BackendClient("http://unused", None), 7)
    lock.lost = "the Re-Label backend answered 409: not held by this run"
    with pytest.raises(RoundError, match="lost its lock on project 7 .* nothing more was written"):
        lock.check()


def stepping_job(steps: list, pause: float = 0.05):
    """A job function that reports progress step after step until stopped, recording how far it got."""
    def run(job, progress):
        for step in range(10_000):
            progress("working", step, 10_000)
            steps.append(step)
            time.sleep(pause)
        return {}
    return run


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_embedded_runner_stops_a_job_past_its_timeout(tmp_path):
    store, steps = ModelStore(str(tmp_path)), []
    runner = JobRunner(store, stepping_job(steps), progress_interval=0.0, timeout=0.5)
    job, _ = runner.start(1)
    assert wait_for(lambda: runner.get(1, job["id"])["state"] == "failed")
    record = runner.get(1, job["id"])
    assert "stopped: it ran longer than RELABEL_JOB_TIMEOUT (0.5 s)" == record["error"]
    stopped_at = len(steps)
    time.sleep(0.3)
    assert len(steps) == stopped_at  # the work stopped too, not just its record


def test_a_cancelled_job_stops_and_stays_cancelled(tmp_path):
    store, steps = ModelStore(str(tmp_path)), []
    app = create_app(Settings(model_dir=str(tmp_path)))
    service = app.extensions["relabel"]
    service.jobs = JobRunner(store, stepping_job(steps), progress_interval=0.0)
    job, _ = service.jobs.start(2)
    assert wait_for(lambda: len(steps) > 2)
    answer = app.test_client().delete(f"/jobs/{job['id']}")
    assert answer.status_code == 200 and answer.get_json()["job"]["state"] == "cancelled"
    assert wait_for(lambda: not any(t.name == f"job-{job['id']}" for t in threading.enumerate()))
    record = service.jobs.get(2, job["id"])
    assert record["state"] == "cancelled" and "cancelled on request" in record["error"]
    stopped_at = len(steps)
    time.sleep(0.3)
    assert len(steps) == stopped_at
    assert app.test_client().delete(f"/jobs/{job['id']}").get_json()["job"]["state"] == "cancelled"  # ended: stays
    assert app.test_client().delete("/jobs/2-99").status_code == 404


def test_a_late_heartbeat_cannot_revive_a_failed_job(tmp_path):
    store, steps = ModelStore(str(tmp_path)), []
    job = new_job_record(store, 3, {}, "running", "starting")
    thread = threading.Thread(target=execute_job, args=(store, job, stepping_job(steps, pause=0.2)),
                              kwargs={"heartbeat_interval": 0.05, "progress_interval": 0.0}, daemon=True)
    thread.start()
    assert wait_for(lambda: len(steps) > 1)
    fail_job(store, job, "interrupted: its worker sent no heartbeat")  # another process's verdict
    time.sleep(0.3)  # several heartbeats' time
    thread.join(5)
    record = next(j for j in store.jobs(3) if j["id"] == job["id"])
    assert record["state"] == "failed" and record["error"] == "interrupted: its worker sent no heartbeat"
    assert not thread.is_alive()


def stored_text_model(store: ModelStore, project_id: int) -> None:
    """A small real text model (the embedding head) saved as the project's latest version."""
    from relabel.adapters import adapter_for_config
    from relabel.demo.data import LABEL_CONFIG

    adapter = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": "embedding"}})
    rng = np.random.default_rng(project_id)
    model = adapter.new_model().fit(rng.normal(size=(8, 4)), ["sports", "food"] * 4)
    with store.writing_version(project_id, f"model-v1-p{project_id}", {"fingerprint": str(project_id),
                                                                       "label_config": LABEL_CONFIG}) as scratch:
        adapter.save_model(model, scratch)


def test_loaded_models_are_an_lru_and_load_under_their_projects_lock(tmp_path, monkeypatch):
    store = ModelStore(str(tmp_path))
    for project_id in (1, 2, 3):
        stored_text_model(store, project_id)
    app = create_app(Settings(model_dir=str(tmp_path), max_loaded_models=2, text_mode="embedding"))
    service = app.extensions["relabel"]
    for project_id in (1, 2, 1, 3):
        assert service.model(project_id)[0] == f"model-v1-p{project_id}"
    assert list(service._models) == [1, 3]  # 2 was the least recently used

    from relabel.adapters.tasks.text_classification import TextClassificationAdapter
    real_load, release = TextClassificationAdapter.load_model, threading.Event()

    def slow_load(adapter, directory):
        if directory.endswith("model-v1-p2"):
            release.wait(10)
        return real_load(adapter, directory)
    monkeypatch.setattr(TextClassificationAdapter, "load_model", slow_load)
    loading = threading.Thread(target=service.model, args=(2,), daemon=True)
    loading.start()
    started = time.monotonic()
    assert service.model(1)[0] == "model-v1-p1" and time.monotonic() - started < 1  # not held up by project 2
    release.set()
    loading.join(10)
    assert 2 in service._models


def test_a_short_embedding_does_not_wait_for_a_long_one():
    from relabel.adapters.models.text_encoders import shared_embedder

    embedder = shared_embedder(None, "cpu")
    first_batch_done, short_finished = threading.Event(), threading.Event()
    long_done, short_done = [], []

    def between_batches(step, done, total):
        # the long embedding pauses after its first batch until the short one is through (or 60 s): a
        # lock held for the whole call would keep the short one waiting all that time
        if not first_batch_done.is_set():
            first_batch_done.set()
            short_finished.wait(60)

    long_run = threading.Thread(target=lambda: long_done.append(embedder.embed(
        [f"a training text {i}" for i in range(640)], progress=between_batches)) or long_done.append(time.monotonic()))
    long_run.start()
    assert first_batch_done.wait(60)
    short = embedder.embed(["one request's text"])
    short_done.append(time.monotonic())
    short_finished.set()
    long_run.join(120)
    assert short.shape[0] == 1 and short_done[0] < long_done[1]
