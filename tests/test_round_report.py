"""Round numbering, task tagging plans and the round report (pure parts of sync_round)."""
from __future__ import annotations

import pytest
import requests

from relabel.adapters.base import Disagreement
from relabel.adapters import NerAdapter
from relabel.clients.backend import BackendClient, BackendError
from relabel.rounds.history import apply_confirmation_memory, confirmed_label_quality, previous_round_outcome
from relabel.rounds.markdown import report_markdown
from relabel.rounds.report import build_report, ranked_flags
from relabel.rounds.tabs import next_round, planned_tag_updates, round_tags


def round_tab(title: str, round_number: int, class_name: str | None = None) -> dict:
    """A tab as Re-Label makes it: its marker, and the filter on the round tag."""
    return {"data": {"title": title, "relabel": {"round": round_number, "class": class_name},
                     "filters": {"items": [{"filter": "filter:tasks:data.relabel_round", "value": round_number}]}}}


def test_next_round_counts_completed_round_tabs():
    views = [{"data": {"title": "Default"}}, round_tab("Re-label round 1", 1), round_tab("Re-label round 3", 3),
             {"data": {"title": "Re-label round 2 copy"}}, {"data": {}}]
    assert next_round(views) == 4
    assert next_round([]) == 1
    # a person's own tab of that title is not a round; a per-class tab is made before the round completes
    assert next_round([round_tab("Re-label round 1", 1), {"data": {"title": "Re-label round 7"}},
                       round_tab("Re-label round 2 — PER", 2, "PER")]) == 2
    legacy = {"data": {"title": "Re-label round 5",  # made before the marker: title and filter
                       "filters": {"items": [{"filter": "filter:tasks:data.relabel_round", "value": 5}]}}}
    assert next_round([legacy]) == 6


def test_tag_plan_keeps_data_fields_and_only_writes_changes():
    tasks = [{"id": 1, "data": {"text": "a", "source": "web"}},
             {"id": 2, "data": {"text": "b", "relabel_round": 2, "relabel_rank": 1}},
             {"id": 3, "data": {"text": "c", "relabel_round": 2, "relabel_rank": 5}},
             {"id": 4, "data": {"text": "d", "relabel_round": 1, "relabel_rank": 3}},
             {"id": 5, "data": {"text": "e", "relabel_round": 2, "relabel_rank": 3}}]
    flags = [disagreement(1, "a", "b", 0.1), disagreement(2, "a", "b", 0.2), disagreement(5, "a", "b", 0.3)]
    tags = round_tags(flags, round_number=2, groups={2: "a → b"})
    assert tags[2] == {"relabel_round": 2, "relabel_rank": "2", "relabel_classes": "|a|",
                       "relabel_reason": "human: a · model: b 0.90",  # the tab's list says it in words
                       "relabel_group": "a → b"}
    updates = dict(planned_tag_updates(tasks, round_number=2, tags=tags))
    assert updates == {1: {"text": "a", "source": "web", **tags[1]}, 2: {"text": "b", **tags[2]},
                       3: {"text": "c"}, 5: {"text": "e", **tags[5]}}
    # an earlier round's tag stays (its tab keeps its tasks); an unchanged task is not written again
    assert dict(planned_tag_updates([{"id": 5, "data": {"text": "e", **tags[5]}}], 2, tags)) == {}


def disagreement(task_id, human, model, quality, flagged=None):
    return Disagreement(task_id, human != model if flagged is None else flagged, quality, human, model,
                        {"model_confidence": 0.9})


def test_report_counts_and_markdown():
    found = [disagreement(1, "a", "b", 0.2), disagreement(2, "a", "a", 0.9), disagreement(3, "b", "a", 0.1),
             disagreement(4, "a", "b", 0.3)]
    assert [d.task_id for d in ranked_flags(found)] == [3, 1, 4]
    history = [{"round": 1, "model_version": "model-v1-x", "flagged": 2,
                "outcome": previous_round_outcome([{"task": 1, "human": "b", "annotation": 10},
                                                   {"task": 2, "human": "a", "annotation": 11}],
                                                  {1: {"target": "a", "annotation": 12},
                                                   2: {"target": "a", "annotation": 11}})}]
    report = build_report(round_number=2, project={"id": 7, "title": "p"}, model_version="model-v2-y",
                          stored={"adapter": "text-classification", "prediction_source": "out_of_fold", "n_folds": 5},
                          disagreements=found, annotations={1: 10, 2: 11, 3: 12, 4: 13}, history=history,
                          tab_url=None, dry_run=False, estimated_noise_rate=0.25, suppressed=[8, 6],
                          detection={"flag_rule": "confident_learning", "quality_method": "normalized_margin",
                                     "confirmation_margin": 0.2})
    assert report["flagged"] == 3 and report["suppressed_tasks"] == [6, 8] and report["flagged_share"] == 0.75
    assert report["per_class"] == {"a": {"labeled": 3, "flagged": 2}, "b": {"labeled": 1, "flagged": 1}}
    assert report["flips"] == [{"human": "a", "model": "b", "count": 2}, {"human": "b", "model": "a", "count": 1}]
    assert [t["task"] for t in report["flagged_tasks"]] == [3, 1, 4]
    assert report["flagged_tasks"][0]["annotation"] == 12
    assert history[0]["outcome"] == {"flagged": 2, "changed": 1, "changed_to_model": 0, "confirmed": 0,
                                     "not_reviewed": 1, "gone": 0, "precision": 0.5, "precision_of_reviewed": 1.0}
    markdown = report_markdown(report)
    assert "# Re-label round 2: project 7 (p)" in markdown
    assert "| a | b | 2 |" in markdown and "| 1 | model-v1-x | 2 | 1 | 50.0% | 0 | 1 |" in markdown
    assert "- estimated label noise: 25.0% of labeled tasks (about 1 wrong labels)" in markdown
    assert "- not shown again: 2 task(s)" in markdown
    assert "- precision of round 1's flags: 50.0% (1 of 2 flagged tasks were changed by humans)" in markdown


