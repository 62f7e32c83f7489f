"""The round's proof, pure parts: the evaluation split, evaluation flags first, who labeled what, human
evaluation, and the chart and HTML report of the history."""
from __future__ import annotations

import re

from relabel.adapters import adapter_for_config
from relabel.adapters.base import Disagreement, Example
from relabel.adapters.data.evaluation import evaluation_split
from relabel.backend.config import Settings
from relabel.backend.evaluation import held_out_tasks
from relabel.demo.data import LABEL_CONFIG
from relabel.rounds.annotators import annotator_summary
from relabel.rounds.chart import history_chart, history_rows
from relabel.rounds.html import report_html
from relabel.rounds.human_eval import draw_sample, human_evaluation
from relabel.rounds.report import build_report, ranked_flags


def tasks(n: int, **data) -> list[dict]:
    return [{"id": i, "data": {"text": f"t{i}", **data}} for i in range(1, n + 1)]


def test_marked_tasks_are_the_evaluation_split_else_a_stable_seeded_share():
    marked = tasks(10)
    marked[2]["data"]["split"], marked[5]["data"]["split"] = "Dev", "test"
    assert evaluation_split(marked, "split", ["dev", "test"], 0.15) == ({3, 6}, "marked: data.split is dev or test")
    chosen, source = evaluation_split(tasks(2000), "split", ["dev"], 0.15, seed=0)
    assert 0.12 < len(chosen) / 2000 < 0.18 and source == "held out: a seeded 15% of tasks"
    more = evaluation_split(tasks(2400), "split", ["dev"], 0.15, seed=0)[0]
    assert chosen == {i for i in more if i <= 2000}  # new tasks join; no task changes sides
    assert evaluation_split(tasks(100), "split", ["dev"], 0.0) == (set(), "none")
    assert evaluation_split(tasks(2000), "split", ["dev"], 0.15, seed=1)[0] != chosen


def test_no_evaluation_split_when_it_would_leave_too_few_to_train_on():
    adapter = adapter_for_config(LABEL_CONFIG)
    labeled = [Example(i, "x", "sports" if i % 2 else "food") for i in range(1, 7)]
    settings = Settings(eval_share=0.5, n_folds=5)
    chosen, source = held_out_tasks(adapter, settings, [{"id": e.task_id, "data": {}} for e in labeled], labeled)
    assert chosen == set() and source.startswith("none: holding out")


def flag(task_id: int, quality: float, human: str = "a") -> Disagreement:
    return Disagreement(task_id, True, quality, human, "b", {"model_confidence": 0.9})


def test_evaluation_flags_come_first_and_are_counted_apart():
    found = [flag(1, 0.1), flag(2, 0.3), flag(3, 0.2)]
    assert [d.task_id for d in ranked_flags(found, first={2})] == [2, 1, 3]
    report = build_report(round_number=1, project={"id": 1}, model_version="v", stored={}, disagreements=found,
                          annotations={}, history=[], tab_url=None, dry_run=False, evaluation_tasks={2},
                          annotators={1: 7, 2: 8})
    assert [t["task"] for t in report["flagged_tasks"]] == [2, 1, 3]
    assert (report["flagged_evaluation"], report["evaluation_tasks"]) == (1, 1)
    assert report["flagged_tasks"][0]["split"] == "evaluation" and report["flagged_tasks"][0]["annotator"] == 8


def test_annotators_whose_labels_people_overturned():
    earlier = [{"round": 1, "flagged_tasks": [
        {"task": 1, "annotation": 11, "annotator": 7, "human": "sports", "label_key": "sports"},  # changed by 9
        {"task": 2, "annotation": 21, "annotator": 7, "human": "food", "label_key": "food"},      # kept by 9
        {"task": 3, "annotation": 31, "annotator": 8, "human": "food", "label_key": "food"},      # not reviewed
        {"task": 4, "annotation": 41, "annotator": 7, "human": "sports", "label_key": "sports"}]}]  # changed by 7
    items = [{"task": 1, "annotation": 12, "annotator": 9, "target": "weather"},
             {"task": 2, "annotation": 22, "annotator": 9, "target": "food"},
             {"task": 3, "annotation": 31, "annotator": 8, "target": "food"},
             {"task": 4, "annotation": 42, "annotator": 7, "target": "food"},
             {"task": 5, "annotation": 51, "annotator": 8, "target": "food"}]
    rows = {row["name"]: row for row in annotator_summary(items, earlier, {7: "ann@example.com", 9: "lead@example.com"})}
    careless = rows["ann@example.com"]
    assert (careless["flagged_reviewed"], careless["overturned"], careless["overturn_rate"]) == (3, 2, 0.6667)
    assert careless["overturned_per_class"] == {"sports": 2} and careless["reviewed"] == 1
    assert rows["lead@example.com"]["reviewed"] == 2 and rows["lead@example.com"]["labels"] == 2
    assert rows["user 8"]["overturn_rate"] is None and rows["user 8"]["labels"] == 2
    assert list(rows)[0] == "ann@example.com"  # most overturned first


