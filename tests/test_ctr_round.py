"""A click (CTR) project on a real Label Studio with the real backend and a real (small) click model:
noisy rows are dropped, not re-labeled."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from relabel.stack import free_port, start_backend
from tests.conftest import BackendServer
from tests.helpers import all_tasks, annotation_snapshot, api, backend_predict, sync_round, tab_task_ids

pytestmark = pytest.mark.integration

CLICK_CONFIG = """<View>
  <Text name="user" value="$user"/>
  <Text name="item" value="$item"/>
  <Choices name="click" toName="user" choice="single">
    <Choice value="click"/>
    <Choice value="no_click"/>
  </Choices>
</View>"""
N_USERS, N_ITEMS, N_FLIPPED = 20, 20, 8


def click_rows(seed: int = 3) -> tuple[list[dict], set[int]]:
    """Every user x item pair once; a user clicks the items of its own group (an interaction no
    per-field weight can express). Returns the rows, with N_FLIPPED labels flipped, and their indices."""
    rng = np.random.default_rng(seed)
    rows = [{"user": f"u{u}", "item": f"m{i}", "click": int(u % 2 == i % 2)} for u in range(N_USERS)
            for i in range(N_ITEMS)]
    flipped = set(rng.choice(len(rows), size=N_FLIPPED, replace=False).tolist())
    for index in flipped:
        rows[index]["click"] = 1 - rows[index]["click"]
    return rows, flipped


def choice_result(click: int) -> list[dict]:
    return [{"from_name": "click", "to_name": "user", "type": "choices",
             "value": {"choices": ["click" if click else "no_click"]}}]


@pytest.fixture(scope="module")
def click_backend(label_studio, tmp_path_factory):
    """A backend that reads unannotated rows' clicks from the data field `clicked` (an imported click log)."""
    root = tmp_path_factory.mktemp("click-backend")
    service = start_backend(free_port(), label_studio.url, label_studio.token, root / "models", root / "backend.log",
                            extra_env={"RELABEL_CTR_LABEL_FIELD": "clicked", "RELABEL_DEVICE": "cpu"})
    yield BackendServer(service.url, root / "models", service.log_path)
    service.stop()


@pytest.fixture(scope="module")
def click_project(label_studio):
    """400 rows: the even ones labeled by annotation, the odd ones by their logged click; 8 labels wrong."""
    rows, flipped = click_rows()
    ls = label_studio.sdk()
    project = ls.projects.create(title="click log", label_config=CLICK_CONFIG)
    # one import, the annotations with their tasks (200 single requests took half a minute on 2 cores)
    ls.projects.import_tasks(id=project.id, request=[
        {"data": {"user": row["user"], "item": row["item"], **({"clicked": row["click"]} if index % 2 else {})},
         **({} if index % 2 else {"annotations": [{"result": choice_result(row["click"])}]})}
        for index, row in enumerate(rows)])
    tasks = sorted(all_tasks(label_studio, project.id), key=lambda t: t["id"])
    assert [bool(task["annotations"]) for task in tasks] == [index % 2 == 0 for index in range(len(rows))]
    return project.id, {tasks[index]["id"] for index in flipped}


@pytest.fixture(scope="module")
def click_rounds(label_studio, click_backend, click_project, tmp_path_factory):
    project_id, _ = click_project
    rounds_dir = tmp_path_factory.mktemp("click-rounds")
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    reports = []
    for _ in range(2):
        result = sync_round(label_studio, click_backend, project_id, rounds_dir, "--folds", "4")
        assert result.returncode == 0, result.stderr + result.stdout
        reports.append(json.loads((rounds_dir / f"round-{len(reports) + 1}" / "report.json").read_text()))
    return {"before": before, "reports": reports, "rounds_dir": rounds_dir, "stdout": result.stdout}


def dropped_tabs(label_studio, project_id) -> dict:
    views = api(label_studio, "GET", "/api/dm/views", params={"project": project_id})
    return {v["data"]["title"]: v for v in views if v["data"].get("title", "").startswith("Dropped clicks round")}