def test_memory_of_confirmed_labels_across_rounds():
    round_1 = {"round": 1, "flagged_tasks": [
        {"task": 1, "human": "a", "annotation": 10, "label_quality": 0.30},   # kept by a new annotation
        {"task": 2, "human": "a", "annotation": 20, "label_quality": 0.10},   # changed to b
        {"task": 3, "human": "a", "annotation": 30, "label_quality": 0.20},   # not reviewed yet
        {"task": 4, "human": "a", "annotation": 40, "label_quality": 0.05}]}  # kept in round 1, changed in round 2
    round_2 = {"round": 2, "flagged_tasks": [{"task": 4, "human": "a", "annotation": 41, "label_quality": 0.02}]}
    now = {1: {"target": "a", "annotation": 11}, 2: {"target": "b", "annotation": 21},
           3: {"target": "a", "annotation": 30}, 4: {"target": "b", "annotation": 42}}
    assert confirmed_label_quality([round_1, round_2], now) == {1: 0.30}
    assert confirmed_label_quality([round_1], {**now, 4: {"target": "a", "annotation": 41}}) == {1: 0.30, 4: 0.05}

    found = [disagreement(1, "a", "b", 0.25), disagreement(2, "b", "a", 0.05), disagreement(5, "a", "a", 0.9)]
    kept, suppressed = apply_confirmation_memory(found, {1: 0.30}, margin=0.2)
    assert suppressed == [1] and [d.flagged for d in kept] == [False, True, False]
    kept, suppressed = apply_confirmation_memory([disagreement(1, "a", "b", 0.05)], {1: 0.30}, margin=0.2)
    assert suppressed == [] and kept[0].flagged  # the new model is clearly more sure: shown again


def test_a_confirmation_scored_with_another_ranking_holds_until_the_label_changes():
    """A label kept under normalized_margin (0.45) is not shown again because self_confidence now says 0.20: the
    two scores are on different scales, so the drop says nothing about new doubt."""
    flag = {"task": 1, "human": "a", "annotation": 10, "label_quality": 0.45}
    margin_round = {"round": 1, "detection": {"quality_method": "normalized_margin"}, "flagged_tasks": [flag]}
    confidence_round = {"round": 2, "detection": {"quality_method": "self_confidence"},
                        "flagged_tasks": [{**flag, "annotation": 11, "label_quality": 0.40}]}
    kept_it = {1: {"target": "a", "annotation": 11}}
    assert confirmed_label_quality([margin_round], kept_it) == {1: 0.45}  # no method named: as recorded
    assert confirmed_label_quality([margin_round], kept_it, "normalized_margin") == {1: 0.45}
    assert confirmed_label_quality([margin_round], kept_it, "self_confidence") == {1: float("-inf")}
    kept, suppressed = apply_confirmation_memory([disagreement(1, "a", "b", 0.20)],
                                                 confirmed_label_quality([margin_round], kept_it, "self_confidence"),
                                                 margin=0.2)
    assert suppressed == [1] and not kept[0].flagged
    # a round scored alike that confirms it again is compared as usual
    kept_again = {1: {"target": "a", "annotation": 12}}
    assert confirmed_label_quality([margin_round, confidence_round], kept_again, "self_confidence") == {1: 0.40}
    assert confirmed_label_quality([margin_round], {1: {"target": "b", "annotation": 12}}, "self_confidence") == {}


def test_outcome_of_a_task_that_lost_its_labels():
    outcome = previous_round_outcome([{"task": 9, "human": "a", "annotation": 1}], {})
    assert outcome["gone"] == 1 and outcome["precision_of_reviewed"] is None and outcome["precision"] == 0


