"""Test helpers that talk to a real Label Studio."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from relabel.demo.data import LABEL_CONFIG, annotation_result, as_label_studio_tasks, make_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent


def create_noisy_project(label_studio, title: str, n_items: int = 80, noise_rate: float = 0.2, seed: int = 1):
    """A project of generated topic texts with known flipped labels. Returns (project id, {task id: row})."""
    ls = label_studio.sdk()
    rows = make_dataset(n_items=n_items, noise_rate=noise_rate, seed=seed)
    project = ls.projects.create(title=title, label_config=LABEL_CONFIG)
    ls.projects.import_tasks(id=project.id, request=as_label_studio_tasks(rows))
    by_text = {row["text"]: row for row in rows}
    tasks = all_tasks(label_studio, project.id)
    return project.id, {task["id"]: by_text[task["data"]["text"]] for task in tasks}


def api(label_studio, method: str, path: str, **kwargs):
    response = requests.request(method, label_studio.url + path, timeout=60,
                                headers={"Authorization": f"Token {label_studio.token}"}, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def all_tasks(label_studio, project_id: int) -> list[dict]:
    return [task.model_dump(mode="json") for task in
            label_studio.sdk().tasks.list(project=project_id, fields="all", page_size=500)]


def tab_task_ids(label_studio, view_id: int) -> list[int]:
    """Task ids a Data Manager tab shows, in its order (the same query the UI makes)."""
    data = api(label_studio, "GET", "/api/tasks", params={"view": view_id, "page_size": 1000, "fields": "task_only"})
    return [task["id"] for task in data["tasks"]]


def annotation_snapshot(tasks: list[dict]) -> str:
    """Every human annotation, byte for byte, to compare before and after a round."""
    return json.dumps(sorted(([t["id"], a["id"], a["result"], a["updated_at"], a["was_cancelled"]]
                              for t in tasks for a in t["annotations"])), sort_keys=True)


def relabel(label_studio, task_id: int, label: str) -> None:
    """A human's new annotation for a task (the old one stays)."""
    label_studio.sdk().annotations.create(id=task_id, result=annotation_result(label))


def _sync_round_command(label_studio, backend, project_id, rounds_dir, extra, env_overrides):
    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
           **(env_overrides or {})}
    return [sys.executable, str(REPO_ROOT / "scripts" / "sync_round.py"), "--project", str(project_id),
            "--backend-url", backend.url, "--rounds-dir", str(rounds_dir), "--quiet", *extra], env


def sync_round(label_studio, backend, project_id, rounds_dir, *extra, env_overrides=None):
    """Run scripts/sync_round.py as a user would; returns the finished process."""
    command, env = _sync_round_command(label_studio, backend, project_id, rounds_dir, extra, env_overrides)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def start_sync_round(label_studio, backend, project_id, rounds_dir, *extra, env_overrides=None) -> subprocess.Popen:
    """scripts/sync_round.py started in the background (communicate() to finish it)."""
    command, env = _sync_round_command(label_studio, backend, project_id, rounds_dir, extra, env_overrides)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def round_tabs(label_studio, project_id):
    """The project's "Re-label round N" tabs by title."""
    views = api(label_studio, "GET", "/api/dm/views", params={"project": project_id})
    return {v["data"]["title"]: v for v in views if v["data"].get("title", "").startswith("Re-label round")}


def upload_images(label_studio, project_id: int, paths: list) -> dict[str, dict]:
    """Upload image files to a project as Label Studio does from its import dialog: one task per file.
    Returns {file name: task} (Label Studio prefixes the stored name; the task's URL ends with the file name)."""
    handles = [open(path, "rb") for path in paths]
    try:
        # Label Studio reads one file per form field: each gets its own name
        response = requests.post(f"{label_studio.url}/api/projects/{project_id}/import", timeout=120,
                                 headers={"Authorization": f"Token {label_studio.token}"},
                                 files=[(Path(path).name, (Path(path).name, handle, "image/png"))
                                        for path, handle in zip(paths, handles)])
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 201, response.text
    tasks = all_tasks(label_studio, project_id)
    return {Path(path).name: next(t for t in tasks if t["data"]["image"].endswith(Path(path).name)) for path in paths}


def backend_predict(backend, project_id: int, label_config: str, tasks: list[dict]) -> requests.Response:
    """POST /predict as Label Studio sends it (project as "<id>.<created timestamp>")."""
    return requests.post(backend.url + "/predict", timeout=60, json={
        "tasks": tasks, "project": f"{project_id}.1700000000", "label_config": label_config})
