"""Fold logic and the pure noise-detection functions."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from relabel.adapters.data.folds import (fold_assignments, folds_of, in_sample_outputs, leave_out_of_training,
                                         out_of_fold_outputs, outputs_without_suspects)
from relabel.adapters.noise.probabilities import (find_label_disagreements, label_quality_scores, noise_adjusted_probs,
                                                 noise_transition, rank_most_suspicious)


def test_folds_are_stratified_balanced_and_deterministic():
    strata = ["a"] * 50 + ["b"] * 30 + ["c"] * 7
    folds = fold_assignments(strata, 5, seed=3)
    assert sorted(Counter(folds).values()) in ([17, 17, 17, 18, 18],)
    for label in "abc":
        per_fold = Counter(folds[[i for i, s in enumerate(strata) if s == label]])
        assert max(per_fold.values()) - min(per_fold.values(), default=0) <= 1
    assert (fold_assignments(strata, 5, seed=3) == folds).all()
    assert not (fold_assignments(strata, 5, seed=4) == folds).all()


@pytest.mark.parametrize("n_items, n_folds", [(3, 5), (10, 1)])
def test_folds_refuse_impossible_splits(n_items, n_folds):
    with pytest.raises(ValueError):
        fold_assignments(["a"] * n_items, n_folds)


class RecordingModel:
    """Predicts, for each item, whether the item was in its training set."""

    def fit(self, features, targets):
        self.seen = set(features)
        return self

    def predict(self, features):
        return [item in self.seen for item in features]


def test_out_of_fold_outputs_never_come_from_a_model_that_saw_the_item():
    items = list(range(40))
    folds = fold_assignments([i % 2 for i in items], 4)
    steps = []
    outputs = out_of_fold_outputs(RecordingModel, items, [i % 2 for i in items], folds,
                                  progress=lambda stage, done, total: steps.append((done, total)))
    assert outputs == [False] * 40
    assert steps[-1] == (4, 4)
    model = RecordingModel().fit(items, None)
    assert in_sample_outputs(model, items) == [True] * 40


class TrainedOn:
    """Outputs, per item, the set of items its model learned from."""

    def fit(self, features, targets):
        self.seen = frozenset(features)
        return self

    def predict(self, features):
        return [self.seen for _ in features]


class ConstantModel:
    def __init__(self, output):
        self.output = np.array(output)

    def fit(self, features, targets):
        return self

    def predict(self, features):
        return [self.output for _ in features]


def test_the_second_pass_predicts_every_item_and_learns_from_none_of_the_suspects():
    items = list(range(40))
    targets = [i % 2 for i in items]
    folds = fold_assignments(targets, 4)
    suspects = np.isin(items, [3, 10, 17])
    marked = leave_out_of_training(folds, suspects)
    assert list(folds_of(marked)) == [0, 1, 2, 3] and list(marked[~suspects]) == list(folds[~suspects])
    seen = out_of_fold_outputs(TrainedOn, items, targets, marked)
    assert all(i not in learned and not learned & {3, 10, 17} for i, learned in enumerate(seen))
    assert all(len(learned) == 30 - (folds[[3, 10, 17]] != folds[i]).sum() for i, learned in enumerate(seen))

    first = [np.array([1.0, 0.0])] * 40
    averaged = outputs_without_suspects(lambda: ConstantModel([0.0, 1.0]), items, targets, first, suspects, 4, 1,
                                        lambda outputs: np.mean(outputs, axis=0))
    assert all(np.allclose(o, [0.5, 0.5]) for o in averaged)
    # nothing suspect, or more than half: the first outputs as they were (too little left to learn from)
    for mask in (np.zeros(40, dtype=bool), np.arange(40) < 21):
        assert outputs_without_suspects(lambda: ConstantModel([0.0, 1.0]), items, targets, first, mask, 4, 1,
                                        lambda outputs: np.mean(outputs, axis=0)) is first


TWO_CLASS_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
                    '<Choice value="a"/><Choice value="b"/></Choices></View>')


def two_clusters_with_two_odd_labels() -> tuple[np.ndarray, np.ndarray]:
    """Labels 0/1 of 60 points in two clusters, and the points; items 3 and 40 carry the other cluster's label."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 30)
    vectors = np.vstack([np.eye(2)[c] * 4 + rng.normal(0, 0.5, 2) for c in labels])
    labels[[3, 40]] = 1 - labels[[3, 40]]
    return labels, vectors


