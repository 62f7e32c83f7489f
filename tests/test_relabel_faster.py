"""Re-labeling faster on a real Label Studio: a wrong rule applied consistently, two of its tasks fixed
by a person, and the rest of the pattern in the next round's tab as one group, ahead of the ordinary flags."""
from __future__ import annotations

import json
import random

import pytest
import requests

from relabel.demo.data import LABEL_CONFIG, TOPICS, annotation_result
from tests.helpers import all_tasks, api, relabel, round_tabs, sync_round, tab_task_ids

pytestmark = pytest.mark.integration

#: the planted rule: every "Heavy rain ..." text labeled food (they are weather)
PATTERN_SUBJECT = "Heavy rain"


def planted_project(label_studio, n_items: int = 120, seed: int = 0, noise_rate: float = 0.0):
    """A project where every PATTERN_SUBJECT text is labeled food, and a `noise_rate` share of the other
    labels flipped at random. Returns (project id, the pattern's task ids)."""
    rng = random.Random(seed)
    combinations = [(topic, subject, predicate) for topic, (subjects, predicates) in TOPICS.items()
                    for subject in subjects for predicate in predicates]
    pattern = [c for c in combinations if c[1] == PATTERN_SUBJECT]
    chosen = pattern + rng.sample([c for c in combinations if c[1] != PATTERN_SUBJECT], n_items - len(pattern))
    rng.shuffle(chosen)

    def label(topic, subject):
        if subject == PATTERN_SUBJECT:
            return "food"
        return rng.choice([t for t in TOPICS if t != topic]) if rng.random() < noise_rate else topic
    tasks = [{"data": {"text": f"{subject} {predicate}."},
              "annotations": [{"result": annotation_result(label(topic, subject))}]}
             for topic, subject, predicate in chosen]
    ls = label_studio.sdk()
    project = ls.projects.create(title="a rule applied wrongly", label_config=LABEL_CONFIG)
    ls.projects.import_tasks(id=project.id, request=tasks)
    pattern_tasks = sorted(t["id"] for t in all_tasks(label_studio, project.id)
                           if t["data"]["text"].startswith(PATTERN_SUBJECT))
    return project.id, pattern_tasks


def test_two_fixes_of_a_wrong_rule_bring_the_rest_of_its_pattern_into_the_next_tab(label_studio, backend, tmp_path):
    project_id, pattern = planted_project(label_studio)
    assert len(pattern) == 10
    result = sync_round(label_studio, backend, project_id, tmp_path)
    assert result.returncode == 0, result.stderr
    first = json.loads((tmp_path / "round-1" / "report.json").read_text())
    shown_first = {t["task"] for t in first["flagged_tasks"]}
    # the model learned the rule: disagreement alone leaves most of the pattern out of the tab
    assert len(shown_first & set(pattern)) <= 3

    # a person spots two of them (outside the tab) and fixes them
    fixed = [task for task in pattern if task not in shown_first][:2]
    for task_id in fixed:
        relabel(label_studio, task_id, "weather")
    result = sync_round(label_studio, backend, project_id, tmp_path)
    assert result.returncode == 0, result.stderr
    second = json.loads((tmp_path / "round-2" / "report.json").read_text())
    # only labels changed: round 2's training embedded no text again (the project's embedding cache)
    jobs = requests.get(f"{backend.url}/jobs", params={"project": project_id}, timeout=60).json()["jobs"]
    trained = [job["result"] for job in jobs if job["state"] == "done" and not job["result"]["reused"]]
    assert [r["texts_embedded"] for r in trained[-2:]] == [120, 0], trained
    rest = set(pattern) - set(fixed) - shown_first
    tab = round_tabs(label_studio, project_id)["Re-label round 2"]
    ordered = tab_task_ids(label_studio, tab["id"])
    assert len(rest & set(ordered)) >= len(rest) - 1, (sorted(rest), ordered)

    carried = [t for t in second["flagged_tasks"] if (t.get("group") or "").startswith("like task #")]
    assert len(carried) >= len(rest) - 2 and {t["task"] for t in carried} <= rest  # all of the pattern, nothing else
    assert {t["group"] for t in carried} <= {f"like task #{task} (food → weather)" for task in fixed}
    # the group comes first, after the evaluation tasks' flags
    not_evaluation = [t["task"] for t in second["flagged_tasks"] if t["split"] != "evaluation"]
    carried_training = [t["task"] for t in carried if t["split"] != "evaluation"]
    assert not_evaluation[:len(carried_training)] == carried_training
    position = {task: i for i, task in enumerate(ordered)}
    assert [t["task"] for t in sorted(second["flagged_tasks"], key=lambda t: position[t["task"]])] == \
        [t["task"] for t in second["flagged_tasks"]]  # the tab's order is the report's
    assert second["propagated"] == len(carried)

    # the tab says why each is there and what the group is
    task = next(t for t in all_tasks(label_studio, project_id) if t["id"] == carried[0]["task"])
    assert task["data"]["relabel_group"] == carried[0]["group"]
    assert task["data"]["relabel_reason"].startswith(f"like task #") and "changed to weather" in task["data"]["relabel_reason"]
    markdown = (tmp_path / "round-2" / "report.md").read_text()
    assert "## Groups in the tab" in markdown and carried[0]["group"] in markdown
    assert "Groups in the tab" in (tmp_path / "round-2" / "report.html").read_text()
    view = api(label_studio, "GET", f"/api/dm/views/{tab['id']}")
    assert view["data"]["columnsDisplayType"]["tasks:data.relabel_group"] == "String"


def test_no_propagation_when_asked_and_the_order_by_confusion(label_studio, backend, tmp_path):
    project_id, pattern = planted_project(label_studio, seed=1, noise_rate=0.2)
    result = sync_round(label_studio, backend, project_id, tmp_path, "--no-propagate")
    assert result.returncode == 0, result.stderr
    first = json.loads((tmp_path / "round-1" / "report.json").read_text())
    for task_id in [t for t in pattern if t not in {f["task"] for f in first["flagged_tasks"]}][:2]:
        relabel(label_studio, task_id, "weather")
    result = sync_round(label_studio, backend, project_id, tmp_path, "--no-propagate")
    assert result.returncode == 0, result.stderr
    second = json.loads((tmp_path / "round-2" / "report.json").read_text())
    assert second["propagated"] == 0 and not any((t["group"] or "").startswith("like") for t in second["flagged_tasks"])
    groups = [t["group"] for t in first["flagged_tasks"] if t["split"] != "evaluation"]
    assert len(set(groups)) >= 3
    # confusion order: each "human → model" group together, the largest first
    assert all(" → " in g for g in groups)
    seen = []
    for group in groups:
        if not seen or seen[-1] != group:
            assert group not in seen, groups
            seen.append(group)
    sizes = [groups.count(g) for g in seen]
    assert sizes == sorted(sizes, reverse=True)
