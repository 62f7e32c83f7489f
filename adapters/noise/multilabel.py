"""Multi-label tags: which tags of a label are likely missing or wrong (pure, no I/O).

Array contract: `tags` is a bool matrix (n, K), True where the human chose tag k for item n;
`pred_probs` a float matrix (n, K), the model's probability that tag k belongs to item n (one-vs-rest,
rows need not sum to 1). Label quality comes from cleanlab's multi-label functions: each tag's
self-confidence after cleanlab's per-tag threshold adjustment (a rare or under-predicted tag is judged
against its own typical probability), and the item's score is its worst tag's. Unadjusted, the scores
miss dropped tags almost entirely (AUROC 0.56 against 0.81; benchmarks/RESULTS.md section 18).
cleanlab's `find_label_issues` for multi-label is the confident-learning rule and sizes the default
budget (as many lowest-quality items as it counts issues, as for single-choice classes).
"""
from __future__ import annotations

import numpy as np

from relabel.adapters.noise.flags import FlagIngredients, flag_lowest_quality

#: a tag is "present" in the model's answer at this probability
PRESENT = 0.5


def tag_lists(tags: np.ndarray) -> list[list[int]]:
    """The tag matrix as cleanlab's multi-label `labels`: per item, the indices of its tags."""
    return [list(np.flatnonzero(row)) for row in np.asarray(tags, dtype=bool)]


def _check(tags: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tags, pred_probs = np.asarray(tags, dtype=bool), np.asarray(pred_probs, dtype=float)
    if tags.ndim != 2 or tags.shape != pred_probs.shape:
        raise ValueError(f"tags {tags.shape} and pred_probs {pred_probs.shape} must be matrices of one shape (n, K)")
    return tags, pred_probs


def tag_disagreements(tags: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(missing, extra), bool (n, K): tags the model sees that the human did not choose, and tags the human
    chose that the model does not see."""
    tags, pred_probs = _check(tags, pred_probs)
    present = pred_probs >= PRESENT
    return present & ~tags, tags & ~present


#: cleanlab's multi-label score options: per-tag thresholds adjusted, and (an exponential moving average
#: whose weight is all on the last, lowest score) the worst tag decides
QUALITY_OPTIONS = {"adjust_pred_probs": True, "aggregator_kwargs": {"method": "exponential_moving_average", "alpha": 1.0}}


def get_label_quality_scores(tags: np.ndarray, pred_probs: np.ndarray, **cleanlab_options) -> np.ndarray:
    """Label-quality score of each item's tag set in [0, 1], lower = more likely wrong (cleanlab's
    multi-label score with QUALITY_OPTIONS, or with `cleanlab_options` instead)."""
    from cleanlab.multilabel_classification import get_label_quality_scores as cleanlab_scores

    tags, pred_probs = _check(tags, pred_probs)
    if not len(tags):
        return np.zeros(0)
    return np.asarray(cleanlab_scores(tag_lists(tags), np.clip(pred_probs, 1e-6, 1 - 1e-6),
                                      **(cleanlab_options or QUALITY_OPTIONS)), dtype=float)


def find_label_issues(tags: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Mask of the items cleanlab's multi-label confident learning finds mislabeled (prune_by_noise_rate,
    per tag one-vs-rest, an item is an issue where any of its tags is)."""
    from cleanlab.multilabel_classification.filter import find_label_issues as cleanlab_issues

    tags, pred_probs = _check(tags, pred_probs)
    if len(tags) < 2:
        return np.zeros(len(tags), dtype=bool)
    # n_jobs=1: cleanlab's default forks a pool per call, and a fork of a process with threads (the backend's, torch's)
    # can leave the child waiting forever on a lock another thread held (seen hanging a test worker)
    return np.asarray(cleanlab_issues(tag_lists(tags), np.clip(pred_probs, 1e-6, 1 - 1e-6), n_jobs=1), dtype=bool)


def multilabel_flag_ingredients(tags: np.ndarray, pred_probs: np.ndarray,
                                task_type: str = "multi-label classification") -> FlagIngredients:
    """The flag rules' ingredients (adapters/noise/flags.py): the paper's rule is "the model's tag set is
    another"; the default budget is the number of items cleanlab counts as issues."""
    tags, pred_probs = _check(tags, pred_probs)
    quality = get_label_quality_scores(tags, pred_probs)
    missing, extra = tag_disagreements(tags, pred_probs)
    issues = lambda: find_label_issues(tags, pred_probs)  # noqa: E731
    return FlagIngredients(quality=quality, disagrees=(missing | extra).any(axis=1),
                           default_flags=lambda: flag_lowest_quality(quality, int(issues().sum())),
                           confident_issues=issues, task_type=task_type)


def doubtful_tags(tags: np.ndarray, pred_probs: np.ndarray) -> list[list[int]]:
    """Per item, its tags ordered by how far the model is from the human (|p - chose|), most doubtful
    first, keeping only those where they disagree; an item with none keeps its single most doubtful tag
    (a ranked flag says which tag to look at)."""
    tags, pred_probs = _check(tags, pred_probs)
    distance = np.abs(pred_probs - tags)
    result = []
    for row_distance in distance:
        order = list(np.argsort(-row_distance, kind="stable"))
        disagreeing = [k for k in order if row_distance[k] > 1 - PRESENT]
        result.append(disagreeing or order[:1])
    return result
