"""How good a model is on evaluation tasks, in each task type's own metric (pure, no I/O).

Array contracts: class labels and predictions are int arrays (n,) in 0..K-1; spans are lists of
(start, end, label) per item; boxes are (boxes (n, 4) YOLO-normalized, classes (n,), scores (n,)) per
image; texts are strings; clicks are 0/1 labels (n,) with probabilities (n,). Every function returns
a dict of floats (NaN where a metric is undefined, e.g. AUC with one class), plus `n`, the items scored.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def classification_metrics(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro-F1 over the classes that occur among the labels or the predictions."""
    labels, predicted = np.asarray(labels, dtype=int), np.asarray(predicted, dtype=int)
    if not labels.size:
        return {"accuracy": math.nan, "macro_f1": math.nan, "n": 0}
    f1s = []
    for c in range(n_classes):
        true_positive = int(np.sum((predicted == c) & (labels == c)))
        support, guessed = int(np.sum(labels == c)), int(np.sum(predicted == c))
        if support == 0 and guessed == 0:
            continue
        f1s.append(2 * true_positive / (support + guessed))
    return {"accuracy": float(np.mean(labels == predicted)), "macro_f1": float(np.mean(f1s)), "n": int(labels.size)}


def entity_metrics(human: Sequence[Sequence[tuple]], model: Sequence[Sequence[tuple]]) -> dict:
    """Entity micro precision, recall and F1: a model span counts when a human span has its bounds and class."""
    true_positive = sum(len(set(map(tuple, h)) & set(map(tuple, m))) for h, m in zip(human, model))
    predicted, actual = sum(len(set(map(tuple, m))) for m in model), sum(len(set(map(tuple, h))) for h in human)
    precision = true_positive / predicted if predicted else (1.0 if not actual else 0.0)
    recall = true_positive / actual if actual else (1.0 if not predicted else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"entity_f1": f1, "entity_precision": precision, "entity_recall": recall, "n": len(human)}


def average_precision(scores: np.ndarray, hits: np.ndarray, n_actual: int) -> float:
    """Area under the all-point interpolated precision-recall curve (VOC 2010+) of detections ranked by score."""
    if n_actual == 0:
        return math.nan
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    hits = np.asarray(hits, dtype=bool)[order]
    true_positives, false_positives = np.cumsum(hits), np.cumsum(~hits)
    recall = np.concatenate([[0.0], true_positives / n_actual])
    precision = np.concatenate([[1.0], true_positives / np.maximum(true_positives + false_positives, 1)])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # each recall's best precision from there on
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def detection_metrics(human: Sequence[tuple], model: Sequence[tuple], n_classes: int, min_iou: float = 0.5) -> dict:
    """mAP50: per class, the model's boxes ranked by score match an unmatched human box of IoU >= min_iou
    (greedy, as VOC and COCO do); the mean of the classes' average precisions (classes with human boxes)."""
    from relabel.adapters.noise.boxes import iou_matrix

    per_class = []
    for c in range(n_classes):
        scores, hits, n_actual = [], [], 0
        for (human_boxes, human_classes), (model_boxes, model_classes, model_scores) in zip(human, model):
            truth = np.asarray(human_boxes, dtype=float).reshape(-1, 4)[np.asarray(human_classes) == c]
            keep = np.asarray(model_classes) == c
            guesses = np.asarray(model_boxes, dtype=float).reshape(-1, 4)[keep]
            guess_scores = np.asarray(model_scores, dtype=float)[keep]
            n_actual += len(truth)
            taken = np.zeros(len(truth), dtype=bool)
            overlaps = iou_matrix(guesses, truth)
            for g in np.argsort(-guess_scores, kind="stable"):  # surest first, each takes the best free box
                free = np.where(taken, -1.0, overlaps[g]) if len(truth) else np.zeros(0)
                best = int(np.argmax(free)) if len(free) else -1
                hit = best >= 0 and free[best] >= min_iou
                if hit:
                    taken[best] = True
                scores.append(guess_scores[g])
                hits.append(hit)
        ap = average_precision(np.array(scores), np.array(hits, dtype=bool), n_actual)
        if not math.isnan(ap):
            per_class.append(ap)
    return {"map50": float(np.mean(per_class)) if per_class else math.nan, "n": len(human)}


def text_metrics(human: Sequence[str], model: Sequence[str]) -> dict:
    """Mean sentence chrF of the model's texts against the human ones, and the share that is exactly equal."""
    from relabel.adapters.noise.texts import sentence_chrf

    pairs = [(str(h).strip(), str(m).strip()) for h, m in zip(human, model)]
    if not pairs:
        return {"chrf": math.nan, "exact_match": math.nan, "n": 0}
    return {"chrf": float(np.mean([sentence_chrf(m, h) for h, m in pairs])),
            "exact_match": float(np.mean([h == m for h, m in pairs])), "n": len(pairs)}


def click_metrics(labels: np.ndarray, click_probabilities: np.ndarray) -> dict:
    """ROC AUC (NaN when the labels hold one class only) and log-loss of click probabilities."""
    from sklearn.metrics import log_loss, roc_auc_score

    labels = np.asarray(labels, dtype=int)
    probabilities = np.clip(np.asarray(click_probabilities, dtype=float), 1e-7, 1 - 1e-7)
    if not labels.size:
        return {"auc": math.nan, "log_loss": math.nan, "n": 0}
    auc = roc_auc_score(labels, probabilities) if len(set(labels.tolist())) == 2 else math.nan
    return {"auc": float(auc), "log_loss": float(log_loss(labels, probabilities, labels=[0, 1])),
            "n": int(labels.size)}


def agreement_interval(agreeing: int, total: int, z: float = 1.96) -> tuple[float, float, float]:
    """(share, low, high): the share of `agreeing` in `total` with its Wilson score interval (95%)."""
    if total == 0:
        return math.nan, math.nan, math.nan
    share = agreeing / total
    center = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    # The interval holds the share exactly; in floats, center + half comes out as 0.9999999999999999 when all agree.
    return share, min(share, max(0.0, center - half)), max(share, min(1.0, center + half))


def multilabel_metrics(human: np.ndarray, model: np.ndarray) -> dict:
    """Tag sets (bool matrices (n, K)): micro-averaged F1 over all tags, macro F1 over the tags that occur,
    and the share of items whose whole tag set is right (exact match)."""
    human, model = np.asarray(human, dtype=bool), np.asarray(model, dtype=bool)
    if not human.size:
        return {"micro_f1": math.nan, "macro_f1": math.nan, "exact_match": math.nan, "n": int(len(human))}
    both = (human & model).sum(axis=0)
    f1 = lambda hit, h, m: 2 * hit / (h + m) if h + m else math.nan  # noqa: E731
    per_tag = [f1(both[k], human[:, k].sum(), model[:, k].sum()) for k in range(human.shape[1])]
    occurring = [value for value in per_tag if not math.isnan(value)]
    return {"micro_f1": float(f1(both.sum(), human.sum(), model.sum())),
            "macro_f1": float(np.mean(occurring)) if occurring else math.nan,
            "exact_match": float(np.mean((human == model).all(axis=1))), "n": int(len(human))}
