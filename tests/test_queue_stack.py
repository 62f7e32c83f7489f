"""The docker-compose stack's commands without Docker: Label Studio on PostgreSQL (the session's),
Redis, the backend with several gunicorn workers and basic auth, two RQ training workers sharing the
model store. A round runs end to end through the queue, its folds queued as jobs of their own; a worker killed mid-job leaves the previous
model served and its job reported failed, and the job runs again on the other worker."""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from relabel.stack import free_port, start_backend, start_redis, start_worker
from tests.helpers import all_tasks, backend_predict, create_noisy_project, relabel, round_tabs, sync_round

pytestmark = pytest.mark.integration

BASIC_AUTH = ("relabel", "queue-stack-secret-pw")
REDIS_PASSWORD = "queue-stack-redis-pw"
HEARTBEAT_TIMEOUT = 8


class QueueStack:
    def __init__(self, backend, workers, model_dir):
        self.url, self.backend, self.workers, self.model_dir = backend.url, backend, workers, model_dir
        self.log_path = backend.log_path

    def get(self, path, **params):
        response = requests.get(self.url + path, params=params, auth=BASIC_AUTH, timeout=30)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        return "".join(service.log_path.read_text(errors="replace") for service in [self.backend, *self.workers])


@pytest.fixture(scope="module")
def stack(label_studio, tmp_path_factory):
    root = tmp_path_factory.mktemp("queue-stack")
    # as docker-compose.yml runs it: Redis requires a password (RQ jobs are pickles)
    redis_server = start_redis(free_port(), root / "redis.log", password=REDIS_PASSWORD)
    environment = {"REDIS_URL": redis_server.url, "BASIC_AUTH_USER": BASIC_AUTH[0], "BASIC_AUTH_PASS": BASIC_AUTH[1],
                   "RELABEL_WEB_WORKERS": "2", "RELABEL_JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                   "RELABEL_MAX_BODY_MB": "4"}
    backend = start_backend(free_port(), label_studio.url, label_studio.token, root / "models", root / "backend.log",
                            extra_env=environment)
    workers = [start_worker(label_studio.url, label_studio.token, root / "models", redis_server.url,
                            root / f"worker-{n}.log", extra_env=environment) for n in (1, 2)]
    yield QueueStack(backend, workers, root / "models")
    for service in [backend, *workers, redis_server]:
        service.stop()


@pytest.fixture(scope="module")
def queued_round(label_studio, stack, tmp_path_factory):
    project_id, rows = create_noisy_project(label_studio, "through the queue", n_items=60, seed=21)
    rounds_dir = tmp_path_factory.mktemp("queue-rounds")
    result = sync_round(label_studio, stack, project_id, rounds_dir, env_overrides={
        "BASIC_AUTH_USER": BASIC_AUTH[0], "BASIC_AUTH_PASS": BASIC_AUTH[1]})
    assert result.returncode == 0, result.stderr + stack.logs()[-3000:]
    return project_id, rows, rounds_dir


def test_a_round_runs_through_the_queue(label_studio, stack, queued_round):
    project_id = queued_round[0]
    jobs = stack.get("/jobs", project=project_id)["jobs"]
    assert [(j["state"], j["runner"]) for j in jobs] == [("done", "rq")]
    assert jobs[0]["pid"] != stack.backend.process.pid  # a worker ran it, not the backend
    assert stack.get(f"/jobs/{jobs[0]['id']}")["job"] == jobs[0]
    # Its 5 folds were queued too: each fitted once, by whichever worker claimed it (backend/fold_jobs.py).
    # split 1: the second pass without the suspect labels (the fast text mode's default), queued as split 0 was
    splits = [0, 1] if jobs[0]["result"]["second_pass_suspects"] else [0]
    assert sorted(jobs[0]["result"]["folds_fitted_by"]) == [f"{s}-{f}" for s in splits for f in range(5)]
    worker_pids = {str(worker.process.pid) for worker in stack.workers}
    assert all(fitter.split(":")[1] not in worker_pids | {str(stack.backend.process.pid)}
               for fitter in jobs[0]["result"]["folds_fitted_by"].values())  # fitted in RQ's work horses
    version = jobs[0]["result"]["model_version"]
    tasks = all_tasks(label_studio, project_id)
    assert all([p["model_version"] for p in t["predictions"]] == [version] for t in tasks)
    assert list(round_tabs(label_studio, project_id)) == ["Re-label round 1"]  # its content: test_round_end_to_end
    # Label Studio reaches the backend with basic auth too: it asks /predict for a new task.
    assert backend_predict_with_auth(stack, project_id, tasks[:2])["model_version"] == version


def backend_predict_with_auth(stack, project_id, tasks):
    answer = requests.post(stack.url + "/predict", auth=BASIC_AUTH, timeout=60, json={
        "tasks": tasks, "project": f"{project_id}.1700000000"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_basic_auth_is_enforced_and_no_secret_reaches_a_log(label_studio, stack, queued_round):
    assert requests.get(stack.url + "/health", timeout=10).status_code == 200
    for path in ("/jobs?project=1", "/versions?project=1", "/projects/1/settings"):
        answer = requests.get(stack.url + path, timeout=10)
        assert answer.status_code == 401 and answer.json()["error"] == "authentication required"
    assert backend_predict(stack, queued_round[0], "", []).status_code == 401
    oversized = requests.post(stack.url + "/predict", data=b"x" * (5 * 1024 * 1024), auth=BASIC_AUTH, timeout=60,
                              headers={"Content-Type": "application/json"})
    assert oversized.status_code == 413 and "Too Large" in oversized.json()["error"]
    logs = stack.logs()
    assert label_studio.token not in logs and BASIC_AUTH[1] not in logs and "job done" in logs
    assert REDIS_PASSWORD not in logs


def test_a_killed_worker_fails_its_job_and_the_previous_model_is_served(label_studio, stack, queued_round):
    project_id, rows, _ = queued_round
    previous = stack.get("/versions", project=project_id)["versions"]
    relabel(label_studio, next(iter(rows)), "sports")  # new labels: the next job trains a new model

    # Several START_TRAINING at once, across the backend's processes: one job.
    def start(_):
        return requests.post(stack.url + "/jobs", json={"project": project_id}, auth=BASIC_AUTH, timeout=60)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(start, range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    job_id = {a.json()["job"]["id"] for a in answers}.pop()

    job = wait_for(stack, job_id, lambda j: j["state"] != "queued")
    assert job["state"] == "running", job
    # As when its container or machine goes: the worker and the child process running the job (RQ's
    # work horse, in a session of its own) are killed at once.
    worker = next(w for w in stack.workers if parent_pid(job["pid"]) == w.process.pid)
    os.killpg(worker.process.pid, signal.SIGKILL)
    os.killpg(os.getpgid(job["pid"]), signal.SIGKILL)
    worker.process.wait()

    failed = wait_for(stack, job_id, lambda j: j["state"] != "running", timeout=HEARTBEAT_TIMEOUT + 30)
    assert failed["state"] == "failed" and "no heartbeat" in failed["error"], failed
    assert stack.get("/versions", project=project_id)["versions"] == previous  # no half model listed
    tasks = all_tasks(label_studio, project_id)[:3]
    assert backend_predict_with_auth(stack, project_id, tasks)["model_version"] == previous[-1]

    again = requests.post(stack.url + "/jobs", json={"project": project_id}, auth=BASIC_AUTH, timeout=60)
    assert again.status_code == 201
    done = wait_for(stack, again.json()["job"]["id"], lambda j: j["state"] in ("done", "failed"), timeout=300)
    assert done["state"] == "done", done
    new_version = done["result"]["model_version"]
    assert stack.get("/versions", project=project_id)["versions"] == previous + [new_version]
    assert backend_predict_with_auth(stack, project_id, tasks)["model_version"] == new_version
    for task in all_tasks(label_studio, project_id):  # one prediction per task and version
        versions = [p["model_version"] for p in task["predictions"]]
        assert sorted(versions) == sorted(set(versions)) and new_version in versions
    assert list(round_tabs(label_studio, project_id)) == ["Re-label round 1"]


def parent_pid(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def wait_for(stack, job_id, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stack.get(f"/jobs/{job_id}")["job"]
        if condition(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stayed {job}")