def adapter_over(vectors: np.ndarray, mode: str):
    """A text-classification adapter whose features are `vectors` (the task's input is its row): no encoder."""
    from relabel.adapters.tasks.text_classification import TextClassificationAdapter

    adapter = TextClassificationAdapter(TWO_CLASS_CONFIG, mode=mode)
    adapter.featurize = lambda inputs, progress=None: vectors[[int(i) for i in inputs]]
    return adapter


def test_the_second_pass_keeps_the_labels_people_confirmed_in_training():
    from relabel.adapters.base import Example
    from relabel.backend.config import Settings
    from relabel.backend.training import confirmed_tasks, fingerprint, fit_and_predict

    labels, vectors = two_clusters_with_two_odd_labels()
    adapter = adapter_over(vectors, "embedding")
    # task 3's label was shown in round 1 and a newer annotation kept it; task 40's annotation still stands;
    # task 7's label was changed since (so its old flag confirms nothing); a row of another form is passed over
    labeled = [Example(task_id=i, input=str(i), target="ab"[label], annotation_id=100 + i + (i in (3, 7)))
               for i, label in enumerate(labels)]
    reports = [{"round": 1, "flagged_tasks": [
        {"task": 3, "human": "ab"[labels[3]], "label_key": "ab"[labels[3]], "annotation": 103, "label_quality": 0.1},
        {"task": 40, "human": "ab"[labels[40]], "annotation": 140, "label_quality": 0.1},
        {"task": 7, "human": "ab"[1 - labels[7]], "annotation": 107, "label_quality": 0.2},
        {"task": 9}, "not a row"]}]
    assert confirmed_tasks(adapter, reports, labeled) == {3}

    settings = Settings(n_folds=3, second_pass=True)
    plain = fit_and_predict(adapter, settings, labeled, [], lambda *a: None)
    trusting = fit_and_predict(adapter, settings, labeled, [], lambda *a: None, confirmed_ids={3})
    assert plain["second_pass_suspects"] >= 2
    assert trusting["second_pass_suspects"] == plain["second_pass_suspects"] - 1
    # a confirmation is a new model where a second pass runs, and changes nothing where none does
    def fingerprint_of(settings, confirmed=frozenset()):
        return fingerprint(adapter, settings, TWO_CLASS_CONFIG, labeled, confirmed_ids=confirmed)
    assert fingerprint_of(settings, {3}) != fingerprint_of(settings)
    one_pass = Settings(n_folds=3, second_pass=False)
    assert fingerprint_of(one_pass, {3}) == fingerprint_of(one_pass)


def test_disagreements_and_quality_ranking():
    labels = np.array([0, 1, 2, 0])
    pred_probs = np.array([[0.9, 0.05, 0.05],   # agrees, confident
                           [0.6, 0.3, 0.1],     # disagrees
                           [0.05, 0.9, 0.05],   # disagrees strongly
                           [0.5, 0.4, 0.1]])    # agrees, unsure
    flagged = find_label_disagreements(labels, pred_probs)
    assert flagged.tolist() == [False, True, True, False]
    quality = label_quality_scores(labels, pred_probs)
    assert quality.argmin() == 2 and quality.argmax() == 0
    assert rank_most_suspicious(flagged, quality).tolist() == [2, 1]
    self_confidence = label_quality_scores(labels, pred_probs, method="self_confidence")
    assert np.allclose(self_confidence, [0.9, 0.3, 0.05, 0.5])


def _pair_confused_labels(rng, n_per_class=200, flip_share=0.3):
    """Three classes; 0 and 1 swapped for `flip_share` of their items, class 2 never; well-calibrated-ish probs."""
    truth = np.repeat([0, 1, 2], n_per_class)
    labels = truth.copy()
    pair = np.flatnonzero(truth < 2)
    flipped = rng.choice(pair, int(flip_share * len(pair)), replace=False)
    labels[flipped] = 1 - labels[flipped]
    pred_probs = np.full((len(truth), 3), 0.1)
    pred_probs[np.arange(len(truth)), truth] = 0.8
    return labels, pred_probs


def test_noise_transition_estimates_which_classes_annotators_confuse():
    labels, pred_probs = _pair_confused_labels(np.random.default_rng(0))
    transition = noise_transition(labels, pred_probs)
    assert transition.shape == (3, 3) and np.allclose(transition.sum(axis=0), 1)
    assert transition[1, 0] > 0.2 and transition[0, 1] > 0.2    # 0 and 1 swapped for ~30% of their items
    assert transition[2, 0] < 0.05 and transition[0, 2] < 0.05  # class 2 never confused
    # a class nobody labeled keeps the pseudo-counts alone: every label equally likely for it
    no_twos = labels != 2
    unseen = noise_transition(labels[no_twos], pred_probs[no_twos])
    assert np.allclose(unseen[:, 2], 1 / 3)


