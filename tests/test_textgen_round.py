"""A text-generation project on a real Label Studio with the real backend and a real (small) seq2seq model:
wrong answers go to the round tab as a choice between the old text and the model's."""
from __future__ import annotations

import json

import pytest

from relabel.adapters.tasks.text_generation import CANDIDATES_FIELD
from relabel.stack import free_port, start_backend
from tests.conftest import BackendServer
from tests.helpers import all_tasks, annotation_snapshot, backend_predict, round_tabs, sync_round, tab_task_ids
from tests.textgen_data import (TEXTAREA_ONLY_CONFIG, TEXTGEN_CONFIG, candidate_result, corrupt_answers, make_pairs,
                                textarea_result)

pytestmark = pytest.mark.integration

N_PAIRS = 120  # 80 training pairs per fold: fewer and the model's own mistakes crowd the tab


@pytest.fixture(scope="module")
def textgen_backend(label_studio, tmp_path_factory):
    root = tmp_path_factory.mktemp("textgen-backend")
    service = start_backend(free_port(), label_studio.url, label_studio.token, root / "models", root / "backend.log",
                            # no tasks held out for evaluation: which ones the seeded share picks depends on the task
                            # ids (so on the tests run before), and a flagged evaluation task opens the tab
                            extra_env={"RELABEL_DEVICE": "cpu", "RELABEL_EVAL_SHARE": "0"})
    yield BackendServer(service.url, root / "models", service.log_path)
    service.stop()


@pytest.fixture(scope="module")
def textgen_project(label_studio):
    """120 dates to rewrite, answered in a TextArea-only project; 3 answers are wrong. The project then
    switches to the re-label config (the order the README gives)."""
    pairs = make_pairs(N_PAIRS, seed=11)
    answers, wrong = corrupt_answers([answer for _, answer in pairs], 3 / N_PAIRS, seed=11)
    ls = label_studio.sdk()
    project = ls.projects.create(title="dates to ISO", label_config=TEXTAREA_ONLY_CONFIG)
    ls.projects.import_tasks(id=project.id, request=[{"data": {"text": text}} for text, _ in pairs])
    tasks = {task["data"]["text"]: task for task in all_tasks(label_studio, project.id)}
    planted = {}
    for index, (text, answer) in enumerate(pairs):
        ls.annotations.create(id=tasks[text]["id"], result=textarea_result(answers[index]))
        if wrong[index]:
            planted[tasks[text]["id"]] = answer
    ls.projects.update(id=project.id, label_config=TEXTGEN_CONFIG)
    assert len(planted) == 3
    return project.id, planted


@pytest.fixture(scope="module")
def first_round(label_studio, textgen_backend, textgen_project, tmp_path_factory):
    project_id, _ = textgen_project
    rounds_dir = tmp_path_factory.mktemp("textgen-rounds")
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    result = sync_round(label_studio, textgen_backend, project_id, rounds_dir, "--folds", "3")
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads((rounds_dir / "round-1" / "report.json").read_text())
    return {"before": before, "report": report, "rounds_dir": rounds_dir}


def test_round_one_tab_holds_the_wrong_answers_with_both_texts_to_choose(label_studio, textgen_project, first_round):
    project_id, planted = textgen_project
    report = first_round["report"]
    assert report["adapter"] == "text-generation"
    shown = tab_task_ids(label_studio, round_tabs(label_studio, project_id)["Re-label round 1"]["id"])
    assert set(shown[:3]) == set(planted), (planted, report["flagged_tasks"][:6])
    assert len(shown) <= 15, report["flagged_tasks"]
    tasks = {task["id"]: task for task in all_tasks(label_studio, project_id)}
    rows = {row["task"]: row for row in report["flagged_tasks"]}
    for task_id, true_answer in planted.items():
        assert rows[task_id]["model"] == true_answer and not rows[task_id]["shares_token"]
        old = tasks[task_id]["annotations"][0]["result"][0]["value"]["text"][0]
        assert tasks[task_id]["data"][CANDIDATES_FIELD] == [{"value": old}, {"value": true_answer}]
    unflagged = next(task for task_id, task in tasks.items() if task_id not in shown)
    assert CANDIDATES_FIELD not in unflagged["data"]
    markdown = (first_round["rounds_dir"] / "round-1" / "report.md").read_text()
    assert "Flagged per class" not in markdown and "Human label -> model label" not in markdown


def test_predictions_are_texts_and_annotations_are_unchanged(label_studio, textgen_project, first_round):
    project_id, _ = textgen_project
    version = first_round["report"]["model_version"]
    tasks = all_tasks(label_studio, project_id)
    for task in tasks:
        [prediction] = [p for p in task["predictions"] if p["model_version"] == version]
        assert prediction["result"][0]["type"] == "textarea" and prediction["result"][0]["to_name"] == "text"
    assert annotation_snapshot(tasks) == first_round["before"]


def test_predict_endpoint_writes_an_answer(textgen_backend, textgen_project, first_round):
    project_id, _ = textgen_project
    answer = backend_predict(textgen_backend, project_id, TEXTGEN_CONFIG, [{"id": 9001, "data": {"text": "05/03/2024"}}])
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["model_version"] == first_round["report"]["model_version"]
    [text] = result["result"][0]["value"]["text"]
    assert len(text) == 10 and text.count("-") == 2, text  # an ISO date (most likely the right one)


def test_next_round_counts_kept_replaced_and_rewritten_texts(label_studio, textgen_backend, textgen_project,
                                                              first_round):
    """Annotators answer the three planted tasks through the re-label config: one keeps the old text
    (its choice), one takes the model's (its choice), one types a new text."""
    project_id, planted = textgen_project
    ls = label_studio.sdk()
    tasks = {task["id"]: task for task in all_tasks(label_studio, project_id)}
    keep, take, rewrite = sorted(planted)
    old, model = (tasks[keep]["data"][CANDIDATES_FIELD][i]["value"] for i in (0, 1))
    ls.annotations.create(id=keep, result=candidate_result(old, to_name="text"))
    ls.annotations.create(id=take, result=candidate_result(tasks[take]["data"][CANDIDATES_FIELD][1]["value"],
                                                           to_name="text"))
    ls.annotations.create(id=rewrite, result=textarea_result("1999-12-31", to_name="text"))
    # What is checked here is what people did with round 1's flags, which no model of round 2 changes: one
    # full model (in sample) rather than three fold models more, a third of the training (about 2.5 minutes).
    result = sync_round(label_studio, textgen_backend, project_id, first_round["rounds_dir"], "--folds", "3",
                        "--prediction-source", "in_sample")
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads((first_round["rounds_dir"] / "round-2" / "report.json").read_text())
    outcome = report["history"][0]["outcome"]
    assert (outcome["confirmed"], outcome["changed_to_model"], outcome["changed"] - outcome["changed_to_model"]) == \
        (1, 1, 1), outcome
    assert outcome["not_reviewed"] == first_round["report"]["flagged"] - 3
    markdown = (first_round["rounds_dir"] / "round-2" / "report.md").read_text()
    assert "kept the old text | took the model's | wrote a new one" in markdown
