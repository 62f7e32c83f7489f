"""Fold logic and the pure noise-detection functions."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from relabel.adapters.data.folds import fold_assignments, in_sample_outputs, out_of_fold_outputs
from relabel.adapters.noise.probabilities import find_label_disagreements, label_quality_scores, rank_most_suspicious


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


def test_noise_functions_check_their_arrays():
    with pytest.raises(ValueError):
        find_label_disagreements(np.array([0, 1]), np.ones((3, 2)) / 2)
    with pytest.raises(ValueError):
        find_label_disagreements(np.array([0, 5]), np.ones((2, 2)) / 2)
    with pytest.raises(ValueError):
        label_quality_scores(np.array([0]), np.ones((1, 2)) / 2, method="vibes")
