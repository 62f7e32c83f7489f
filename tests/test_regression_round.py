"""A rating round on a real Label Studio, support chats held as <Paragraphs>: planted wrong ratings
open the tab, which shows the person's value and the model's."""
from __future__ import annotations

import json

import pytest

from tests.helpers import all_tasks, annotation_snapshot, round_tabs, sync_round, tab_task_ids
from tests.rating_data import CONFIG, chats

pytestmark = pytest.mark.integration

def test_wrong_ratings_open_the_tab_with_both_values(label_studio, backend, tmp_path):
    rows = chats(150)
    planted = {}
    for index in (9, 44, 81, 133):
        row = rows[index]
        row["human"] = 1 if row["stars"] >= 4 else 5  # the scale read the wrong way round
        if abs(row["human"] - row["stars"]) < 3:
            row["human"] = 5 if row["stars"] <= 2 else 1
        planted[row["dialogue"][0]["said"]] = row["human"]
    ls = label_studio.sdk()
    project = ls.projects.create(title="chat ratings", label_config=CONFIG)
    ls.projects.import_tasks(id=project.id, request=[
        {"data": {"dialogue": r["dialogue"]}, "annotations": [{"result": [
            {"from_name": "satisfaction", "to_name": "chat", "type": "rating",
             "value": {"rating": r.get("human", r["stars"])}}]}]} for r in rows])
    tasks = all_tasks(label_studio, project.id)
    planted_ids = {t["id"] for t in tasks if t["data"]["dialogue"][0]["said"] in planted}
    before = annotation_snapshot(tasks)

    result = sync_round(label_studio, backend, project.id, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads((tmp_path / "round-1" / "report.json").read_text())
    assert report["adapter"] == "text-regression"
    shown = tab_task_ids(label_studio, round_tabs(label_studio, project.id)["Re-label round 1"]["id"])
    assert shown == [t["task"] for t in report["flagged_tasks"]]
    ranked = [t["task"] for t in report["flagged_tasks"] if t["split"] != "evaluation"]
    planted_in_training = [t for t in planted_ids if t in ranked]
    assert set(ranked[:len(planted_in_training)]) == set(planted_in_training), report["flagged_tasks"]
    assert len(planted_ids & set(shown)) >= len(planted_ids) - 1 and len(shown) <= 3 * len(planted_ids)
    data = {t["id"]: t["data"] for t in all_tasks(label_studio, project.id)}
    for task_id in planted_ids & set(shown):
        assert data[task_id]["relabel_reason"].startswith(f"human: {int(planted[data[task_id]['dialogue'][0]['said']])}")
    assert report["evaluation"]["primary_metric"] == "r2"
    assert report["evaluation"]["model"]["r2"] > 0.3  # (a model that knows nothing scores 0)
    assert set(report["error_kinds"]) == {"above", "below"}
    markdown = (tmp_path / "round-1" / "report.md").read_text()
    assert "above" in markdown or "below" in markdown
    tasks = all_tasks(label_studio, project.id)
    assert annotation_snapshot(tasks) == before
    prediction = next(p for p in tasks[0]["predictions"] if p["model_version"] == report["model_version"])
    assert prediction["result"][0]["type"] == "rating" and 1 <= prediction["result"][0]["value"]["rating"] <= 5
