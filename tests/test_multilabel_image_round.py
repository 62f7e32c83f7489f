"""A multi-label round on images in a real Label Studio (uploaded shapes, tags = the shapes each image
holds), with the real backend and the real (small) image classifier over tag sets: planted missing and
extra tags at the top of the tab."""
from __future__ import annotations

import json

import pytest

from relabel.stack import free_port, start_backend
from tests.conftest import BackendServer
from tests.helpers import (all_tasks, annotation_snapshot, backend_predict, round_tabs, sync_round, tab_task_ids,
                           upload_images)
from tests.image_data import SHAPE_CLASSES, TAGS_CONFIG, tags_result, write_tagged_shapes
from tests.test_browser import log_in, page  # noqa: F401 (the browser fixture)

pytestmark = pytest.mark.integration

#: file number -> (kind, tag) of the planted error: pairs lose a shape, single shapes gain one
PLANTED = {3: ("missing", "circle"), 41: ("missing", "square"), 76: ("missing", "triangle"),
           12: ("extra", "square"), 55: ("extra", "triangle")}


@pytest.fixture(scope="module")
def tags_backend(label_studio, tmp_path_factory):
    root = tmp_path_factory.mktemp("image-tags-backend")
    service = start_backend(free_port(), label_studio.url, label_studio.token, root / "models", root / "backend.log",
                            extra_env={"RELABEL_IMAGE_SIZE": "48", "RELABEL_IMAGE_EPOCHS": "10",
                                       "RELABEL_DEVICE": "cpu"})
    yield BackendServer(service.url, root / "models", service.log_path)
    service.stop()


def planted_label(shapes: list[str], kind: str, tag: str) -> list[str]:
    if kind == "missing":
        assert tag in shapes and len(shapes) == 2
        return [s for s in shapes if s != tag]
    assert tag not in shapes and len(shapes) == 1
    return sorted(shapes + [tag], key=SHAPE_CLASSES.index)


@pytest.fixture(scope="module")
def tags_project(label_studio, tmp_path_factory):
    files = write_tagged_shapes(tmp_path_factory.mktemp("tag-uploads"), 96, seed=4)
    ls = label_studio.sdk()
    project = ls.projects.create(title="image tags planted errors", label_config=TAGS_CONFIG)
    task_of = upload_images(label_studio, project.id, [path for path, _ in files])
    planted = {}
    for number, (path, shapes) in enumerate(files):
        task_id, human = task_of[path.name]["id"], shapes
        if number in PLANTED:
            human = planted_label(shapes, *PLANTED[number])
            planted[task_id] = PLANTED[number]
        ls.annotations.create(id=task_id, result=tags_result(human))
    return project.id, planted


@pytest.fixture(scope="module")
def tags_round(label_studio, tags_backend, tags_project, tmp_path_factory):
    project_id, _ = tags_project
    rounds_dir = tmp_path_factory.mktemp("image-tags-rounds")
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    # twice the planted errors: cleanlab's issue count (the default budget) is short on 96 images
    result = sync_round(label_studio, tags_backend, project_id, rounds_dir, "--folds", "3", "--budget", "10")
    assert result.returncode == 0, result.stderr + result.stdout
    return {"before": before, "rounds_dir": rounds_dir,
            "report": json.loads((rounds_dir / "round-1" / "report.json").read_text())}


def test_the_planted_tag_errors_open_the_tab_and_say_which_tag(label_studio, tags_project, tags_round):
    project_id, planted = tags_project
    report = tags_round["report"]
    assert report["adapter"] == "multi-label-image"
    shown = tab_task_ids(label_studio, round_tabs(label_studio, project_id)["Re-label round 1"]["id"])
    assert shown == [t["task"] for t in report["flagged_tasks"]]
    ranked = [t["task"] for t in report["flagged_tasks"] if t["split"] != "evaluation"]
    planted_in_training = [t for t in planted if t in ranked]
    # a small CPU model trained for a test may be unsure of a true label or two among 96 (seen: the 5th
    # planted error at quality 0.029, the first unplanted one at 0.044): the planted ones lead, two places spare
    assert set(planted_in_training) <= set(ranked[:len(planted_in_training) + 2]), (planted, report["flagged_tasks"])
    assert set(planted) <= set(shown) and len(shown) <= 10
    data = {t["id"]: t["data"] for t in all_tasks(label_studio, project_id)}
    for task_id, (kind, tag) in planted.items():
        assert data[task_id]["relabel_reason"].startswith(kind) and tag in data[task_id]["relabel_reason"]


def test_report_counts_tag_errors_and_predictions_are_multi_choice(label_studio, tags_backend, tags_project,
                                                                   tags_round):
    project_id, planted = tags_project
    report = tags_round["report"]
    for kind, tag in planted.values():
        assert report["errors_per_class"][tag][kind] >= 1, report["errors_per_class"]
    assert report["evaluation"]["primary_metric"] == "micro_f1"
    tasks = all_tasks(label_studio, project_id)
    assert annotation_snapshot(tasks) == tags_round["before"]
    version = report["model_version"]
    for task in tasks:
        [prediction] = [p for p in task["predictions"] if p["model_version"] == version]
        [result] = prediction["result"]
        assert result["type"] == "choices" and set(result["value"]["choices"]) <= set(SHAPE_CLASSES)
    answer = backend_predict(tags_backend, project_id, TAGS_CONFIG, [{"id": tasks[0]["id"], "data": tasks[0]["data"]}])
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["result"][0]["type"] == "choices"


@pytest.mark.browser
def test_the_image_tags_tab_and_a_task_in_the_browser(label_studio, tags_project, tags_round, page):
    import os

    project_id, planted = tags_project
    report = tags_round["report"]
    log_in(page, label_studio)
    page.goto(report["tab_url"])
    page.get_by_text("Re-label round 1", exact=True).first.wait_for()
    rows_shown = page.locator(".lsf-table__row-wrapper")
    rows_shown.nth(report["flagged"] - 1).wait_for(timeout=30_000)
    assert [text.split()[0] for text in rows_shown.all_inner_texts()] == [str(t["task"]) for t in report["flagged_tasks"]]
    listed = page.locator(".lsf-table").first.inner_text()
    assert "missing" in listed and "extra" in listed and "NaN" not in listed
    screenshots = os.environ.get("RELABEL_SCREENSHOTS")
    if screenshots:
        page.screenshot(path=os.path.join(screenshots, "round-1-image-tags-tab.png"))
    rows_shown.first.click()
    page.locator(".lsf-main-view, [class*=main-view]").get_by_text("triangle").first.wait_for(timeout=30_000)
    image = page.locator(".lsf-main-view img, [class*=main-view] img").first
    image.wait_for(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
    if screenshots:
        page.screenshot(path=os.path.join(screenshots, "round-1-image-tags-task.png"))
    assert page.errors == []
