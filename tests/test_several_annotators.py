"""Several annotators per task: the consensus target, cleanlab's consensus and annotator quality, the
round's doubtful-consensus flags and the report's section."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.base import Disagreement
from relabel.adapters.noise.multiannotator import agreement_per_class, doubtful_consensus, estimate_consensus
from relabel.adapters.tasks.text_classification import TextClassificationAdapter
from relabel.rounds.markdown import report_markdown
from relabel.rounds.several_annotators import several_annotators, votes_text

CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="topic" toName="text"><Choice value="sports"/><Choice value="food"/><Choice value="weather"/></Choices>
</View>"""
CLASSES = ["sports", "food", "weather"]


def annotation(annotation_id, who, label, when):
    return {"id": annotation_id, "completed_by": who, "created_at": when, "updated_at": when, "was_cancelled": False,
            "result": [{"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]}


def test_the_target_of_a_task_several_people_labeled_is_their_majority():
    adapter = TextClassificationAdapter(CONFIG)
    task = {"id": 1, "data": {"text": "a match"}, "annotations": [
        annotation(10, 7, "sports", "2026-01-01"), annotation(11, 8, "food", "2026-01-03"),
        annotation(12, 9, "sports", "2026-01-02"), annotation(13, 8, "sports", "2026-01-01")]}  # 8's older vote
    example = adapter.example_from_task(task)
    assert example.target == "sports" and example.votes == {8: "food", 9: "sports", 7: "sports"}
    assert example.annotation_id == 12 and example.annotator == 9  # the latest that chose the majority

    tie = {"id": 2, "data": {"text": "soup"}, "annotations": [annotation(20, 7, "sports", "2026-01-01"),
                                                              annotation(21, 8, "food", "2026-01-02")]}
    assert adapter.example_from_task(tie).target == "food"  # a tie: the latest

    # once in a re-label tab, the latest annotation wins: the re-labeler saw the others
    reviewed = {**task, "data": {"text": "a match", "relabel_round": 1}}
    example = adapter.example_from_task(reviewed)
    assert example.target == "food" and example.votes is None

    one = {"id": 3, "data": {"text": "rain"}, "annotations": [annotation(30, 7, "weather", "2026-01-01"),
                                                             annotation(31, 7, "food", "2026-01-02")]}
    example = adapter.example_from_task(one)  # one person, two annotations: as before, the latest
    assert (example.target, example.votes, example.annotation_id) == ("food", None, 31)


def careful_and_careless(n=90, seed=0):
    """Three annotators on every task: two careful (95% right), one careless (40% right); a model 80% sure."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    votes = np.empty((n, 3))
    for j, accuracy in enumerate((0.95, 0.95, 0.4)):
        right = rng.random(n) < accuracy
        votes[:, j] = np.where(right, truth, (truth + rng.integers(1, 3, n)) % 3)
    pred_probs = np.full((n, 3), 0.1)
    pred_probs[np.arange(n), truth] = 0.8
    return truth, votes, pred_probs


def test_cleanlab_consensus_finds_the_careless_annotator_and_the_doubtful_tasks():
    truth, votes, pred_probs = careful_and_careless()
    consensus = estimate_consensus(votes, pred_probs)
    assert int(np.argmin(consensus.annotator_quality)) == 2
    assert consensus.agreement_with_consensus[2] < 0.6 < consensus.agreement_with_consensus[0]
    assert (consensus.consensus == truth).mean() > 0.9
    split = (votes[:, 0] != votes[:, 1])  # the careful ones disagree: the consensus is less sure
    assert consensus.quality[split].mean() < consensus.quality[~split].mean()
    assert doubtful_consensus(consensus, below=1.01).all() and not doubtful_consensus(consensus, below=0).any()
    rows = agreement_per_class(votes, consensus.consensus, 3)
    assert sum(r["tasks"] for r in rows) == len(truth) and all(0 < r["agreement"] <= 1 for r in rows)


def test_votes_that_break_the_contract_are_named():
    _, votes, pred_probs = careful_and_careless(n=10)
    votes[3] = np.nan
    with pytest.raises(ValueError, match="task rows \\[3\\] have no vote"):
        estimate_consensus(votes, pred_probs)
    with pytest.raises(ValueError, match="class indices"):
        estimate_consensus(np.full((10, 2), 5.0), pred_probs)
    with pytest.raises(ValueError, match="no task has two or more votes"):
        estimate_consensus(np.ones((10, 1)), pred_probs)  # one annotator


def round_items(votes, pred_probs):
    items, flags = [], []
    for i, row in enumerate(votes):
        labels = [CLASSES[int(v)] for v in row]
        majority = max(set(labels), key=lambda label: (labels.count(label), -labels.index(label)))
        items.append({"task": i + 1, "annotation": 100 + i, "annotator": 7, "target": majority,
                      "votes": [[7, labels[0]], [8, labels[1]], [9, labels[2]]]})
        model = CLASSES[int(pred_probs[i].argmax())]
        flags.append(Disagreement(task_id=i + 1, flagged=model != majority, label_quality=0.5, human=majority,
                                  model=model, facts={"model_confidence": 0.8}))
    return items, flags


def test_a_round_flags_doubtful_consensus_and_the_report_names_the_careless_annotator():
    truth, votes, pred_probs = careful_and_careless()
    pred_probs = np.full_like(pred_probs, 1 / 3)  # a model that settles nothing: the annotators decide
    items, flags = round_items(votes, pred_probs)
    people = {7: "ann@example.com", 8: "bob@example.com", 9: "careless@example.com"}
    updated, section = several_annotators(items, flags, CLASSES, pred_probs, people)
    assert section["least_reliable"] == "careless@example.com"
    assert section["annotators"][0]["name"] == "careless@example.com" and section["tasks_with_votes"] == len(items)
    doubtful = set(section["doubtful_tasks"])
    assert doubtful and all(updated[t - 1].flagged for t in doubtful)
    split = {i + 1 for i, row in enumerate(votes) if len(set(row)) == 3}  # three different labels: no majority
    assert split <= doubtful
    assert updated[0].facts["votes"] == votes_text(items[0]["votes"], CLASSES)
    assert len(section["one_more_annotation"]) == 10

    report = {"round": 1, "project": {"id": 1, "title": "t"}, "dry_run": False, "model_version": "v",
              "adapter": "text", "prediction_source": "out_of_fold", "n_folds": 5, "labeled": len(items),
              "flagged": 0, "flagged_share": 0, "tab_url": None, "history": [], "per_class": {}, "flips": [],
              "flagged_tasks": [], "several_annotators": section}
    text = report_markdown(report)
    assert "## Several annotators" in text and "Least reliable annotator: careless@example.com" in text


def test_single_annotation_projects_get_no_section():
    flags = [Disagreement(task_id=1, flagged=False, label_quality=0.9, human="food", model="food")]
    items = [{"task": 1, "annotation": 1, "annotator": 7, "target": "food"}]
    assert several_annotators(items, flags, CLASSES, np.array([[0.1, 0.8, 0.1]])) == (flags, None)


def test_each_voter_counts_the_task_among_their_labels():
    from relabel.rounds.annotators import annotator_summary

    items = [{"task": 1, "annotation": 12, "annotator": 9, "target": "food", "votes": [[9, "food"], [7, "sports"]]},
             {"task": 2, "annotation": 21, "annotator": 7, "target": "food"}]
    rows = {row["annotator"]: row["labels"] for row in annotator_summary(items, [], {})}
    assert rows == {7: 2, 9: 1}
