"""K-fold out-of-fold prediction: every item is predicted by a model that never saw it.

A model that memorised its training set agrees with its own label noise, so the disagreements that
find noisy labels must come from out-of-fold outputs. In-sample prediction (the paper's original
set-up) is kept as an option for comparison.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

import numpy as np

from relabel.adapters.base import Progress, no_progress

#: where each labeled task's outputs come from: models that never saw it (out_of_fold), the full model
#: that learned it (in_sample, the paper's rule), or the two averaged (blended: NER's default, where the
#: full model, trained on every sentence, is the better tagger and barely memorises; RESULTS.md 16 and 24;
#: TaskAdapter.blend_outputs, NER keeps both to score each apart)
PREDICTION_SOURCES = ("out_of_fold", "in_sample", "blended")


def fold_assignments(strata: Sequence[Hashable], n_folds: int, seed: int = 0) -> np.ndarray:
    """Assign each of len(strata) items to a fold in 0..n_folds-1, stratified by `strata`.

    Items of each stratum (class) are shuffled and dealt round-robin, continuing where the previous
    stratum stopped, so every fold gets a near-equal share of every class and folds differ in size
    by at most one. Deterministic for a given seed.
    """
    n_items = len(strata)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if n_items < n_folds:
        raise ValueError(f"{n_items} labeled items cannot be split into {n_folds} folds")
    rng = np.random.default_rng(seed)
    fold_ids = np.empty(n_items, dtype=int)
    groups: dict[Hashable, list[int]] = {}
    for index, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(index)
    next_fold = 0
    for stratum in sorted(groups, key=repr):
        members = np.array(groups[stratum])
        rng.shuffle(members)
        for member in members:
            fold_ids[member] = next_fold
            next_fold = (next_fold + 1) % n_folds
    return fold_ids


def take(features: Any, indices: Sequence[int]) -> Any:
    """Rows `indices` of an array, items of a list, or whatever the features' own `take` returns."""
    if isinstance(features, np.ndarray):
        return features[np.asarray(indices, dtype=int)]
    if hasattr(features, "take"):
        return features.take(indices)
    return [features[i] for i in indices]


#: run_folds(fold_ids, progress) -> for each fold in folds_of(fold_ids) order, the outputs of a model fitted on
#: the other folds for that fold's items (in item order). Where the folds run is the runner's business.
#: A fold id -(f + 1) marks an item of fold f left out of training (see leave_out_of_training).
FoldRunner = Callable[[np.ndarray, Progress], list]


def leave_out_of_training(fold_ids: np.ndarray, untrained: np.ndarray) -> np.ndarray:
    """The fold ids with the `untrained` items (bool mask) marked -(f + 1): each is still predicted with its
    fold f, but no fold's model learns from it."""
    fold_ids = np.array(fold_ids, dtype=int)
    untrained = np.asarray(untrained, dtype=bool)
    fold_ids[untrained] = -fold_ids[untrained] - 1
    return fold_ids


def folds_of(fold_ids: np.ndarray) -> np.ndarray:
    """The folds (0..K-1) of a fold assignment, whether or not some of their items are left out of training."""
    fold_ids = np.asarray(fold_ids)
    return np.unique(np.where(fold_ids < 0, -fold_ids - 1, fold_ids))


def held_out(fold_ids: np.ndarray, fold: int) -> np.ndarray:
    """Indices of the items fold `fold`'s model predicts: its own, trained on elsewhere or not."""
    fold_ids = np.asarray(fold_ids)
    return np.flatnonzero((fold_ids == fold) | (fold_ids == -fold - 1))


def fit_predict_fold(new_model: Callable[[], Any], features: Any, targets: Sequence[Any], fold_ids: np.ndarray,
                     fold: int) -> list:
    """Fit a model on every fold but `fold` (items left out of training aside) and return its outputs for the
    items of `fold`."""
    fold_ids = np.asarray(fold_ids)
    train_indices = np.flatnonzero((fold_ids != fold) & (fold_ids >= 0))
    test_indices = held_out(fold_ids, fold)
    model = new_model().fit(take(features, train_indices), [targets[i] for i in train_indices])
    return list(model.predict(take(features, test_indices)))


