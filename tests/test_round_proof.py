"""A round's proof on a real Label Studio: human evaluation of a sample nobody had labeled, the
annotators' table, and the evaluation split in the tab."""
from __future__ import annotations

import json

import pytest

from relabel.demo.data import as_label_studio_tasks, make_dataset
from tests.helpers import all_tasks, api, relabel, round_tabs, sync_round, tab_task_ids

pytestmark = pytest.mark.integration


def test_human_evaluation_of_a_sample_nobody_had_labeled(label_studio, backend, tmp_path):
    from relabel.demo.data import LABEL_CONFIG

    ls = label_studio.sdk()
    rows = make_dataset(n_items=70, noise_rate=0.2, seed=11)
    project = ls.projects.create(title="human evaluation", label_config=LABEL_CONFIG)
    tasks = as_label_studio_tasks(rows)
    for task in tasks[50:]:
        task["annotations"] = []  # 20 tasks nobody labeled
    ls.projects.import_tasks(id=project.id, request=tasks)
    truth = {t["id"]: next(r["true_label"] for r in rows if r["text"] == t["data"]["text"])
             for t in all_tasks(label_studio, project.id)}

    result = sync_round(label_studio, backend, project.id, tmp_path, "--human-eval", "6")
    assert result.returncode == 0, result.stderr
    first = json.loads((tmp_path / "round-1" / "report.json").read_text())
    sample = first["human_eval_sample"]["tasks"]
    assert len(sample) == 6 and first["human_eval_sample"]["model_version"] == first["model_version"]
    views = api(label_studio, "GET", "/api/dm/views", params={"project": project.id})
    human_tab = next(v for v in views if v["data"]["title"] == "Human evaluation round 1")
    assert sorted(tab_task_ids(label_studio, human_tab["id"])) == sorted(sample)
    assert all(not next(t for t in all_tasks(label_studio, project.id) if t["id"] == s)["annotations"] for s in sample)
    assert list(round_tabs(label_studio, project.id)) == ["Re-label round 1"]  # and no round counted twice
    assert first["evaluation"]["tasks"] > 0 and first["flagged_tasks"][0]["split"] in ("evaluation", "training")
    if first["flagged_evaluation"]:
        assert first["flagged_tasks"][0]["split"] == "evaluation"  # evaluation flags come first
    assert first["annotators"][0]["name"] == label_studio.username

    for task_id in sample:  # people label the sample
        relabel(label_studio, task_id, truth[task_id])
    result = sync_round(label_studio, backend, project.id, tmp_path)
    assert result.returncode == 0, result.stderr
    second = json.loads((tmp_path / "round-2" / "report.json").read_text())
    scored = second["human_evaluation"][0]
    assert (scored["round"], scored["sampled"], scored["labeled"]) == (1, 6, 6)
    assert 0 <= scored["low"] <= scored["agreement"] <= scored["high"] <= 1
    assert "## Human evaluation" in (tmp_path / "round-2" / "report.md").read_text()
    assert "Human evaluation" in (tmp_path / "round-2" / "report.html").read_text()
    assert label_studio.username not in backend.log_path.read_text()  # e-mails in the report only
