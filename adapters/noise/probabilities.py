"""Pure noise-detection functions for tasks with class probabilities (no I/O).

Array contract (cleanlab's): `labels` is an int array of shape (n,) with values in 0..K-1, and
`pred_probs` a float array of shape (n, K) whose rows sum to 1, ideally out-of-fold. Masks are
boolean arrays of shape (n,); label-quality scores are floats of shape (n,), lower meaning the label
is more likely wrong.

The flag rules (adapters/noise/flags.py) read these functions' results: "disagreement" is
`find_label_disagreements`, "confident_learning" cleanlab's `find_label_issues`, and "budget" (the
default) the k lowest label-quality scores, k given or estimated by cleanlab; shared among classes
in proportion to each class's estimated errors, so a rare class is neither flooded by the big
classes' doubtful items nor starved of its own.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from relabel.adapters.noise.flags import (QUALITY_METHODS, FlagIngredients, FlagOptions, flag_labels,
                                         flag_lowest_quality)


def _check(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=int)
    pred_probs = np.asarray(pred_probs, dtype=float)
    if pred_probs.ndim != 2 or labels.shape != (pred_probs.shape[0],):
        raise ValueError(f"labels {labels.shape} and pred_probs {pred_probs.shape} do not describe the same items")
    if labels.size and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise ValueError("labels must be class indices in 0..K-1")
    return labels, pred_probs


def find_label_disagreements(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Mask of the items whose most likely class differs from the human label."""
    labels, pred_probs = _check(labels, pred_probs)
    return pred_probs.argmax(axis=1) != labels


def label_quality_scores(labels: np.ndarray, pred_probs: np.ndarray,
                         method: str = "normalized_margin") -> np.ndarray:
    """Score in [0, 1] for each label; lower means the label is more likely wrong.

    Delegates to cleanlab's `get_label_quality_scores`; `method` is one of QUALITY_METHODS
    ("noise_adjusted_margin": cleanlab's normalized margin of `noise_adjusted_probs`).
    """
    from cleanlab.rank import get_label_quality_scores

    labels, pred_probs = _check(labels, pred_probs)
    if method not in QUALITY_METHODS:
        raise ValueError(f"unknown label quality method {method!r}; choose one of {QUALITY_METHODS}")
    if labels.size == 0:
        return np.zeros(0)
    if method == "noise_adjusted_margin":
        pred_probs, method = noise_adjusted_probs(labels, pred_probs), "normalized_margin"
    return get_label_quality_scores(labels, pred_probs, method=method)


#: pseudo-count added to every cell of the confident joint: with few labels the estimated noise is
#: unreliable and the adjustment fades toward the same weight for every other class
NOISE_PSEUDO_COUNT = 5.0
#: the estimated noise rates enter to this power (0: ignored, 1: believed as estimated); below 1 because
#: real noise depends on the item as well as on its class, which the class-level estimate cannot see
NOISE_STRENGTH = 0.5


def noise_transition(labels: np.ndarray, pred_probs: np.ndarray,
                     pseudo_count: float = NOISE_PSEUDO_COUNT) -> np.ndarray:
    """(K, K) matrix T[i, j]: the estimated probability that an item of true class j is labeled i.

    Columns of `confident_joint` plus `pseudo_count` in every cell, normalized; a class nobody labeled keeps
    only the pseudo-counts.
    """
    joint = confident_joint(labels, pred_probs) + pseudo_count
    return joint / joint.sum(axis=0, keepdims=True)


def noise_adjusted_probs(labels: np.ndarray, pred_probs: np.ndarray, strength: float = NOISE_STRENGTH,
                         pseudo_count: float = NOISE_PSEUDO_COUNT) -> np.ndarray:
    """Each item's class probabilities given its label as well: p(j | x) * T[label, j] ** strength, renormalized.

    Bayes' rule with the estimated noise (`noise_transition`): a class that annotators seldom turn into this
    label loses weight, one they often confuse with it keeps it. Where errors concentrate on a few class pairs,
    a right label whose item also looks like a class it is never confused with is ranked much less doubtful.
    """
    labels, pred_probs = _check(labels, pred_probs)
    weights = noise_transition(labels, pred_probs, pseudo_count)[labels] ** strength
    adjusted = pred_probs * weights
    return adjusted / np.clip(adjusted.sum(axis=1, keepdims=True), 1e-12, None)