def test_noise_adjusted_margin_trusts_a_label_whose_rival_class_it_is_never_confused_with():
    labels, pred_probs = _pair_confused_labels(np.random.default_rng(0))
    # two new items labeled 0, each torn between 0 and another class: 1 (often confused with 0) or 2 (never)
    labels = np.append(labels, [0, 0])
    pred_probs = np.vstack([pred_probs, [0.45, 0.45, 0.10], [0.45, 0.10, 0.45]])
    margin = label_quality_scores(labels, pred_probs, method="normalized_margin")
    adjusted = label_quality_scores(labels, pred_probs, method="noise_adjusted_margin")
    assert margin[-2] == pytest.approx(margin[-1])
    assert adjusted[-1] > adjusted[-2] + 0.1
    assert np.allclose(noise_adjusted_probs(labels, pred_probs).sum(axis=1), 1)
    assert np.allclose(noise_adjusted_probs(labels, pred_probs, strength=0), pred_probs / pred_probs.sum(1, keepdims=True))


def test_noise_functions_check_their_arrays():
    with pytest.raises(ValueError):
        find_label_disagreements(np.array([0, 1]), np.ones((3, 2)) / 2)
    with pytest.raises(ValueError):
        find_label_disagreements(np.array([0, 5]), np.ones((2, 2)) / 2)
    with pytest.raises(ValueError):
        label_quality_scores(np.array([0]), np.ones((1, 2)) / 2, method="vibes")


def test_training_runs_the_second_pass_where_the_settings_or_the_task_type_ask_for_it():
    from relabel.adapters.base import Example
    from relabel.adapters.tasks.text_classification import SECOND_PASS_MOST_TASKS, TextClassificationAdapter
    from relabel.backend.config import Settings
    from relabel.backend.training import fit_and_predict

    labels, vectors = two_clusters_with_two_odd_labels()
    labeled = [Example(task_id=i, input=str(i), target="ab"[label], annotation_id=i) for i, label in enumerate(labels)]

    def record(mode, **settings):
        return fit_and_predict(adapter_over(vectors, mode), Settings(n_folds=3, **settings), labeled, [],
                               lambda *a: None)

    first, second = record("embedding"), record("embedding", second_pass=True)
    assert first["second_pass_suspects"] is None and second["second_pass_suspects"] >= 2
    # fold models that never learned the two wrong labels: the right labels held more firmly, on average
    def right_label_probability(result):
        return np.mean([result["items"][i]["output"][label] for i, label in enumerate(labels) if i not in (3, 40)])
    assert right_label_probability(second) > right_label_probability(first) + 0.001
    assert record("embedding", second_pass=False)["second_pass_suspects"] is None
    # more than half suspect: too little left to learn from, so no second pass ran and the record says none
    every_label_suspect = adapter_over(vectors, "embedding")
    every_label_suspect.suspect_labels = lambda targets, outputs: np.ones(len(targets), dtype=bool)
    unchanged = fit_and_predict(every_label_suspect, Settings(n_folds=3, second_pass=True), labeled, [],
                                lambda *a: None)
    assert unchanged["second_pass_suspects"] is None
    assert [item["output"] for item in unchanged["items"]] == [item["output"] for item in first["items"]]
    fast = TextClassificationAdapter(TWO_CLASS_CONFIG, device="cpu")
    assert fast.second_pass_for(5000) and not fast.second_pass_for(SECOND_PASS_MOST_TASKS + 1)
    assert not TextClassificationAdapter(TWO_CLASS_CONFIG, mode="finetune").second_pass_for(5000)
    assert Settings().for_adapter(fast).second_pass is None  # open until the labeled tasks are counted
    assert Settings().for_adapter(fast, 5000).second_pass is True
    assert Settings(second_pass=False).for_adapter(fast, 5000).second_pass is False


@pytest.mark.parametrize("raw, expected", [("0", False), ("1", True), ("", None)])
def test_the_second_pass_setting_from_the_environment(monkeypatch, raw, expected):
    from relabel.backend.config import Settings

    monkeypatch.setenv("RELABEL_SECOND_PASS", raw)
    assert Settings.from_env().second_pass is expected
    monkeypatch.setenv("RELABEL_SECOND_PASS", "maybe")
    with pytest.raises(ValueError, match="RELABEL_SECOND_PASS must be 1 or 0"):
        Settings.from_env()
