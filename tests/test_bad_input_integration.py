"""Bad input against the real Label Studio and backend: clear errors naming the task and field,
nothing written, and the backend keeps serving."""
from __future__ import annotations

import pytest
import requests

from relabel.demo.data import LABEL_CONFIG, annotation_result
from relabel.stack import free_port
from tests.helpers import all_tasks, annotation_snapshot, create_noisy_project, round_tabs, sync_round

pytestmark = pytest.mark.integration

KEYPOINTS = '<View><Image name="img" value="$image"/><KeyPointLabels name="kp" toName="img">' \
            '<Label value="nose"/></KeyPointLabels></View>'


def new_project(label_studio, title, label_config=LABEL_CONFIG, tasks=()):
    ls = label_studio.sdk()
    project = ls.projects.create(title=title, label_config=label_config)
    if tasks:
        ls.projects.import_tasks(id=project.id, request=list(tasks))
    return project.id


def start_training(backend, project_id):
    return requests.post(backend.url + "/webhook", json={"action": "START_TRAINING", "project": {"id": project_id}},
                         timeout=120)


def assert_backend_healthy(backend):
    assert requests.get(backend.url + "/health", timeout=5).json()["status"] == "UP"


def test_label_not_in_the_config(label_studio, backend, tmp_path):
    project_id, rows = create_noisy_project(label_studio, "stray label", n_items=30, seed=11)
    task_id = next(iter(rows))
    label_studio.sdk().annotations.create(id=task_id, result=annotation_result("astrology"))
    before = annotation_snapshot(all_tasks(label_studio, project_id))

    answer = start_training(backend, project_id)
    assert answer.status_code == 422
    assert f"task {task_id}: annotation" in answer.json()["error"] and "'astrology'" in answer.json()["error"]

    result = sync_round(label_studio, backend, project_id, tmp_path)
    assert result.returncode == 1
    assert f"task {task_id}: annotation" in result.stderr and "not in the labeling config" in result.stderr
    assert "Traceback" not in result.stderr
    assert annotation_snapshot(all_tasks(label_studio, project_id)) == before
    assert round_tabs(label_studio, project_id) == {}
    assert_backend_healthy(backend)


def test_task_with_unusable_data(label_studio, backend, tmp_path):
    # Label Studio refuses tasks without the configured field at import; an empty text gets through.
    project_id = new_project(label_studio, "empty text", tasks=[
        {"data": {"text": f"text number {i}"}, "annotations": [{"result": annotation_result("food")}]}
        for i in range(10)] + [{"data": {"text": "  "}}])
    bad_task = max(task["id"] for task in all_tasks(label_studio, project_id))
    result = sync_round(label_studio, backend, project_id, tmp_path)
    assert result.returncode == 1 and f"task {bad_task}: data.text: expected non-empty text" in result.stderr
    assert_backend_healthy(backend)


def test_empty_project_and_project_without_labels(label_studio, backend, tmp_path):
    empty = new_project(label_studio, "empty")
    answer = start_training(backend, empty)
    assert answer.status_code == 422 and f"project {empty} has no tasks" in answer.json()["error"]
    result = sync_round(label_studio, backend, empty, tmp_path)
    assert result.returncode == 1 and "has no tasks" in result.stderr

    unlabeled = new_project(label_studio, "unlabeled", tasks=[{"data": {"text": f"t {i}"}} for i in range(8)])
    answer = start_training(backend, unlabeled)
    assert answer.status_code == 422 and "0 labeled task(s)" in answer.json()["error"]
    assert_backend_healthy(backend)


def test_unsupported_label_config(label_studio, backend, tmp_path):
    project_id = new_project(label_studio, "keypoints", label_config=KEYPOINTS)
    result = sync_round(label_studio, backend, project_id, tmp_path)
    assert result.returncode == 1 and "no Re-Label adapter understands this labeling config" in result.stderr
    answer = requests.post(backend.url + "/setup", json={"project": f"{project_id}.1", "schema": KEYPOINTS}, timeout=10)
    assert answer.status_code == 422
    assert_backend_healthy(backend)


def test_unknown_project(label_studio, backend, tmp_path):
    answer = start_training(backend, 987654)
    assert answer.status_code == 404 and "project 987654" in answer.json()["error"]
    result = sync_round(label_studio, backend, 987654, tmp_path)
    assert result.returncode == 1 and "HTTP 404" in result.stderr


def test_label_studio_or_backend_down(label_studio, backend, tmp_path):
    project_id, _ = create_noisy_project(label_studio, "services down", n_items=20, seed=12)
    closed = f"http://127.0.0.1:{free_port()}"
    result = sync_round(label_studio, backend, project_id, tmp_path, env_overrides={"LABEL_STUDIO_URL": closed})
    assert result.returncode == 1 and f"Label Studio at {closed} is not reachable" in result.stderr
    result = sync_round(label_studio, backend, project_id, tmp_path, "--backend-url", closed)
    assert result.returncode == 1 and f"Re-Label backend at {closed} is not reachable" in result.stderr


def test_no_token_in_logs_or_output(label_studio, backend, tmp_path):
    project_id, _ = create_noisy_project(label_studio, "secrets", n_items=20, seed=13)
    result = sync_round(label_studio, backend, project_id, tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    for text in (result.stdout, result.stderr, backend.log_path.read_text()):
        assert label_studio.token not in text


def test_personal_access_token_works_like_a_legacy_token(label_studio, backend, tmp_path):
    from relabel.clients.label_studio import LabelStudioClient

    personal_token = label_studio.sdk().tokens.create().token
    assert personal_token.count(".") == 2  # a JWT refresh token; the SDK trades it for access tokens
    project_id, rows = create_noisy_project(label_studio, "personal token", n_items=20, seed=14)
    assert len(LabelStudioClient(label_studio.url, personal_token).list_tasks(project_id)) == len(rows)
    result = sync_round(label_studio, backend, project_id, tmp_path, "--dry-run",
                        env_overrides={"LABEL_STUDIO_API_KEY": personal_token})
    assert result.returncode == 0, result.stderr
    assert personal_token not in result.stdout + result.stderr
