"""The round driver's pure parts for text generation (choices between texts) and clicks (dropped rows)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from relabel.adapters import ClickAdapter, TextGenerationAdapter, adapter_for_config
from relabel.adapters.base import Disagreement
from relabel.backend.training import rows_left_in
from relabel.rounds.dropped_rows import cleaned_tasks, write_cleaned_export
from relabel.rounds.cli import parse_args
from relabel.rounds.history import previous_round_outcome
from relabel.rounds.markdown import dropped_rows_markdown, report_markdown, table_cell
from relabel.rounds.report import build_report
from relabel.rounds.tabs import next_round, planned_tag_updates, round_tags


def test_next_round_counts_dropped_clicks_tabs_too():
    views = [{"data": {"title": "Dropped clicks round 2", "relabel": {"round": 2, "class": None}}},
             {"data": {"title": "Re-label round 1", "relabel": {"round": 1, "class": None}}},
             {"data": {"title": "Dropped clicks round x"}}]
    assert next_round(views) == 3


def test_relabel_fields_are_written_with_the_tags_and_removed_when_a_rerun_unflags():
    flags = [Disagreement(1, True, 0.1, "2030-10-17", "2030-10-07")]
    tags = round_tags(flags, 2, lambda d: {"relabel_candidates": [{"value": d.human}, {"value": d.model}]})
    assert tags[1]["relabel_candidates"] == [{"value": "2030-10-17"}, {"value": "2030-10-07"}]
    assert tags[1]["relabel_round"] == 2
    tasks = [{"id": 1, "data": {"text": "7 October 2030"}},
             {"id": 2, "data": {"text": "x", "relabel_round": 2, "relabel_rank": 1, "relabel_quality": 0.2,
                                "relabel_classes": "||", "relabel_candidates": [{"value": "a"}, {"value": "b"}]}}]
    updates = dict(planned_tag_updates(tasks, 2, tags, extra_fields=("relabel_candidates",)))
    assert updates[1]["relabel_candidates"][1] == {"value": "2030-10-07"} and updates[1]["text"] == "7 October 2030"
    assert updates[2] == {"text": "x"}  # unflagged by the re-run: tags and candidates gone, data kept
    assert "relabel_candidates" in dict(planned_tag_updates(tasks, 2, {}))[2]  # only named fields are removed


def test_outcome_tells_kept_from_replaced_from_rewritten():
    flags = [{"task": task, "human": "old", "label_key": "old", "model_key": "model", "annotation": 10 + task}
             for task in range(1, 6)]
    now = {1: {"target": "old", "annotation": 21},  # kept (new annotation, same text)
           2: {"target": "model", "annotation": 22},  # replaced by the model's text
           3: {"target": "something else", "annotation": 23},  # rewritten
           4: {"target": "old", "annotation": 14}}  # not reviewed; 5 is gone
    outcome = previous_round_outcome(flags, now)
    assert (outcome["confirmed"], outcome["changed"], outcome["changed_to_model"], outcome["not_reviewed"],
            outcome["gone"]) == (1, 2, 1, 1, 1)


def test_free_text_report_has_no_classes_and_counts_what_humans_did():
    found = [Disagreement(1, True, 0.05, "2030|10", "2030-10-07\nsecond line", {"chrf": 5.0}, model_key="m"),
             Disagreement(2, False, 0.95, "2031-01-02", "2031-01-02", {"chrf": 95.0}, model_key="2031-01-02")]
    history = [{"round": 1, "model_version": "v1", "flagged": 3,
                "outcome": {"flagged": 3, "changed": 2, "changed_to_model": 1, "confirmed": 1, "not_reviewed": 0,
                            "gone": 0, "precision": 0.6667, "precision_of_reviewed": 0.6667}}]
    report = build_report(round_number=2, project={"id": 3}, model_version="v2", stored={"adapter": "text-generation"},
                          disagreements=found, annotations={1: 11, 2: 12}, history=history, tab_url=None,
                          dry_run=True, labels_are_classes=False)
    assert report["per_class"] == {} and report["flips"] == []
    assert report["flagged_tasks"][0]["model_key"] == "m"
    markdown = report_markdown(report)
    assert "Flagged per class" not in markdown and "Human label -> model label" not in markdown
    assert "| 1 | 1 | 2030\\|10 | 2030-10-07 second line | 0.050 |" in markdown
    assert "| 1 | v1 | 3 | 1 | 1 | 1 | 0 |" in markdown  # kept, took the model's, wrote a new one, not reviewed


def test_table_cell_cuts_long_texts():
    assert table_cell("a" * 100) == "a" * 77 + "..."
    assert table_cell("x | y\n z") == "x \\| y z"


def test_rows_earlier_rounds_dropped_leave_the_training_set():
    tasks = [{"id": 1, "data": {}}, {"id": 2, "data": {"relabel_round": 1}}, {"id": 3, "data": {"relabel_round": 2}},
             {"id": 4, "data": {"relabel_round": "1"}}, {"id": 5, "data": {"relabel_round": True}}]
    assert [t["id"] for t in rows_left_in(tasks, 2)] == [1, 3, 4, 5]  # a re-run of round 2 keeps its own rows
    assert [t["id"] for t in rows_left_in(tasks, 3)] == [1, 4, 5]
    assert rows_left_in(tasks, None) == tasks


def test_cleaned_export_keeps_data_and_annotations_without_round_tags(tmp_path):
    tasks = [{"id": 1, "data": {"user": "u1", "movie": 3, "relabel_round": 1, "tags": ["a"]},
              "annotations": [{"id": 9, "result": [{"from_name": "click"}], "was_cancelled": False, "lead_time": 2}]},
             {"id": 2, "data": {"user": "u2", "movie": 4}, "annotations": []},
             {"id": 3, "data": {"user": "u3", "movie": 5}, "annotations": []}]
    kept = cleaned_tasks(tasks, {1, 2})
    assert kept[0] == {"id": 1, "data": {"user": "u1", "movie": 3, "tags": ["a"]},
                       "annotations": [{"result": [{"from_name": "click"}], "was_cancelled": False,
                                        "ground_truth": False}]}
    paths = write_cleaned_export(tmp_path, kept, {1: 1, 2: 0}, "click")
    assert json.loads((tmp_path / "cleaned.json").read_text()) == kept and paths["csv"].endswith("cleaned.csv")
    with open(paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{"id": "1", "movie": "3", "tags": '["a"]', "user": "u1", "click": "1"},
                    {"id": "2", "movie": "4", "tags": "", "user": "u2", "click": "0"}]


def test_dropped_rows_markdown():
    section = {"trained_rows": 100, "dropped": 10, "kept": 90, "export": {"json": "r/cleaned.json", "csv": "r/c.csv"},
               "dev": {"dev_rows": 18, "with_dropped": {"auc": 0.7, "log_loss": 0.6, "train_rows": 82},
                       "without_dropped": {"auc": 0.75, "log_loss": 0.55, "train_rows": 72}}}
    text = "\n".join(dropped_rows_markdown(section))
    assert "10 of 100 rows" in text and "| without them (cleaned) | 72 | 0.7500 | 0.5500 |" in text
    section.update(dev=None, dev_problem="not measured: one class")
    assert "Dev AUC and log-loss not measured: one class." in "\n".join(dropped_rows_markdown(section))


def test_sync_round_text_and_click_options():
    options = parse_args(["--project", "1", "--bleu-threshold", "0.3", "--drop-quantile", "0.8",
                          "--segment-field", "genre"])
    assert (options.flags.bleu_threshold, options.flags.drop_quantile,
            options.flags.segment_field, options.flags.drop_threshold) == (0.3, 0.8, "genre", None)


def test_the_readme_configs_go_to_their_adapters():
    """The labeling configs the README documents for text generation and clicks parse as documented."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    configs = re.findall(r"```xml\n(.*?)```", readme, re.S)
    generation = adapter_for_config(next(c for c in configs if "relabel_candidates" in c))
    assert isinstance(generation, TextGenerationAdapter) and generation.candidate_name == "candidate"
    assert generation.data_key == "text"
    clicks = adapter_for_config(next(c for c in configs if "no_click" in c))
    assert isinstance(clicks, ClickAdapter) and list(clicks.config.data_fields) == ["user", "item"]
