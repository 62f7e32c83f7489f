"""An NER round on a real Label Studio with the real backend and a real (small) token classifier."""
from __future__ import annotations

import json
import random

import pytest
import requests

from tests.helpers import all_tasks, annotation_snapshot, round_tabs, sync_round, tab_task_ids

pytestmark = pytest.mark.integration

NER_CONFIG = """<View>
  <Labels name="entities" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
  <Text name="text" value="$text"/>
</View>"""
PEOPLE = ["Anna Berg", "Omar Haddad", "Li Wei", "Maria Costa", "John Smith", "Kofi Mensah", "Elena Petrova",
          "Raj Patel", "Sara Nilsson", "Tom Walker", "Yuki Tanaka", "Ivan Horvat"]
PLACES = ["Paris", "Nairobi", "Lima", "Oslo", "Toronto", "Madrid", "Hanoi", "Cairo", "Dublin", "Quito"]
TEMPLATES = ["{PER} moved to {LOC} last year .", "Yesterday {PER} flew from {LOC} to {LOC2} .",
             "The office in {LOC} hired {PER} .", "{PER} was born in {LOC} .", "Our team met {PER} in {LOC} ."]


def make_sentence(rng: random.Random) -> tuple[str, list[list]]:
    """A templated sentence and its correct spans [start, end, class]."""
    template = rng.choice(TEMPLATES)
    values = {"PER": rng.choice(PEOPLE), "LOC": rng.choice(PLACES)}
    values["LOC2"] = rng.choice([p for p in PLACES if p != values["LOC"]])
    text, spans = "", []
    for part in template.split(" "):
        key = part.strip("{}") if part.startswith("{") else None
        word = values[key] if key else part
        if key:
            spans.append([len(text), len(text) + len(word), key.rstrip("2")])
        text += word + " "
    return text.strip(), spans


def corrupt(text: str, spans: list[list], kind: str) -> list[list]:
    """Planted label errors: a person left unlabeled, a place typed as a person, a name cut short."""
    if kind == "dropped_person":
        return [s for s in spans if s[2] != "PER"]
    if kind == "place_as_person":
        return [[s[0], s[1], "PER"] if s[2] == "LOC" else s for s in spans]
    first_name_end = next(s[0] + text[s[0]:s[1]].index(" ") for s in spans if s[2] == "PER")
    return [[s[0], first_name_end, "PER"] if s[2] == "PER" else s for s in spans]  # "short_name"


