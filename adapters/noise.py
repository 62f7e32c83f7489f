"""Pure noise-detection functions for tasks with class probabilities (no I/O).

Array contract (cleanlab's): `labels` is an int array of shape (n,) with values in 0..K-1, and
`pred_probs` a float array of shape (n, K) whose rows sum to 1, ideally out-of-fold.
"""
from __future__ import annotations

import numpy as np

QUALITY_METHODS = ("normalized_margin", "self_confidence", "confidence_weighted_entropy")


def _check(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=int)
    pred_probs = np.asarray(pred_probs, dtype=float)
    if pred_probs.ndim != 2 or labels.shape != (pred_probs.shape[0],):
        raise ValueError(f"labels {labels.shape} and pred_probs {pred_probs.shape} do not describe the same items")
    if labels.size and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise ValueError("labels must be class indices in 0..K-1")
    return labels, pred_probs


def find_label_disagreements(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Boolean mask of shape (n,): the model's most likely class differs from the human label."""
    labels, pred_probs = _check(labels, pred_probs)
    return pred_probs.argmax(axis=1) != labels


def label_quality_scores(labels: np.ndarray, pred_probs: np.ndarray,
                         method: str = "normalized_margin") -> np.ndarray:
    """Score in [0, 1] for each label; lower means the label is more likely wrong.

    Delegates to cleanlab's `get_label_quality_scores`; `method` is one of QUALITY_METHODS.
    """
    from cleanlab.rank import get_label_quality_scores

    labels, pred_probs = _check(labels, pred_probs)
    if method not in QUALITY_METHODS:
        raise ValueError(f"unknown label quality method {method!r}; choose one of {QUALITY_METHODS}")
    if labels.size == 0:
        return np.zeros(0)
    return get_label_quality_scores(labels, pred_probs, method=method)


def rank_most_suspicious(flagged: np.ndarray, label_quality: np.ndarray) -> np.ndarray:
    """Indices of the flagged items, most suspicious (lowest label quality) first; ties keep order."""
    flagged = np.asarray(flagged, dtype=bool)
    indices = np.flatnonzero(flagged)
    return indices[np.argsort(np.asarray(label_quality)[indices], kind="stable")]
