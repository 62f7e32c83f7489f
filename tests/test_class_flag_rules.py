"""Flag rules, ranking scores, budgets, confirmation memory and repeated folds on hand-made arrays."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.data.folds import fold_assignments, in_sample_outputs, out_of_fold_outputs, repeated_out_of_fold_outputs
from relabel.adapters.noise.probabilities import (FlagOptions, estimate_issues_per_class, estimate_noise_rate, flag_budget,
                            flag_label_issues, flag_lowest_quality, label_quality_scores,
                            share_budget_among_classes, suppress_confirmed)


def planted_matrix():
    """3 classes x 30 items: clean items, 2 confident errors per class, 1 unsure disagreement per class.

    Returns (labels, pred_probs, confident_errors mask, unsure mask).
    """
    labels, rows, confident, unsure = [], [], [], []
    for k in range(3):
        other = (k + 1) % 3
        for i in range(30):
            p = np.full(3, 0.1)
            if i < 2:  # labeled k, the model is sure it is `other`
                p[other] = 0.8
                kind = "confident"
            elif i == 2:  # labeled k, the model leans to `other` a little
                p = np.array([0.2, 0.2, 0.2])
                p[other], p[k] = 0.42, 0.38
                kind = "unsure"
            else:
                p[k] = 0.8
                kind = "clean"
            labels.append(k)
            rows.append(p / p.sum())
            confident.append(kind == "confident")
            unsure.append(kind == "unsure")
    return np.array(labels), np.array(rows), np.array(confident), np.array(unsure)


def test_disagreement_rule_flags_every_disagreement():
    labels, pred_probs, confident, unsure = planted_matrix()
    flagged, quality = flag_label_issues(labels, pred_probs, FlagOptions(flag_rule="disagreement"))
    assert (flagged == (confident | unsure)).all()
    assert quality[confident].max() < quality[unsure].min() < quality[~(confident | unsure)].min()


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both", "confident_learning"])
def test_confident_learning_rule_leaves_out_the_unsure_disagreements(filter_by):
    labels, pred_probs, confident, unsure = planted_matrix()
    flagged, _ = flag_label_issues(labels, pred_probs, FlagOptions(flag_rule="confident_learning",
                                                                        confident_learning_filter=filter_by))
    assert (flagged == confident).all()


def test_budget_rule_flags_exactly_k_lowest_scores():
    labels, pred_probs, confident, unsure = planted_matrix()
    flagged, quality = flag_label_issues(labels, pred_probs, FlagOptions(flag_rule="budget", budget=9,
                                                                              per_class=False))
    assert flagged.sum() == 9 and (flagged == (confident | unsure)).all()
    assert flag_lowest_quality(np.array([0.5, 0.1, 0.1, 0.9]), 2).tolist() == [False, True, True, False]
    # a quality threshold instead of a number: every label scored below it (and it wins over `budget`)
    threshold = (quality[unsure].max() + quality[~(confident | unsure)].min()) / 2
    flagged, _ = flag_label_issues(labels, pred_probs, FlagOptions(budget=1, quality_threshold=threshold))
    assert (flagged == (confident | unsure)).all()


def test_budget_rule_estimates_k_when_not_given():
    labels, pred_probs, confident, _ = planted_matrix()
    assert estimate_issues_per_class(labels, pred_probs).tolist() == [2, 2, 2]
    flagged, _ = flag_label_issues(labels, pred_probs, FlagOptions(flag_rule="budget"))
    assert (flagged == confident).all()
    assert estimate_noise_rate(labels, pred_probs) == pytest.approx(6 / 90)


def test_per_class_budget_does_not_starve_a_rare_class():
    # class 0: 100 items, 10 of them wrong; class 1: 10 items, 2 wrong, a little less obviously
    labels = np.array([0] * 100 + [1] * 10)
    pred_probs = np.tile([0.9, 0.1], (110, 1))
    pred_probs[100:] = [0.1, 0.9]
    pred_probs[:10] = [0.1, 0.9]
    pred_probs[100:102] = [0.85, 0.15]
    assert estimate_issues_per_class(labels, pred_probs).tolist() == [10, 2]
    quality = label_quality_scores(labels, pred_probs)
    global_top = flag_budget(labels, pred_probs, quality, budget=10, per_class=False)
    assert global_top[:10].all() and global_top[100:].sum() == 0  # the rare class gets nothing
    shared = flag_budget(labels, pred_probs, quality, budget=10, per_class=True)
    assert shared[:100].sum() == 8 and shared[100:102].all() and shared.sum() == 10


def test_budget_shares_add_up_and_respect_class_sizes():
    assert share_budget_among_classes(10, np.array([6, 3, 1]), np.array([50, 50, 50])).tolist() == [6, 3, 1]
    assert share_budget_among_classes(5, np.array([3, 3, 3]), np.array([50, 50, 50])).sum() == 5
    assert share_budget_among_classes(10, np.array([9, 1]), np.array([4, 50])).tolist() == [4, 6]
    assert share_budget_among_classes(100, np.array([1, 1]), np.array([3, 4])).tolist() == [3, 4]
    assert share_budget_among_classes(4, np.array([0, 0]), np.array([10, 30])).tolist() == [1, 3]


def test_confidence_weighted_entropy_ranks_confident_errors_first():
    labels, pred_probs, confident, _ = planted_matrix()
    quality = label_quality_scores(labels, pred_probs, method="confidence_weighted_entropy")
    assert set(np.argsort(quality)[:6]) == set(np.flatnonzero(confident))


def test_confirmed_labels_return_only_when_the_model_is_clearly_more_sure():
    flagged = np.array([True, True, True, True, False])
    quality = np.array([0.30, 0.05, 0.10, 0.20, 0.9])
    confirmed = np.array([np.nan, 0.10, 0.35, 0.25, 0.5])  # items 1-4 were confirmed at these scores
    kept, suppressed = suppress_confirmed(flagged, quality, confirmed, margin=0.2)
    assert kept.tolist() == [True, False, True, False, False]  # item 2 fell by 0.25 > 0.2
    assert suppressed.tolist() == [False, True, False, True, False]


@pytest.mark.parametrize("options", [dict(flag_rule="vote"), dict(quality_method="vibes"), dict(budget=-1),
                                     dict(confident_learning_filter="x"), dict(confirmation_margin=2),
                                     dict(quality_threshold=-0.1)])
def test_detection_options_are_checked(options):
    with pytest.raises(ValueError):
        FlagOptions(**options)


def test_a_class_nobody_labeled_does_not_break_the_estimates():
    labels = np.array([0] * 20 + [1] * 20)
    pred_probs = np.tile([0.8, 0.1, 0.1], (40, 1))
    pred_probs[20:] = [0.1, 0.8, 0.1]
    pred_probs[:2] = [0.1, 0.8, 0.1]
    assert estimate_issues_per_class(labels, pred_probs).tolist() == [2, 0, 0]
    for rule in ("confident_learning", "budget", "disagreement"):
        flagged, _ = flag_label_issues(labels, pred_probs, FlagOptions(flag_rule=rule))
        assert flagged.tolist() == [True] * 2 + [False] * 38, rule


class MemorisingModel:
    """Returns the training label of an item it was trained on (noise included); else a 7-NN vote."""

    def fit(self, features, targets):
        self.features, self.targets = np.asarray(features), np.asarray(targets)
        return self

    def predict(self, features):
        distances = np.abs(np.asarray(features)[:, None] - self.features[None, :])
        nearest = np.argsort(distances, axis=1)[:, :7]
        votes = np.stack([(self.targets[nearest] == c).mean(axis=1) for c in (0, 1)], axis=1)
        seen = distances.min(axis=1) == 0
        votes[seen] = np.eye(2)[self.targets[distances[seen].argmin(axis=1)]]
        return votes


def test_out_of_fold_detection_finds_planted_errors_a_memorising_model_hides():
    rng = np.random.default_rng(0)
    true_labels = np.repeat([0, 1], 100)
    features = true_labels * 10.0 + rng.normal(0, 1, 200)  # two well-separated clusters
    noisy = true_labels.copy()
    planted = rng.choice(200, 20, replace=False)
    noisy[planted] = 1 - noisy[planted]
    options = FlagOptions(flag_rule="disagreement")

    in_sample = np.array(in_sample_outputs(MemorisingModel().fit(features, noisy), features))
    assert flag_label_issues(noisy, in_sample, options)[0].sum() == 0

    folds = fold_assignments(noisy, 5)
    oof = np.array(out_of_fold_outputs(MemorisingModel, features, list(noisy), folds))
    flagged, _ = flag_label_issues(noisy, oof, options)
    assert set(np.flatnonzero(flagged)) >= set(planted) and flagged.sum() <= 25


def test_repeated_folds_average_outputs_of_different_splits():
    items = list(range(30))
    targets = [i % 3 for i in items]

    class HeldOutCounter:
        def fit(self, features, _):
            self.seen = set(features)
            return self

        def predict(self, features):
            return [np.array([float(f in self.seen)]) for f in features]

    steps = []
    outputs = repeated_out_of_fold_outputs(HeldOutCounter, items, targets, n_folds=3, n_repeats=2,
                                           average=lambda outs: np.mean(outs, axis=0), seed=0,
                                           progress=lambda stage, done, total: steps.append(stage))
    assert [float(o[0]) for o in outputs] == [0.0] * 30  # no model ever saw the item it predicted
    assert "out-of-fold training (repeat 2/2)" in steps
    # unhashable targets (NER span lists) fold by the strata given instead
    span_targets = [[[0, 3, "PER"]] if i % 2 else [] for i in items]
    outputs = repeated_out_of_fold_outputs(HeldOutCounter, items, span_targets, n_folds=3, n_repeats=1,
                                           average=np.mean, strata=[len(t) for t in span_targets])
    assert [float(o[0]) for o in outputs] == [0.0] * 30
    with pytest.raises(ValueError):
        repeated_out_of_fold_outputs(HeldOutCounter, items, targets, 3, 0, average=np.mean)