def local_fold_runner(new_model: Callable[[], Any], features: Any, targets: Sequence[Any]) -> FoldRunner:
    """Folds fitted here, one after the other."""
    def run_folds(fold_ids: np.ndarray, progress: Progress) -> list:
        folds = folds_of(fold_ids)
        results = []
        progress("out-of-fold training", 0, len(folds))
        for done, fold in enumerate(folds, start=1):
            results.append(fit_predict_fold(new_model, features, targets, fold_ids, fold))
            progress("out-of-fold training", done, len(folds))
        return results
    return run_folds


def out_of_fold_outputs(new_model: Callable[[], Any], features: Any, targets: Sequence[Any],
                        fold_ids: np.ndarray, progress: Progress = no_progress,
                        run_folds: FoldRunner | None = None) -> list:
    """Fit one model per fold on the other folds and predict the held-out fold.

    `new_model()` returns an unfitted model with `fit(features, targets) -> self` and
    `predict(features) -> list of outputs`. Returns the outputs in the original item order.
    `run_folds` (default: here, in turn) may run the folds elsewhere, e.g. as queued jobs.
    """
    run_folds = run_folds or local_fold_runner(new_model, features, targets)
    outputs: list = [None] * len(targets)
    for fold, fold_outputs in zip(folds_of(fold_ids), run_folds(fold_ids, progress)):
        for index, output in zip(held_out(fold_ids, fold), fold_outputs):
            outputs[index] = output
    return outputs


def repeated_out_of_fold_outputs(new_model: Callable[[], Any], features: Any, targets: Sequence[Any],
                                 n_folds: int, n_repeats: int, average: Callable[[list], Any], seed: int = 0,
                                 progress: Progress = no_progress, strata: Sequence[Hashable] | None = None,
                                 run_folds: FoldRunner | None = None, untrained: np.ndarray | None = None,
                                 stage: str = "out-of-fold training") -> list:
    """Out-of-fold outputs from `n_repeats` different fold splits, averaged per item by `average`.

    One split's outputs depend on which items happened to share a fold; averaging several splits
    (seeds seed, seed+1, ...) steadies the probabilities that rank the labels. `average` turns the
    list of an item's outputs (one per repeat) into one output. Folds are stratified by `strata`
    (default: the targets themselves, i.e. by class). `run_folds`: see out_of_fold_outputs.
    `untrained` (bool mask): items every fold predicts but none learns from (leave_out_of_training).
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    runs = []
    for repeat in range(n_repeats):
        fold_ids = fold_assignments(targets if strata is None else strata, n_folds, seed + repeat)
        if untrained is not None:
            fold_ids = leave_out_of_training(fold_ids, untrained)
        stage_name = stage + (f" (repeat {repeat + 1}/{n_repeats})" if n_repeats > 1 else "")
        runs.append(out_of_fold_outputs(new_model, features, targets, fold_ids,
                                        lambda _, done, total: progress(stage_name, done, total), run_folds))
    if n_repeats == 1:
        return runs[0]
    return [average([run[i] for run in runs]) for i in range(len(targets))]


def outputs_without_suspects(new_model: Callable[[], Any], features: Any, targets: Sequence[Any], outputs: list,
                             suspects: np.ndarray, n_folds: int, n_repeats: int, average: Callable[[list], Any],
                             seed: int = 0, progress: Progress = no_progress, strata: Sequence[Hashable] | None = None,
                             run_folds: FoldRunner | None = None) -> list:
    """The out-of-fold `outputs` averaged, item by item, with those of fold models that never learned the
    `suspects` (the labels the first outputs flag): the same splits, every item still predicted by a model
    that never saw it. Models trained on cleaner labels hold the wrong ones less firmly (RESULTS.md 23).
    Returns `outputs` unchanged where nothing is suspect, or more than half is (too little left to learn from).
    """
    suspects = np.asarray(suspects, dtype=bool)
    if not suspects.any() or suspects.mean() > 0.5:
        return outputs
    again = repeated_out_of_fold_outputs(new_model, features, targets, n_folds, n_repeats, average, seed, progress,
                                         strata, run_folds, untrained=suspects,
                                         stage="out-of-fold training without the suspect labels")
    return [average([first, second]) for first, second in zip(outputs, again)]


def in_sample_outputs(model: Any, features: Any) -> list:
    """Outputs of a model fitted on all items, for those same items (the paper's rule)."""
    return list(model.predict(features))
