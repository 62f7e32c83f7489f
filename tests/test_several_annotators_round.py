"""Several annotators on a real Label Studio: three people label every task, one of them carelessly; the
round's label is the majority, the report names the careless annotator, and doubtful tasks are in the tab."""
from __future__ import annotations

import json
import random

import pytest
import requests

from relabel.demo.data import LABEL_CONFIG, TOPICS, annotation_result, make_dataset
from tests.helpers import all_tasks, api, round_tabs, sync_round, tab_task_ids

pytestmark = pytest.mark.integration

ANNOTATORS = {"ann.careful@example.com": 0.97, "bob.careful@example.com": 0.97, "carl.careless@example.com": 0.35}


def test_three_annotators_one_careless(label_studio, backend, tmp_path):
    rng = random.Random(5)
    for email in ANNOTATORS:  # people of the organisation, as an admin adds them
        api(label_studio, "POST", "/api/users/", json={"email": email, "username": email,
                                                       "password": "a-long-password-1"})

    def vote(true_label, accuracy):
        return true_label if rng.random() < accuracy else rng.choice([t for t in TOPICS if t != true_label])
    rows = make_dataset(n_items=90, noise_rate=0.0, seed=3)
    tasks = [{"data": {"text": row["text"]},
              "annotations": [{"result": annotation_result(vote(row["true_label"], accuracy)),
                               "completed_by": {"email": email}} for email, accuracy in ANNOTATORS.items()]}
             for row in rows]
    ls = label_studio.sdk()
    project = ls.projects.create(title="three annotators", label_config=LABEL_CONFIG)
    ls.projects.import_tasks(id=project.id, request=tasks)
    stored = all_tasks(label_studio, project.id)
    assert {len({a["completed_by"] for a in t["annotations"]}) for t in stored} == {3}

    result = sync_round(label_studio, backend, project.id, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "round-1" / "report.json").read_text())
    section = report["several_annotators"]
    assert section["tasks_with_votes"] == 90 and section["least_reliable"] == "carl.careless@example.com"
    careless = next(row for row in section["annotators"] if row["name"] == "carl.careless@example.com")
    careful = [row for row in section["annotators"] if row["name"] != "carl.careless@example.com"]
    assert all(careless["quality"] < row["quality"] for row in careful)
    assert "Least reliable annotator: carl.careless@example.com" in (tmp_path / "round-1" / "report.md").read_text()
    assert "Several annotators" in (tmp_path / "round-1" / "report.html").read_text()

    by_text = {row["text"]: row["true_label"] for row in rows}
    truth = {t["id"]: by_text[t["data"]["text"]] for t in stored}
    flagged = {f["task"]: f for f in report["flagged_tasks"]}
    # the label trained on is the majority: the careless one is outvoted (three different votes: no majority,
    # the latest label stands, and such a split task is doubtful)
    votes = {t["id"]: [a["result"][0]["value"]["choices"][0] for a in t["annotations"]] for t in stored}
    majority = {task: max(set(labels), key=labels.count) for task, labels in votes.items()
                if max(labels.count(label) for label in labels) >= 2}
    assert all(f["human"] == majority[task] for task, f in flagged.items() if task in majority)
    tab = next(view for title, view in round_tabs(label_studio, project.id).items() if title == "Re-label round 1")
    shown = set(tab_task_ids(label_studio, tab["id"]))
    assert set(section["doubtful_tasks"]) <= shown == set(flagged)
    tagged = {t["id"]: t["data"] for t in all_tasks(label_studio, project.id) if t["id"] in shown}
    assert all("(annotators: " in data["relabel_reason"] for data in tagged.values())
    assert all(truth[t] in data["relabel_reason"] for t, data in tagged.items())
    assert "carl.careless@example.com" not in backend.log_path.read_text()  # e-mails in the report only

    # the backend keeps each task's votes; the neighbour vote (n x n similarities) only when a round asks
    kept = requests.get(f"{backend.url}/projects/{project.id}/predictions",
                        params={"model_version": report["model_version"]}, timeout=60).json()["items"]
    assert all(len(item["votes"]) == 3 and "neighbour_vote" not in item for item in kept)
