"""Rounds 1 and 2 on a real Label Studio with the real backend and the real default model."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from relabel.demo.data import LABEL_CONFIG
from tests.helpers import (all_tasks, annotation_snapshot, api, create_noisy_project, relabel, round_tabs, sync_round,
                           tab_task_ids)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def noisy_project(label_studio):
    # 200 items: with fewer, 5-fold models see too few examples per class to estimate the noise well
    return create_noisy_project(label_studio, "noisy topics", n_items=200, noise_rate=0.2, seed=1)


@pytest.fixture(scope="module")
def round_one(label_studio, backend, noisy_project, tmp_path_factory):
    project_id, rows = noisy_project
    rounds_dir = tmp_path_factory.mktemp("rounds")
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    result = sync_round(label_studio, backend, project_id, rounds_dir)
    assert result.returncode == 0, result.stderr + result.stdout
    return {"rounds_dir": rounds_dir, "before": before, "stdout": result.stdout,
            "report": json.loads((rounds_dir / "round-1" / "report.json").read_text())}


def test_round_one_tab_holds_the_flipped_tasks(label_studio, noisy_project, round_one):
    project_id, rows = noisy_project
    tabs = round_tabs(label_studio, project_id)
    assert list(tabs) == ["Re-label round 1"]
    shown = tab_task_ids(label_studio, tabs["Re-label round 1"]["id"])
    flipped = {task_id for task_id, row in rows.items() if row["flipped"]}
    assert len(set(shown) & flipped) / len(flipped) >= 0.7
    clean_shown = set(shown) - flipped
    assert len(clean_shown) <= 0.1 * (len(rows) - len(flipped))
    # Most suspicious first: the tab's order is the report's ranking.
    assert shown == [t["task"] for t in round_one["report"]["flagged_tasks"]]
    assert f"?tab={tabs['Re-label round 1']['id']}" in round_one["stdout"]


def test_round_one_writes_one_prediction_per_labeled_task(label_studio, noisy_project, round_one):
    project_id, _ = noisy_project
    version = round_one["report"]["model_version"]
    tasks = all_tasks(label_studio, project_id)
    for task in tasks:
        versions = [p["model_version"] for p in task["predictions"]]
        assert versions.count(version) == 1, (task["id"], versions)
        prediction = next(p for p in task["predictions"] if p["model_version"] == version)
        assert prediction["result"][0]["value"]["choices"][0] in {"sports", "weather", "food", "technology"}
        assert 0 < prediction["score"] <= 1
    assert annotation_snapshot(tasks) == round_one["before"]
    # what the backend and sync_round read (only the fields named): the same tasks, data and annotations
    from relabel.clients.label_studio import TASK_ANNOTATION_FIELDS, LabelStudioClient

    client = LabelStudioClient(label_studio.url, label_studio.token)
    light = client.list_tasks(project_id, with_labels=False)
    assert {t["id"]: t["data"] for t in light} == {t["id"]: t["data"] for t in tasks}
    assert not any(t.get("annotations") or t.get("predictions") for t in light)
    labeled = client.list_tasks(project_id)
    assert {t["id"]: t["data"] for t in labeled} == {t["id"]: t["data"] for t in tasks}
    assert {t["id"]: [{k: a[k] for k in TASK_ANNOTATION_FIELDS} for a in t["annotations"]] for t in labeled} == \
        {t["id"]: [{k: a[k] for k in TASK_ANNOTATION_FIELDS} for a in t["annotations"]] for t in tasks}
    # which tasks hold a model version's predictions (a re-run writes only the missing ones)
    assert client.tasks_with_predictions(project_id, version) == {t["id"] for t in tasks}
    assert client.tasks_with_predictions(project_id, version + "x") == set()
    assert client.tasks_with_predictions(project_id, "model-v99-00000000") == set()


def test_round_report_files(round_one):
    report = round_one["report"]
    assert report["round"] == 1 and report["prediction_source"] == "out_of_fold" and report["n_folds"] == 5
    assert report["flagged"] == len(report["flagged_tasks"]) > 0
    assert sum(f["count"] for f in report["flips"]) == report["flagged"]
    assert 0.1 <= report["estimated_noise_rate"] <= 0.3  # 20% of the labels were flipped
    assert report["detection"]["flag_rule"] == "budget" and report["suppressed_confirmed"] == 0
    assert report["detection"]["quality_method"] == "noise_adjusted_margin"  # the classification default, recorded
    markdown = (round_one["rounds_dir"] / "round-1" / "report.md").read_text()
    assert "| human | model | tasks |" in markdown and report["model_version"] in markdown
    assert "estimated label noise" in markdown


def test_rerunning_a_round_adds_no_duplicates(label_studio, backend, noisy_project, round_one):
    project_id, _ = noisy_project
    result = sync_round(label_studio, backend, project_id, round_one["rounds_dir"], "--round", "1")
    assert result.returncode == 0, result.stderr
    tasks = all_tasks(label_studio, project_id)
    for task in tasks:
        assert len(task["predictions"]) == 1, task["predictions"]
    assert list(round_tabs(label_studio, project_id)) == ["Re-label round 1"]
    assert annotation_snapshot(tasks) == round_one["before"]


def test_backend_predict_serves_the_full_data_model(label_studio, backend, noisy_project, round_one):
    project_id, rows = noisy_project
    body = {"tasks": [{"id": 1, "data": {"text": "The goalkeeper saved a penalty in the final."}},
                      {"id": 2, "data": {"text": "Snow and ice will close the mountain pass tonight."}}],
            "project": f"{project_id}.1700000000", "label_config": None, "params": {}}
    answer = requests.post(backend.url + "/predict", json=body, timeout=60).json()
    assert [r["result"][0]["value"]["choices"][0] for r in answer["results"]] == ["sports", "weather"]
    assert answer["model_version"] == round_one["report"]["model_version"]
    # The config lost a label the model predicts: a clear error, and the server keeps serving.
    body["label_config"] = LABEL_CONFIG.replace('    <Choice value="food"/>\n', "")
    answer = requests.post(backend.url + "/predict", json=body, timeout=60)
    assert answer.status_code == 422 and "['food']" in answer.json()["error"] and "label_config" in answer.json()["error"]
    assert requests.get(backend.url + "/health", timeout=5).status_code == 200


def test_label_studio_retrieves_predictions_for_a_new_task(label_studio, backend, noisy_project, round_one):
    project_id, _ = noisy_project
    ls = label_studio.sdk()
    ls.projects.import_tasks(id=project_id, request=[{"data": {"text": "This curry recipe needs coconut milk."}}])
    new_task = max(all_tasks(label_studio, project_id), key=lambda t: t["id"])
    assert new_task["predictions"] == []
    api(label_studio, "POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": project_id},
        json={"selectedItems": {"all": False, "included": [new_task["id"]]}})
    predictions = next(t for t in all_tasks(label_studio, project_id) if t["id"] == new_task["id"])["predictions"]
    assert [p["model_version"] for p in predictions] == [round_one["report"]["model_version"]]
    assert predictions[0]["result"][0]["value"]["choices"] == ["food"]


def test_round_two_after_fixes_flags_fewer(label_studio, backend, noisy_project, round_one):
    project_id, rows = noisy_project
    flagged = round_one["report"]["flagged_tasks"]
    for task in flagged:
        relabel(label_studio, task["task"], rows[task["task"]]["true_label"])
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    result = sync_round(label_studio, backend, project_id, round_one["rounds_dir"], "--folds", "4")
    assert result.returncode == 0, result.stderr
    report = json.loads((round_one["rounds_dir"] / "round-2" / "report.json").read_text())
    assert report["round"] == 2 and report["model_version"] != round_one["report"]["model_version"]
    assert report["n_folds"] == 4
    assert report["flagged"] < round_one["report"]["flagged"]
    changed = sum(1 for t in flagged if rows[t["task"]]["true_label"] != t["human"])
    assert report["history"][0]["outcome"]["changed"] == changed
    assert report["history"][0]["outcome"]["confirmed"] == len(flagged) - changed
    assert report["history"][0]["outcome"]["precision"] == round(changed / len(flagged), 4)
    assert f"precision of round 1's flags: {changed / len(flagged):.1%}" in \
        (round_one["rounds_dir"] / "round-2" / "report.md").read_text()
    # Tasks humans kept in round 1 come back only if the new model doubts them clearly more.
    confirmed = {t["task"]: t["label_quality"] for t in flagged if rows[t["task"]]["true_label"] == t["human"]}
    for task in report["flagged_tasks"]:
        if task["task"] in confirmed:
            assert task["label_quality"] < confirmed[task["task"]] - report["detection"]["confirmation_margin"]
    assert set(report["suppressed_tasks"]) <= set(confirmed)
    tabs = round_tabs(label_studio, project_id)
    assert set(tabs) == {"Re-label round 1", "Re-label round 2"}
    assert set(tab_task_ids(label_studio, tabs["Re-label round 2"]["id"])) == {t["task"] for t in report["flagged_tasks"]}
    tasks = all_tasks(label_studio, project_id)
    assert annotation_snapshot(tasks) == before
    assert Counter(len(t["predictions"]) for t in tasks) == Counter({2: len(tasks)})  # model-v1 and model-v2


def test_round_three_from_another_machine_finds_the_same_history(label_studio, backend, noisy_project, round_one,
                                                                 tmp_path):
    """The history lives with the project: a fresh checkout (no rounds folder) gets the same round 3."""
    project_id, _ = noisy_project
    elsewhere = sync_round(label_studio, backend, project_id, tmp_path / "fresh-checkout")
    assert elsewhere.returncode == 0, elsewhere.stderr
    there = json.loads((tmp_path / "fresh-checkout" / "round-3" / "report.json").read_text())
    here_run = sync_round(label_studio, backend, project_id, round_one["rounds_dir"], "--round", "3")
    assert here_run.returncode == 0, here_run.stderr
    here = json.loads((round_one["rounds_dir"] / "round-3" / "report.json").read_text())
    assert there["round"] == here["round"] == 3 and there["model_version"] == here["model_version"]
    assert [(t["task"], t["label_quality"]) for t in there["flagged_tasks"]] == \
        [(t["task"], t["label_quality"]) for t in here["flagged_tasks"]]
    assert there["history"] == here["history"] and [h["round"] for h in there["history"]] == [1, 2]
    assert there["suppressed_tasks"] == here["suppressed_tasks"]
    stored = requests.get(f"{backend.url}/projects/{project_id}/rounds", timeout=30).json()["rounds"]
    assert [r["round"] for r in stored] == [1, 2, 3]
    # every round scores its model on the evaluation tasks, and the round before's model on the same labels
    evaluation = here["evaluation"]
    assert evaluation["tasks"] > 0 and 0.5 < evaluation["model"]["accuracy"] <= 1
    assert evaluation["previous"]["version"] == here["history"][-1]["model_version"]
    assert 0 < evaluation["previous"]["accuracy"] <= 1
    assert here["history"][-1]["evaluation"]["model"]["accuracy"] > 0
    for name in ("report.html", "chart.png", "report.md"):
        assert (tmp_path / "fresh-checkout" / "round-3" / name).stat().st_size > 1000


def test_dry_run_writes_nothing(label_studio, backend, tmp_path):
    project_id, _ = create_noisy_project(label_studio, "dry run", n_items=40, seed=3)
    def state():
        return [(t["id"], t["data"], t["predictions"], t["annotations"]) for t in all_tasks(label_studio, project_id)]

    before = state()
    result = sync_round(label_studio, backend, project_id, tmp_path, "--dry-run", "--prediction-source", "in_sample")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "round-1-dry-run" / "report.json").read_text())
    assert report["dry_run"] is True and report["prediction_source"] == "in_sample" and report["n_folds"] is None
    assert "in_sample" in (tmp_path / "round-1-dry-run" / "report.md").read_text()
    assert state() == before
    assert round_tabs(label_studio, project_id) == {}
    assert api(label_studio, "GET", "/api/ml", params={"project": project_id}) == []


def test_in_sample_outputs_mixed_in_rank_and_the_out_of_fold_ones_count(label_studio, backend, tmp_path):
    project_id, _ = create_noisy_project(label_studio, "in-sample mix", n_items=40, seed=4)
    result = sync_round(label_studio, backend, project_id, tmp_path, "--dry-run", "--in-sample-weight", "0.5")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "round-1-dry-run" / "report.json").read_text())
    assert report["detection"]["in_sample_weight"] == 0.5 and report["detection"]["budget"] is None
    # as many flagged as the out-of-fold outputs estimate wrong (the report's rate), ranked on the mix
    assert report["flagged"] == round(report["estimated_noise_rate"] * report["labeled"]) > 0
    stored = requests.get(f"{backend.url}/projects/{project_id}/predictions",
                          params={"model_version": report["model_version"]}, timeout=30).json()
    assert all(len(item["in_sample_output"]) == len(item["output"]) for item in stored["items"])
    # a round that does not ask stores none, and records that nothing was mixed in
    result = sync_round(label_studio, backend, project_id, tmp_path / "plain", "--dry-run")
    assert result.returncode == 0, result.stderr
    plain = json.loads((tmp_path / "plain" / "round-1-dry-run" / "report.json").read_text())
    assert plain["detection"]["in_sample_weight"] == 0.0 and plain["model_version"] != report["model_version"]
