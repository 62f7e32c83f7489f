"""Numeric labels (ratings, numbers): which are far from the model's out-of-fold value (pure, no I/O).

Array contract: `labels` and `predictions` are float arrays of shape (n,). Label quality is cleanlab's
regression score (`outre`: how much of an outlier the residual is among the residuals of similar
items), lower = more likely wrong. The default flags are the robust outliers among the residuals:
|label - prediction| above OUTLIER_Z robust standard deviations (1.4826 x the median absolute
deviation), so a model that is off by a little everywhere flags nothing. 2 is the usual 95% band: on
clean, normal residuals it flags about 5% of the tasks (1.5 would flag 13%, 3 misses most slips;
benchmarks/RESULTS.md section 19).
"""
from __future__ import annotations

import numpy as np

from relabel.adapters.noise.flags import FlagIngredients

#: robust z-score above which a residual is an outlier (2: about 5% of normal noise)
OUTLIER_Z = 2.0


def _check(labels, predictions) -> tuple[np.ndarray, np.ndarray]:
    labels, predictions = np.asarray(labels, dtype=float), np.asarray(predictions, dtype=float)
    if labels.ndim != 1 or labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be arrays of one shape (n,)")
    return labels, predictions


def robust_residual_z(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Each residual (label - prediction) in robust standard deviations of all residuals."""
    labels, predictions = _check(labels, predictions)
    residuals = labels - predictions
    if not len(residuals):
        return residuals
    scale = 1.4826 * np.median(np.abs(residuals - np.median(residuals)))
    scale = scale if scale > 0 else (np.std(residuals) or 1.0)
    return (residuals - np.median(residuals)) / scale


def get_label_quality_scores(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """cleanlab's regression label-quality scores in [0, 1] (lower = more likely wrong)."""
    from cleanlab.regression.rank import get_label_quality_scores as cleanlab_scores

    labels, predictions = _check(labels, predictions)
    if len(labels) < 2:
        return np.ones(len(labels))
    return np.asarray(cleanlab_scores(labels, predictions), dtype=float)


def regression_flag_ingredients(labels: np.ndarray, predictions: np.ndarray, step: float | None = None,
                                task_type: str = "regression") -> FlagIngredients:
    """The flag rules' ingredients (adapters/noise/flags.py). The paper's rule: the model's value is
    another, i.e. for a rating (`step`, 1 star) the rounded prediction differs from the label, for a free
    number the residual is an outlier. The default: the residual outliers."""
    labels, predictions = _check(labels, predictions)
    quality = get_label_quality_scores(labels, predictions)
    outliers = np.abs(robust_residual_z(labels, predictions)) > OUTLIER_Z
    disagrees = np.abs(labels - predictions) > step / 2 if step else outliers
    return FlagIngredients(quality=quality, disagrees=disagrees, default_flags=lambda: outliers, task_type=task_type)


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict:
    """Mean absolute error and R² of the model's values against the labels."""
    labels, predictions = _check(labels, predictions)
    if not len(labels):
        return {"r2": float("nan"), "mae": float("nan"), "n": 0}
    total = float(((labels - labels.mean()) ** 2).sum())
    r2 = 1 - float(((labels - predictions) ** 2).sum()) / total if total else float("nan")
    return {"r2": r2, "mae": float(np.mean(np.abs(labels - predictions))), "n": int(len(labels))}