def test_round_one_drops_the_flipped_clicks_first(label_studio, click_project, click_rounds):
    project_id, flipped = click_project
    report = click_rounds["reports"][0]
    assert report["adapter"] == "ctr" and report["labeled"] == N_USERS * N_ITEMS
    shown = tab_task_ids(label_studio, dropped_tabs(label_studio, project_id)["Dropped clicks round 1"]["id"])
    assert len(shown) == report["flagged"] == 40  # the default: the rows above the 0.9 quantile of |p - y|
    assert flipped <= set(shown[:2 * N_FLIPPED]), (sorted(flipped), shown)
    assert not any(title.startswith("Re-label round") for title in
                   (v["data"]["title"] for v in api(label_studio, "GET", "/api/dm/views", params={"project": project_id})))


def test_cleaned_export_and_dev_metrics(click_project, click_rounds):
    dropped = click_rounds["reports"][0]["dropped_rows"]
    assert (dropped["trained_rows"], dropped["dropped"], dropped["kept"]) == (400, 40, 360)
    exported = json.loads(open(dropped["export"]["json"]).read())
    assert len(exported) == 360 and not any(name.startswith("relabel_") for t in exported for name in t["data"])
    with open(dropped["export"]["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    # the label goes into the logged click's column, for annotated rows too
    assert len(rows) == 360 and set(rows[0]) == {"id", "user", "item", "clicked"}
    assert {row["clicked"] for row in rows} == {"0", "1"}
    dev = dropped["dev"]
    assert dev["without_dropped"]["train_rows"] + 40 == dev["with_dropped"]["train_rows"]
    assert 0.5 < dev["without_dropped"]["auc"] <= 1 and dev["without_dropped"]["log_loss"] > 0
    markdown = (click_rounds["rounds_dir"] / "round-1" / "report.md").read_text()
    assert "## Dropped rows" in markdown and "dropped from the training set: 40" in markdown


def test_round_two_trains_without_the_rows_round_one_dropped(label_studio, click_project, click_rounds):
    project_id, _ = click_project
    first, second = click_rounds["reports"]
    assert second["labeled"] == 360 and second["model_version"] != first["model_version"]
    dropped_first = {t["task"] for t in first["flagged_tasks"]}
    assert not dropped_first & {t["task"] for t in second["flagged_tasks"]}
    tabs = dropped_tabs(label_studio, project_id)
    assert set(tab_task_ids(label_studio, tabs["Dropped clicks round 1"]["id"])) == dropped_first
    assert len(tab_task_ids(label_studio, tabs["Dropped clicks round 2"]["id"])) == second["flagged"]
    assert "Dropped clicks round 2 tab:" in click_rounds["stdout"]


def test_predictions_are_choices_and_annotations_are_unchanged(label_studio, click_project, click_rounds):
    project_id, _ = click_project
    version = click_rounds["reports"][0]["model_version"]
    tasks = all_tasks(label_studio, project_id)
    for task in tasks:
        [prediction] = [p for p in task["predictions"] if p["model_version"] == version]
        assert prediction["result"][0]["value"]["choices"][0] in ("click", "no_click")
        assert 0 <= prediction["score"] <= 1
    assert annotation_snapshot(tasks) == click_rounds["before"]


def test_predict_endpoint_scores_a_new_row(click_backend, click_project, click_rounds):
    project_id, _ = click_project
    answer = backend_predict(click_backend, project_id, CLICK_CONFIG,
                             [{"id": 9001, "data": {"user": "u2", "item": "m4"}},  # same group: a click
                              {"id": 9002, "data": {"user": "u2", "item": "m5"}}])
    assert answer.status_code == 200, answer.text
    clicked, not_clicked = answer.json()["results"]
    assert clicked["result"][0]["value"]["choices"] == ["click"] and clicked["score"] > not_clicked["score"]
    assert clicked["model_version"] == click_rounds["reports"][-1]["model_version"]
    missing = backend_predict(click_backend, project_id, CLICK_CONFIG, [{"id": 9003, "data": {"user": "u2"}}])
    assert missing.status_code == 422 and "task 9003: data.item" in missing.json()["error"], missing.text