def as_task(text: str, spans: list[list]) -> dict:
    return {"data": {"text": text}, "annotations": [{"result": [
        {"from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]}} for s, e, label in spans]}]}


@pytest.fixture(scope="module")
def ner_project(label_studio):
    rng = random.Random(3)
    sentences, seen = [], set()
    while len(sentences) < 60:
        text, spans = make_sentence(rng)
        if text not in seen:
            seen.add(text)
            sentences.append((text, spans))
    planted = {}
    for index, kind in zip((5, 17, 29, 41), ("dropped_person", "place_as_person", "short_name", "dropped_person")):
        text, spans = sentences[index]
        sentences[index] = (text, corrupt(text, spans, kind))
        planted[text] = kind
    ls = label_studio.sdk()
    project = ls.projects.create(title="ner planted errors", label_config=NER_CONFIG)
    ls.projects.import_tasks(id=project.id, request=[as_task(text, spans) for text, spans in sentences])
    tasks = all_tasks(label_studio, project.id)
    return project.id, {t["id"]: planted[t["data"]["text"]] for t in tasks if t["data"]["text"] in planted}


@pytest.fixture(scope="module")
def ner_round(label_studio, backend, ner_project, tmp_path_factory):
    project_id, _ = ner_project
    rounds_dir = tmp_path_factory.mktemp("ner-rounds")
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    # The paper's rule (spans differ), out of fold: every planted error must be in the tab. (The default
    # budget's size is cleanlab's estimate, which on 60 sentences may be one short; the ranking is what
    # puts the planted errors first, and that is checked too.)
    result = sync_round(label_studio, backend, project_id, rounds_dir, "--folds", "3", "--per-class",
                        "--flag-rule", "disagreement")
    assert result.returncode == 0, result.stderr + result.stdout
    return {"rounds_dir": rounds_dir, "before": before, "stdout": result.stdout,
            "report": json.loads((rounds_dir / "round-1" / "report.json").read_text())}


def test_round_one_tab_holds_the_planted_span_errors(label_studio, ner_project, ner_round):
    project_id, planted = ner_project
    tabs = round_tabs(label_studio, project_id)
    shown = tab_task_ids(label_studio, tabs["Re-label round 1"]["id"])
    # The evaluation tasks' flags open every tab, whatever their rank (which tasks they are depends on
    # the task ids): the planted errors are in the tab and are the lowest label-quality scores.
    by_quality = sorted(ner_round["report"]["flagged_tasks"], key=lambda t: t["label_quality"])
    assert set(planted) <= set(shown), (planted, by_quality)
    assert {t["task"] for t in by_quality[:len(planted)]} == set(planted), (planted, by_quality)
    assert len(shown) <= 15  # 4 planted among 60: the tab is not flooded
    assert shown == [t["task"] for t in ner_round["report"]["flagged_tasks"]]


def test_per_class_tabs_hold_the_tasks_flagged_for_that_class(label_studio, ner_project, ner_round):
    project_id, planted = ner_project
    tabs = round_tabs(label_studio, project_id)
    assert {"Re-label round 1 — PER", "Re-label round 1 — LOC"} <= set(tabs)
    person_tab = set(tab_task_ids(label_studio, tabs["Re-label round 1 — PER"]["id"]))
    place_tab = set(tab_task_ids(label_studio, tabs["Re-label round 1 — LOC"]["id"]))
    assert {t for t, kind in planted.items() if kind in ("dropped_person", "short_name")} <= person_tab
    assert {t for t, kind in planted.items() if kind == "place_as_person"} <= place_tab
    for row in ner_round["report"]["flagged_tasks"]:
        assert (row["task"] in person_tab) == ("PER" in row["classes"])


def test_report_counts_span_errors_per_class(ner_project, ner_round):
    _, planted = ner_project
    report = ner_round["report"]
    assert report["detection"]["quality_method"] == "confidence_weighted_entropy"  # NER's own default ranking
    # 60 sentences: the full model trains many passes and learns the planted spans by heart, so NER's
    # default averages it with the out-of-fold outputs only on larger projects
    assert report["prediction_source"] == "out_of_fold" and report["n_folds"] == 3
    errors = report["errors_per_class"]
    assert errors["PER"]["missed"] >= 2  # two people nobody labeled
    assert errors["PER"]["misbounded"] >= 1  # a name cut short
    assert errors["PER"]["retyped"] >= 1  # a place labeled as a person (counted under the human's class)
    by_task = {row["task"]: row for row in report["flagged_tasks"]}
    assert by_task[next(t for t, k in planted.items() if k == "short_name")]["errors"] == {"misbounded": {"PER": 1}}
    markdown = (ner_round["rounds_dir"] / "round-1" / "report.md").read_text()
    assert "## Disagreements in the flagged tasks, per class" in markdown
    assert "Re-label round 1 — PER tab:" in ner_round["stdout"]


def test_predictions_are_spans_and_annotations_are_unchanged(label_studio, ner_project, ner_round):
    project_id, _ = ner_project
    version = ner_round["report"]["model_version"]
    tasks = all_tasks(label_studio, project_id)
    for task in tasks:
        predictions = [p for p in task["predictions"] if p["model_version"] == version]
        assert len(predictions) == 1
        for result in predictions[0]["result"]:
            value = result["value"]
            assert result["type"] == "labels" and value["labels"][0] in ("PER", "LOC")
            assert task["data"]["text"][value["start"]:value["end"]] == value["text"]
    assert annotation_snapshot(tasks) == ner_round["before"]


def test_predict_endpoint_answers_spans_for_a_new_text(backend, ner_project, ner_round):
    project_id, _ = ner_project
    text = "Maria Costa moved to Oslo last year ."
    answer = requests.post(backend.url + "/predict", timeout=60, json={
        "tasks": [{"id": 999, "data": {"text": text}}], "project": f"{project_id}.1700000000",
        "label_config": NER_CONFIG})
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["model_version"] == ner_round["report"]["model_version"]
    assert {(r["value"]["text"], r["value"]["labels"][0]) for r in result["result"]} == {
        ("Maria Costa", "PER"), ("Oslo", "LOC")}


def test_default_rule_with_a_budget_takes_the_lowest_sentence_scores(label_studio, backend, ner_project, ner_round):
    project_id, planted = ner_project
    result = sync_round(label_studio, backend, project_id, ner_round["rounds_dir"], "--folds", "3", "--dry-run",
                        "--budget", str(len(planted)))
    assert result.returncode == 0, result.stderr
    report = json.loads((ner_round["rounds_dir"] / "round-2-dry-run" / "report.json").read_text())
    assert report["model_version"] == ner_round["report"]["model_version"]  # same labels: the model is reused
    assert {t["task"] for t in report["flagged_tasks"]} == set(planted)