def _restricted_to_labeled_classes(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """(labels renumbered 0..P-1, pred_probs renormalised over them, the P classes present).

    cleanlab needs every class among the labels; a class nobody labeled is left out of its estimates.
    """
    present = np.unique(labels)
    if len(present) == pred_probs.shape[1]:
        return labels, pred_probs, present
    renumber = np.full(pred_probs.shape[1], -1)
    renumber[present] = np.arange(len(present))
    sub_probs = pred_probs[:, present]
    return renumber[labels], sub_probs / np.clip(sub_probs.sum(axis=1, keepdims=True), 1e-12, None), present


def estimate_issues_per_class(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Estimated number of wrong labels among the items of each given class, shape (K,).

    The off-diagonal row sums of cleanlab's calibrated confident joint. Classes nobody labeled
    get 0; with fewer than two labeled classes nothing can be estimated and all are 0.
    """
    joint = confident_joint(labels, pred_probs)
    return np.rint(joint.sum(axis=1) - np.diag(joint)).astype(int)


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """(K, K) cleanlab's calibrated confident joint, given label x true class, over the classes people labeled;
    zero rows and columns for a class nobody labeled, all zeros with fewer than two labeled classes."""
    from cleanlab.count import compute_confident_joint

    labels, pred_probs = _check(labels, pred_probs)
    joint = np.zeros((pred_probs.shape[1], pred_probs.shape[1]))
    if len(np.unique(labels)) >= 2:
        sub_labels, sub_probs, present = _restricted_to_labeled_classes(labels, pred_probs)
        joint[np.ix_(present, present)] = compute_confident_joint(sub_labels, sub_probs, calibrate=True)
    return joint


def estimate_number_of_issues(labels: np.ndarray, pred_probs: np.ndarray) -> int:
    """Estimated number of wrong labels among all items (cleanlab's calibrated confident joint)."""
    return int(estimate_issues_per_class(labels, pred_probs).sum())


def estimate_noise_rate(labels: np.ndarray, pred_probs: np.ndarray) -> float:
    """Estimated share of wrong labels, in [0, 1]."""
    labels, pred_probs = _check(labels, pred_probs)
    return estimate_number_of_issues(labels, pred_probs) / len(labels) if len(labels) else 0.0


def share_budget_among_classes(budget: int, issues_per_class: np.ndarray, class_sizes: np.ndarray) -> np.ndarray:
    """Split `budget` among classes in proportion to their estimated issues, capped at each class's size.

    Largest-remainder rounding, so the shares add up to the budget (or to all items, if fewer).
    """
    issues_per_class = np.asarray(issues_per_class, dtype=float)
    class_sizes = np.asarray(class_sizes, dtype=int)
    budget = min(int(budget), int(class_sizes.sum()))
    weights = issues_per_class if issues_per_class.sum() > 0 else class_sizes.astype(float)
    shares = np.zeros(len(class_sizes), dtype=int)
    while shares.sum() < budget:
        remaining = budget - shares.sum()
        open_classes = shares < class_sizes
        wanted = np.where(open_classes, weights, 0.0)
        if wanted.sum() == 0:
            wanted = open_classes.astype(float)
        exact = remaining * wanted / wanted.sum()
        extra = np.floor(exact).astype(int)
        largest_fractions = np.argsort(-(exact - extra), kind="stable")
        extra[largest_fractions[:remaining - extra.sum()]] += 1
        # a class capped at its size hands its surplus to the others on the next pass
        shares += np.minimum(extra, class_sizes - shares)
    return shares


def flag_budget(labels: np.ndarray, pred_probs: np.ndarray, label_quality: np.ndarray,
                budget: int | None = None, per_class: bool = True) -> np.ndarray:
    """Mask of `budget` items (None: the estimated number of wrong labels) with the lowest quality.

    With `per_class`, each given class gets its share of the budget (see `share_budget_among_classes`)
    and flags its own lowest-quality items.
    """
    labels, pred_probs = _check(labels, pred_probs)
    issues_per_class = estimate_issues_per_class(labels, pred_probs)
    if budget is None:
        budget = int(issues_per_class.sum())
    if not per_class:
        return flag_lowest_quality(label_quality, budget)
    label_quality = np.asarray(label_quality, dtype=float)
    class_sizes = np.bincount(labels, minlength=pred_probs.shape[1])
    flagged = np.zeros(len(labels), dtype=bool)
    for class_index, share in enumerate(share_budget_among_classes(budget, issues_per_class, class_sizes)):
        members = np.flatnonzero(labels == class_index)
        flagged[members[flag_lowest_quality(label_quality[members], share)]] = True
    return flagged


def find_confident_label_issues(labels: np.ndarray, pred_probs: np.ndarray,
                                filter_by: str = "both") -> np.ndarray:
    """Mask of cleanlab's confident-learning label issues (`cleanlab.filter.find_label_issues`)."""
    from cleanlab.filter import find_label_issues

    labels, pred_probs = _check(labels, pred_probs)
    if len(np.unique(labels)) < 2:
        return np.zeros(len(labels), dtype=bool)
    sub_labels, sub_probs, _ = _restricted_to_labeled_classes(labels, pred_probs)
    return np.asarray(find_label_issues(sub_labels, sub_probs, filter_by=filter_by, n_jobs=1), dtype=bool)


def class_flag_ingredients(labels: np.ndarray, pred_probs: np.ndarray, quality_method: str = "normalized_margin",
                           per_class: bool = True, confident_learning_filter: str = "both",
                           task_type: str = "classification") -> FlagIngredients:
    """The flag rules' ingredients for class labels and their probabilities (see adapters/noise/flags.py)."""
    labels, pred_probs = _check(labels, pred_probs)
    quality = label_quality_scores(labels, pred_probs, method=quality_method)
    return FlagIngredients(
        quality=quality, disagrees=find_label_disagreements(labels, pred_probs),
        default_flags=lambda: flag_budget(labels, pred_probs, quality, None, per_class),
        confident_issues=lambda: find_confident_label_issues(labels, pred_probs, confident_learning_filter),
        spend_budget=lambda k: flag_budget(labels, pred_probs, quality, k, per_class), task_type=task_type)


def flag_label_issues(labels: np.ndarray, pred_probs: np.ndarray,
                      options: FlagOptions = FlagOptions()) -> tuple[np.ndarray, np.ndarray]:
    """(flagged mask, label-quality scores) of every item under `options`."""
    labels, pred_probs = _check(labels, pred_probs)
    if labels.size == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    ingredients = class_flag_ingredients(labels, pred_probs, options.quality_method or "normalized_margin",
                                         options.per_class, options.confident_learning_filter)
    return flag_labels(ingredients, options), ingredients.quality


def suppress_confirmed(flagged: np.ndarray, label_quality: np.ndarray, confirmed_quality: np.ndarray,
                       margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep labels a human already confirmed from being shown again without new evidence.

    `confirmed_quality[i]` is item i's label-quality score when a human last saw it flagged and
    kept its label, or NaN if that never happened. A confirmed item stays flagged only when its
    score now is lower by more than `margin` (the new model disagrees with clearly more
    confidence). Returns (flagged mask after suppression, mask of the suppressed items).
    """
    flagged = np.asarray(flagged, dtype=bool)
    label_quality = np.asarray(label_quality, dtype=float)
    confirmed_quality = np.asarray(confirmed_quality, dtype=float)
    was_confirmed = ~np.isnan(confirmed_quality)
    clearly_worse = label_quality < np.where(was_confirmed, confirmed_quality, np.inf) - margin
    suppressed = flagged & was_confirmed & ~clearly_worse
    return flagged & ~suppressed, suppressed


def confirmed_labels(earlier_flags: Sequence[Sequence[dict]], current_labels: dict[int, dict]) -> dict[int, float]:
    """Item id -> label-quality score at which people last confirmed the item's current label.

    `earlier_flags`: each earlier round's flagged rows {task, label_key (or human), annotation, label_quality},
    oldest round first. `current_labels`: item id -> {target: the label's key, annotation: its annotation id}.
    An item is confirmed when a round flagged it and a newer annotation kept the label it had then; a later
    change of label forgets it.
    """
    confirmed: dict[int, float] = {}
    for flags in earlier_flags:
        for flag in flags:
            now = current_labels.get(flag["task"])
            if now is None or now["target"] != flag.get("label_key", flag["human"]):
                confirmed.pop(flag["task"], None)
            elif now["annotation"] != flag["annotation"]:
                confirmed[flag["task"]] = flag["label_quality"]
    return confirmed


def rank_most_suspicious(flagged: np.ndarray, label_quality: np.ndarray) -> np.ndarray:
    """Indices of the flagged items, most suspicious (lowest label quality) first; ties keep order."""
    flagged = np.asarray(flagged, dtype=bool)
    indices = np.flatnonzero(flagged)
    return indices[np.argsort(np.asarray(label_quality)[indices], kind="stable")]