def test_sync_round_detection_options_from_the_command_line(capsys):
    import pytest

    from relabel.adapters.noise.flags import FlagOptions
    from relabel.rounds.cli import parse_args

    assert parse_args(["--project", "1"]).flags == FlagOptions()
    options = parse_args(["--project", "1", "--flag-rule", "budget", "--budget", "40", "--global-budget",
                          "--ranking", "self_confidence", "--confirmation-margin", "0.5", "--repeats", "3",
                          "--quality-threshold", "0.3", "--per-class"])
    assert options.flags == FlagOptions(flag_rule="budget", budget=40, per_class=False,
                                        quality_method="self_confidence", confirmation_margin=0.5,
                                        quality_threshold=0.3)
    assert options.repeats == 3 and options.per_class
    with pytest.raises(SystemExit):
        parse_args(["--project", "1", "--confirmation-margin", "3"])
    assert "confirmation_margin must be in [0, 1]" in capsys.readouterr().err


def test_ner_report_counts_span_errors_per_class_and_no_flips():
    found = [Disagreement(1, True, 0.1, "PER 'Ann'", "(no entities)",
                          classes=("PER",), label_classes=("PER",), errors={"added": {"PER": 1}}),
             Disagreement(2, True, 0.2, "PER 'Rome'", "LOC 'Rome'",
                          classes=("LOC", "PER"), label_classes=("PER",), errors={"retyped": {"PER": 1}}),
             Disagreement(3, False, 0.9, "LOC 'Oslo'", "LOC 'Oslo'",
                          classes=(), label_classes=("LOC",), errors={})]
    report = build_report(round_number=1, project={"id": 2}, model_version="model-v1-z",
                          stored={"adapter": "ner", "warnings": [{"task": 3, "annotation": 9, "note": "misaligned"}]},
                          disagreements=found, annotations={1: 1, 2: 2, 3: 3}, history=[], tab_url=None,
                          dry_run=False, label_keys={1: '[[0, 3, "PER"]]', 2: "k2", 3: "k3"},
                          error_kinds=NerAdapter.error_kinds)
    assert report["per_class"] == {"LOC": {"labeled": 1, "flagged": 1}, "PER": {"labeled": 2, "flagged": 2}}
    assert report["errors_per_class"] == {"PER": {"added": 1, "retyped": 1}}
    assert report["flips"] == [] and report["flagged_tasks"][0]["label_key"] == '[[0, 3, "PER"]]'
    assert round_tags(ranked_flags(found), 1)[2]["relabel_classes"] == "|LOC|PER|"
    markdown = report_markdown(report)
    assert "| PER | 0 | 1 | 1 | 0 |" in markdown and "| human | model | tasks |" not in markdown
    assert "- task 3 (annotation 9): misaligned" in markdown
    # the next round compares labels by key: the same spans under a new annotation are "confirmed"
    outcome = previous_round_outcome(report["flagged_tasks"], {1: {"target": '[[0, 3, "PER"]]', "annotation": 5},
                                                               2: {"target": "other", "annotation": 6}})
    assert (outcome["confirmed"], outcome["changed"]) == (1, 1)
    # a span round that flags nothing still has no class-flip table, and classification has no span table
    quiet = build_report(round_number=2, project={"id": 2}, model_version="v", stored={}, disagreements=found[2:],
                         annotations={}, history=[], tab_url=None, dry_run=False, error_kinds=NerAdapter.error_kinds)
    assert quiet["errors_per_class"] == {} and "| human | model | tasks |" not in report_markdown(quiet)
    classes = build_report(round_number=2, project={"id": 2}, model_version="v", stored={},
                           disagreements=[disagreement(1, "a", "b", 0.1)], annotations={}, history=[], tab_url=None,
                           dry_run=False)
    assert classes["errors_per_class"] is None and "Disagreements in the flagged" not in report_markdown(classes)


def test_backend_client_sends_a_get_again_when_a_kept_alive_connection_was_closed(monkeypatch):
    class Answer:
        status_code = 200

        def json(self):
            return {"jobs": []}

    calls = []

    def reset_once(method, url, **kwargs):
        calls.append(method)
        if len(calls) == 1:
            raise requests.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'reset by peer'))")
        return Answer()

    def always_down(method, url, **kwargs):
        calls.append(method)
        raise requests.ConnectionError("down")

    client = BackendClient("http://backend:9090", None)
    monkeypatch.setattr(client.session, "request", reset_once)
    assert client.jobs(3) == [] and calls == ["GET", "GET"]
    calls.clear()
    monkeypatch.setattr(client.session, "request", always_down)
    with pytest.raises(BackendError, match="not reachable"):
        client.start_job(3, write_predictions=False)
    assert calls == ["POST"]  # a job start is never sent twice