def test_human_evaluation_scores_the_round_model_on_peoples_labels():
    adapter = adapter_for_config(LABEL_CONFIG)
    stored = {"unlabeled": [{"task": t} for t in range(10, 30)]}
    sample = draw_sample(stored, 5, project_id=3, round_number=1)
    assert len(sample) == 5 and sample == draw_sample(stored, 5, 3, 1) and set(sample) <= set(range(10, 30))
    probabilities = {"sports": [0.9, 0.05, 0.03, 0.02], "food": [0.1, 0.1, 0.7, 0.1]}
    outputs = {task: probabilities["sports" if task % 2 else "food"] for task in sample}
    earlier = [{"round": 1, "human_eval_sample": {"tasks": sample, "model_version": "model-v1"}}]
    items = [{"task": task, "target": "sports"} for task in sample[:4]]  # 4 of 5 labeled by people since
    asked = []
    results = human_evaluation(earlier, items, adapter, lambda version, fields: asked.append((version, fields)) or {
        "unlabeled": [{"task": t, "output": o} for t, o in outputs.items()]})
    assert asked == [("model-v1", ("task", "output"))]  # only what it scores: not every stored entry whole
    agreeing = sum(task % 2 == 1 for task in sample[:4])
    assert results[0]["labeled"] == 4 and results[0]["agreement"] == agreeing / 4
    assert results[0]["low"] <= results[0]["agreement"] <= results[0]["high"]
    assert results[0]["metrics"]["n"] == 4


def report_with_history() -> dict:
    def evaluation(version, score, previous=None):
        return {"primary_metric": "accuracy", "tasks": 30, "source": "held out",
                "model": {"version": version, "accuracy": score, "macro_f1": score - 0.02, "n": 30},
                "previous": previous}
    history = [{"round": 1, "model_version": "model-v1-a", "flagged": 40, "estimated_wrong_labels": 45,
                "evaluation": evaluation("model-v1-a", 0.80),
                "outcome": {"flagged": 40, "changed": 34, "precision": 0.85}}]
    return {"round": 2, "project": {"id": 5, "title": "topics <b>"}, "model_version": "model-v2-b", "adapter": "x",
            "prediction_source": "out_of_fold", "labeled": 300, "estimated_noise_rate": 0.05, "flagged": 12,
            "flagged_share": 0.04, "dry_run": False, "history": history, "tab_url": "http://ls/projects/5/data?tab=2",
            "evaluation": evaluation("model-v2-b", 0.9, {"version": "model-v1-a", "accuracy": 0.83, "n": 30}),
            "per_class": {"sports": {"labeled": 100, "flagged": 4}}, "flips": [{"human": "a", "model": "b", "count": 3}],
            "flagged_tasks": [{"rank": 1, "task": 17, "human": "sports", "model": "food", "model_confidence": 0.91,
                               "label_quality": 0.05, "split": "evaluation"}],
            "annotators": [{"name": "ann@example.com", "labels": 100, "reviewed": 0, "flagged_reviewed": 20,
                            "overturned": 17, "overturn_rate": 0.85, "overturned_per_class": {"sports": 17}}],
            "human_evaluation": []}


def test_the_history_rows_and_chart_show_every_round():
    report = report_with_history()
    rows = history_rows(report)
    assert [(r["round"], r["score"], r["previous_score"], r["estimated_wrong_labels"]) for r in rows] == \
        [(1, 0.80, None, 45), (2, 0.9, 0.83, 15)]
    assert rows[0]["precision"] == 0.85 and rows[1]["precision"] is None
    png = history_chart(report)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_the_html_report_is_one_file_with_the_chart_tables_and_links():
    report = report_with_history()
    page = report_html(report, history_chart(report), {17: ("text", "The striker <scored> twice")}, "http://ls:8080")
    assert page.startswith("<!DOCTYPE html>") and 'src="data:image/png;base64,' in page
    assert "topics &lt;b&gt;" in page and "The striker &lt;scored&gt; twice" in page  # escaped
    assert 'href="http://ls:8080/projects/5/data?task=17"' in page and "0.91" in page
    assert "accuracy on 30 evaluation tasks: 0.900" in page and "model-v1-a" in page
    assert re.search(r"<td>ann@example\.com</td>", page) and "85.0%" in page
    assert not re.search(r"https?://", page.replace("http://ls:8080/", "").replace("http://ls/", ""))  # no outside asset


def test_thumbnails_of_image_tasks(tmp_path):
    from PIL import Image

    from relabel.rounds.publishing import thumbnail

    Image.new("RGB", (640, 480), (200, 30, 30)).save(tmp_path / "big.png")
    uri = thumbnail(str(tmp_path / "big.png"))
    assert uri.startswith("data:image/png;base64,") and len(uri) < 5_000
