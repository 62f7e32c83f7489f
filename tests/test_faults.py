"""Faults in the middle of a round: Label Studio stops, the backend is killed. The round fails with a
clear message, and once the service is back a re-run completes it without duplicate predictions or tabs
(and, as in every integration test, without touching a human annotation: see conftest)."""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from relabel.stack import free_port, start_backend
from relabel.demo.data import annotation_result
from tests.helpers import all_tasks, create_noisy_project, round_tabs, start_sync_round, sync_round

pytestmark = pytest.mark.integration


class RestartableBackend:
    """An embedded-jobs backend that can be killed and started again on the same port and model store."""

    def __init__(self, label_studio, root):
        self.label_studio, self.root, self.port = label_studio, root, free_port()
        self.service = None
        self.start()

    def start(self):
        self.service = start_backend(self.port, self.label_studio.url, self.label_studio.token, self.root / "models",
                                     self.root / "backend.log")
        self.url = self.service.url

    def kill(self):
        os.killpg(self.service.process.pid, signal.SIGKILL)
        self.service.process.wait()

    def jobs(self, project_id):
        return requests.get(f"{self.url}/jobs", params={"project": project_id}, timeout=30).json()["jobs"]


@pytest.fixture(scope="module")
def restartable_backend(label_studio, tmp_path_factory):
    backend = RestartableBackend(label_studio, tmp_path_factory.mktemp("restartable-backend"))
    yield backend
    backend.service.stop()


def wait_until_fitting(backend, project_id, timeout=120) -> dict:
    """The project's job once it has read the tasks and is training (Label Studio's part is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = next(iter(backend.jobs(project_id)[-1:]), None)
        if job and job["state"] == "running" and not job["stage"].startswith(("starting", "reading")):
            return job
        assert not job or job["state"] != "done", f"the job finished before the fault: {job}"
        time.sleep(0.05)
    raise AssertionError("the job never started training")


def assert_round_complete_without_duplicates(label_studio, project_id, backend):
    jobs = backend.jobs(project_id)
    assert jobs[-1]["state"] == "done"
    version = jobs[-1]["result"]["model_version"]
    for task in all_tasks(label_studio, project_id):
        assert [p["model_version"] for p in task["predictions"]] == [version], task["id"]
    assert list(round_tabs(label_studio, project_id)) == ["Re-label round 1"]


def test_label_studio_stopped_mid_round(label_studio, restartable_backend, tmp_path):
    project_id, _ = create_noisy_project(label_studio, "Label Studio stops", n_items=80, noise_rate=0.3, seed=31)
    running = start_sync_round(label_studio, restartable_backend, project_id, tmp_path)
    try:
        wait_until_fitting(restartable_backend, project_id)
        label_studio.stop()
        _, stderr = running.communicate(timeout=300)
    finally:
        running.kill()
        if not _is_up(label_studio):
            label_studio.start()
    assert running.returncode == 1
    assert f"Label Studio at {label_studio.url} is not reachable" in stderr and "Traceback" not in stderr, stderr

    again = sync_round(label_studio, restartable_backend, project_id, tmp_path)
    assert again.returncode == 0, again.stderr
    assert_round_complete_without_duplicates(label_studio, project_id, restartable_backend)


def test_backend_killed_mid_training(label_studio, restartable_backend, tmp_path):
    project_id, _ = create_noisy_project(label_studio, "backend killed", n_items=80, noise_rate=0.3, seed=32)
    running = start_sync_round(label_studio, restartable_backend, project_id, tmp_path)
    try:
        killed_job = wait_until_fitting(restartable_backend, project_id)
        restartable_backend.kill()
        _, stderr = running.communicate(timeout=300)
    finally:
        running.kill()
        if restartable_backend.service.process.poll() is not None:
            restartable_backend.start()
    assert running.returncode == 1
    assert f"Re-Label backend at {restartable_backend.url} is not reachable" in stderr, stderr
    assert "Traceback" not in stderr
    interrupted = restartable_backend.jobs(project_id)[-1]
    assert interrupted["id"] == killed_job["id"] and interrupted["state"] == "failed"
    assert "interrupted" in interrupted["error"]

    again = sync_round(label_studio, restartable_backend, project_id, tmp_path)
    assert again.returncode == 0, again.stderr
    assert_round_complete_without_duplicates(label_studio, project_id, restartable_backend)


def _is_up(label_studio) -> bool:
    try:
        return requests.get(label_studio.url + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_annotation_invariant_check_sees_a_changed_or_deleted_annotation(label_studio):
    # conftest's check after every integration test reads these records: it must be able to fail.
    project_id, rows = create_noisy_project(label_studio, "annotation check", n_items=4, seed=33)
    annotations = [a for t in all_tasks(label_studio, project_id) for a in t["annotations"]]
    ls = label_studio.sdk()
    ls.annotations.update(id=annotations[0]["id"], result=annotation_result("weather"))
    ls.annotations.delete(id=annotations[1]["id"])
    changes = label_studio.take_annotation_changes()
    assert any(c.startswith(f"UPDATE annotation {annotations[0]['id']}:") and "weather" in c for c in changes)
    assert any(c.startswith(f"DELETE annotation {annotations[1]['id']}:") for c in changes)
