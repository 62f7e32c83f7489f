"""The evaluation metrics of each task type, against hand-counted cases and scikit-learn."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from relabel.adapters.noise.metrics import (agreement_interval, average_precision, classification_metrics,
                                            click_metrics, detection_metrics, entity_metrics, text_metrics)


def test_classification_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    predicted[:120] = labels[:120]
    metrics = classification_metrics(labels, predicted, 5)  # class 4 occurs nowhere: left out of the macro mean
    assert metrics["accuracy"] == pytest.approx(np.mean(labels == predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert metrics["n"] == 200 and math.isnan(classification_metrics([], [], 3)["accuracy"])


def test_entity_metrics_count_exact_spans():
    human = [[(0, 3, "PER"), (10, 14, "LOC")], [(2, 5, "ORG")], []]
    model = [[(0, 3, "PER"), (10, 14, "ORG")], [], [(1, 2, "PER")]]
    metrics = entity_metrics(human, model)
    assert (metrics["entity_precision"], metrics["entity_recall"]) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert metrics["entity_f1"] == pytest.approx(1 / 3) and metrics["n"] == 3
    assert entity_metrics([[]], [[]])["entity_f1"] == 1.0  # nothing to find, nothing found


def test_average_precision_by_hand():
    # ranked: hit, miss, hit; 2 of 3 objects found -> precisions 1, 2/3 at recalls 1/3, 2/3
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 3) == \
        pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    assert math.isnan(average_precision(np.array([]), np.array([], dtype=bool), 0))


def test_map50_of_perfect_missing_and_misplaced_boxes():
    truth = [(np.array([[0.5, 0.5, 0.2, 0.2]]), np.array([0])), (np.array([[0.3, 0.3, 0.2, 0.2]]), np.array([1]))]
    perfect = [(b, c, np.ones(len(c))) for b, c in truth]
    assert detection_metrics(truth, perfect, 2)["map50"] == 1.0
    nothing = [(np.zeros((0, 4)), np.zeros(0, dtype=int), np.zeros(0)) for _ in truth]
    assert detection_metrics(truth, nothing, 2)["map50"] == 0.0
    shifted = [(b + [0.15, 0, 0, 0], c, np.ones(len(c))) for b, c in truth]  # IoU 0.14: no match
    assert detection_metrics(truth, shifted, 2)["map50"] == 0.0
    one_right = [perfect[0], nothing[1]]
    assert detection_metrics(truth, one_right, 2)["map50"] == 0.5


def test_text_and_click_metrics():
    metrics = text_metrics(["2030-10-07", "2031-01-02"], ["2030-10-07", "2031-01-03"])
    assert metrics["exact_match"] == 0.5 and 50 < metrics["chrf"] < 100
    labels, probabilities = np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.9, 0.4, 0.3, 0.7])
    metrics = click_metrics(labels, probabilities)
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, probabilities))
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, probabilities))
    assert math.isnan(click_metrics(np.array([1, 1]), np.array([0.5, 0.6]))["auc"])


def test_agreement_interval_is_wilsons():
    share, low, high = agreement_interval(8, 10)
    assert share == 0.8 and low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert agreement_interval(0, 5)[1] == 0.0 and math.isnan(agreement_interval(0, 0)[0])


def test_agreement_interval_holds_the_share_for_every_count():
    # 6 of 6 agreeing once gave high = 0.9999999999999999 < share = 1.0 (a CI failure in the round report).
    for total in range(1, 120):
        for agreeing in range(total + 1):
            share, low, high = agreement_interval(agreeing, total)
            assert 0.0 <= low <= share <= high <= 1.0, (agreeing, total, low, share, high)
    assert agreement_interval(6, 6)[2] == 1.0 and agreement_interval(0, 6)[1] == 0.0
