"""An object-detection round on a real Label Studio (images uploaded to it) with the real backend and a real
YOLO detector.

A detector trained from scratch needs some hundred steps before it finds anything, too slow per fold in a
test; so, as a user would start from their own yolo11n.pt, the test first trains a small detector on other
generated scenes (about a minute) and the backend fine-tunes it for 2 epochs per fold.
"""
from __future__ import annotations

import json

import pytest

from relabel.adapters import adapter_for_config
from relabel.stack import free_port, start_backend
from tests.conftest import BackendServer
from tests.object_detection_data import DETECTION_CONFIG, rectangle_results, write_scenes
from tests.helpers import (all_tasks, annotation_snapshot, backend_predict, round_tabs, sync_round, tab_task_ids,
                           upload_images)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def starting_weights(tmp_path_factory):
    """A user's own detector weights (.pt): trained here on 60 other scenes."""
    root = tmp_path_factory.mktemp("starting-weights")
    scenes = write_scenes(root / "scenes", 60, seed=1)
    adapter = adapter_for_config(DETECTION_CONFIG, {"object-detection": {  # mosaic slows learning on tiny images
        "epochs": 100, "image_size": 64, "train_options": {"mosaic": 0.0}}}, device="cpu")
    adapter.new_model().fit([str(path) for path, _ in scenes], [boxes for _, boxes in scenes]).save(str(root))
    return root / "detector.pt"


@pytest.fixture(scope="module")
def detection_backend(label_studio, starting_weights, tmp_path_factory):
    root = tmp_path_factory.mktemp("detection-backend")
    service = start_backend(free_port(), label_studio.url, label_studio.token, root / "models", root / "backend.log",
                            extra_env={"RELABEL_DETECTION_MODEL": str(starting_weights), "RELABEL_DETECTION_EPOCHS": "2",
                                       "RELABEL_DETECTION_SIZE": "64", "RELABEL_DEVICE": "cpu"})
    yield BackendServer(service.url, root / "models", service.log_path)
    service.stop()


@pytest.fixture(scope="module")
def detection_project(label_studio, tmp_path_factory):
    """45 uploaded scenes with human boxes; in one a box is missing, in another a box is shifted by half its width."""
    scenes = write_scenes(tmp_path_factory.mktemp("detection-uploads"), 45, seed=2)
    ls = label_studio.sdk()
    project = ls.projects.create(title="detection planted errors", label_config=DETECTION_CONFIG)
    task_of = upload_images(label_studio, project.id, [path for path, _ in scenes])
    boxes_of = {path.name: boxes for path, boxes in scenes}
    missing_name, shifted_name = scenes[5][0].name, scenes[17][0].name
    planted = {}
    for name, task in task_of.items():
        boxes = boxes_of[name]
        if name == missing_name:
            dropped = boxes[0]
            boxes, planted[task["id"]] = boxes[1:], ("overlooked", dropped[4])
        elif name == shifted_name:
            x, y, w, h, shape = boxes[0]
            boxes, planted[task["id"]] = [[x + w / 2, y, w, h, shape]] + boxes[1:], ("badly_located", shape)
        ls.annotations.create(id=task["id"], result=rectangle_results(boxes))
    return project.id, planted


@pytest.fixture(scope="module")
def detection_round(label_studio, detection_backend, detection_project, tmp_path_factory):
    project_id, _ = detection_project
    rounds_dir = tmp_path_factory.mktemp("detection-rounds")
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    result = sync_round(label_studio, detection_backend, project_id, rounds_dir, "--per-class")
    assert result.returncode == 0, result.stderr + result.stdout
    return {"before": before, "rounds_dir": rounds_dir,
            "report": json.loads((rounds_dir / "round-1" / "report.json").read_text())}


def test_round_one_tab_holds_the_missing_and_the_shifted_box(label_studio, detection_project, detection_round):
    project_id, planted = detection_project
    report = detection_round["report"]
    shown = tab_task_ids(label_studio, round_tabs(label_studio, project_id)["Re-label round 1"]["id"])
    assert set(shown[:2]) == set(planted), (planted, report["flagged_tasks"])
    assert len(shown) <= 6  # 2 planted among 45: the tab is not flooded
    rows = {row["task"]: row for row in report["flagged_tasks"]}
    for task_id, (kind, shape) in planted.items():
        assert shape in rows[task_id]["errors"][kind], rows[task_id]


def test_report_counts_box_errors_per_class_and_tabs_per_class(label_studio, detection_project, detection_round):
    project_id, planted = detection_project
    report = detection_round["report"]
    assert report["adapter"] == "object-detection" and report["n_folds"] == 3  # detection's own K
    totals = {kind: sum(counts.get(kind, 0) for counts in report["errors_per_class"].values())
              for kind in ("overlooked", "badly_located")}
    assert totals["overlooked"] >= 1 and totals["badly_located"] >= 1
    markdown = (detection_round["rounds_dir"] / "round-1" / "report.md").read_text()
    assert "| class | overlooked | spurious | swapped | badly_located |" in markdown
    tabs = round_tabs(label_studio, project_id)
    for task_id, (_, shape) in planted.items():
        assert task_id in tab_task_ids(label_studio, tabs[f"Re-label round 1 — {shape}"]["id"])


def test_predictions_are_boxes_and_annotations_are_unchanged(label_studio, detection_project, detection_round):
    project_id, _ = detection_project
    version = detection_round["report"]["model_version"]
    tasks = all_tasks(label_studio, project_id)
    for task in tasks:
        [prediction] = [p for p in task["predictions"] if p["model_version"] == version]
        for result in prediction["result"]:
            assert result["type"] == "rectanglelabels" and 0 < result["score"] <= 1
            assert result["value"]["rectanglelabels"][0] in ("square", "circle")
    assert annotation_snapshot(tasks) == detection_round["before"]


def test_predict_endpoint_answers_boxes_for_an_uploaded_image(label_studio, detection_backend, detection_project,
                                                              detection_round):
    project_id, _ = detection_project
    task = all_tasks(label_studio, project_id)[0]
    answer = backend_predict(detection_backend, project_id, DETECTION_CONFIG, [{"id": task["id"], "data": task["data"]}])
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["model_version"] == detection_round["report"]["model_version"]
    assert result["result"] and all(r["type"] == "rectanglelabels" for r in result["result"])
