"""Rounds on a real Label Studio that meet other people's work: a second round driver on the same
project, a person editing a task while the round tags it, a person's own tab named like a round's."""
from __future__ import annotations

import time

import pytest
import requests

from relabel.adapters.base import Disagreement
from relabel.clients.label_studio import LabelStudioClient
from relabel.rounds.tabs import next_round, round_tags, tag_tasks
from tests.helpers import all_tasks, api, create_noisy_project, round_tabs, start_sync_round, sync_round

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(label_studio):
    return create_noisy_project(label_studio, "round safety", n_items=80, noise_rate=0.2, seed=5)


def test_a_second_round_driver_on_the_same_project_is_told_who_runs_the_round(label_studio, backend, project,
                                                                               tmp_path):
    project_id, _ = project
    first = start_sync_round(label_studio, backend, project_id, tmp_path / "first")
    lock_url = f"{backend.url}/projects/{project_id}/round-lock"
    deadline = time.monotonic() + 60
    while requests.get(lock_url, timeout=10).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    second = sync_round(label_studio, backend, project_id, tmp_path / "second")
    stdout, stderr = first.communicate(timeout=900)
    assert first.returncode == 0, stderr + stdout
    assert second.returncode == 1 and "another round is running" in second.stderr, second.stderr
    assert "is being run by" in second.stderr and " since " in second.stderr and "Traceback" not in second.stderr
    assert list(round_tabs(label_studio, project_id)) == ["Re-label round 1"]  # one round, one tab
    assert requests.get(lock_url, timeout=10).status_code == 404  # given back


@pytest.mark.parametrize("in_bulk", [True, False], ids=["bulk", "task-by-task"])
def test_tagging_keeps_a_field_a_person_edited_after_the_round_read_the_tasks(label_studio, project, in_bulk):
    project_id, _ = project
    bulk = {"project_id": project_id} if in_bulk else {}
    ls = LabelStudioClient(label_studio.url, label_studio.token)
    snapshot = ls.list_tasks(project_id)  # the round reads its tasks ...
    edited, flagged = snapshot[0]["id"], snapshot[1]["id"]
    api(label_studio, "PATCH", f"/api/tasks/{edited}",  # ... a person edits one meanwhile ...
        json={"data": {**snapshot[0]["data"], "note": "checked by a person", "image": "s3://bucket/raw.png"}})
    tags = round_tags([_flag(edited, 0.1), _flag(flagged, 0.2)], round_number=9)
    assert tag_tasks(ls, snapshot, 9, tags, quiet=True, **bulk) == 2  # ... the round tags it from the old snapshot
    data = next(t for t in all_tasks(label_studio, project_id) if t["id"] == edited)["data"]
    assert data["note"] == "checked by a person" and data["relabel_round"] == 9
    assert data["image"] == "s3://bucket/raw.png"  # stored URIs are written back as stored
    # a re-run that no longer flags the edited task removes only the round's fields
    # (and moves the other up to rank 1)
    assert tag_tasks(ls, ls.list_tasks(project_id), 9, round_tags([_flag(flagged, 0.2)], 9), quiet=True, **bulk) == 2
    data = {t["id"]: t["data"] for t in all_tasks(label_studio, project_id)}
    assert "relabel_round" not in data[edited] and data[edited]["note"] == "checked by a person"
    assert data[flagged]["relabel_rank"] == "1" and data[flagged]["relabel_round"] == 9


def test_a_persons_own_tab_named_like_a_round_is_never_deleted_or_counted(label_studio, backend, project, tmp_path):
    project_id, _ = project
    mine = api(label_studio, "POST", "/api/dm/views", json={"project": project_id, "data": {
        "title": "Re-label round 2", "filters": {"conjunction": "and", "items": []}}})
    views = api(label_studio, "GET", "/api/dm/views", params={"project": project_id})
    assert next_round(views) == 2  # round 1 ran above; this tab is no round 2
    result = sync_round(label_studio, backend, project_id, tmp_path, "--round", "2")
    assert result.returncode == 0, result.stderr + result.stdout
    again = sync_round(label_studio, backend, project_id, tmp_path, "--round", "2")  # a re-run replaces its tab
    assert again.returncode == 0, again.stderr + again.stdout
    views = api(label_studio, "GET", "/api/dm/views", params={"project": project_id})
    titles = [v["data"]["title"] for v in views]
    assert mine["id"] in [v["id"] for v in views] and titles.count("Re-label round 2") == 2  # mine and the round's


def _flag(task_id: int, quality: float) -> Disagreement:
    return Disagreement(task_id, True, quality, "sports", "food")
