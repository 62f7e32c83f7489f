"""Which labels go back to a human: the flag options and their precedence, in one place (pure, no I/O).

Every task type scores its labels (label quality in [0, 1], lower = the label is more likely wrong)
and says where its model disagrees with them; `flag_labels` turns those ingredients into flags the
same way for every task type:

1. flag_rule "disagreement" (the paper's rule): the task type's own disagreement mask;
2. flag_rule "confident_learning": cleanlab's confident learning, where the task type has it;
3. flag_rule "budget" (the default): the labels scored below `quality_threshold` when it is set;
   else the `budget` lowest-scored labels when a budget is set; else the task type's own default
   (as many as it estimates to be wrong, or a rule of its own such as the clicks' error quantile).

Array contract: masks are bool arrays of shape (n,), label-quality scores float arrays of shape (n,).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# noise_adjusted_margin: the normalized margin of the probabilities weighed by the estimated label noise
# (adapters.noise.probabilities.noise_adjusted_probs); the others are cleanlab's own scores
QUALITY_METHODS = ("normalized_margin", "self_confidence", "confidence_weighted_entropy", "noise_adjusted_margin")
FLAG_RULES = ("disagreement", "confident_learning", "budget")
CONFIDENT_LEARNING_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")

Mask = np.ndarray


@dataclass(frozen=True)
class FlagOptions:
    """How labels are flagged and ranked; the defaults are the benchmarked best (benchmarks/RESULTS.md).

    `quality_method`: the label-quality score (QUALITY_METHODS); None means the adapter's own
    default (`TaskAdapter.default_quality_method`: noise_adjusted_margin for classes,
    confidence_weighted_entropy per word for NER). `budget`: number of labels the "budget" rule flags
    (None: the task type's default). `quality_threshold`: the "budget" rule flags every label scored
    below it instead (it wins over `budget`). `per_class`: a class-probability budget is shared among
    classes. `confirmation_margin`: how much lower a human-confirmed label's quality score must fall
    before the label is shown again (see `suppress_confirmed`).

    Text generation reads `quality_threshold` as its chrF threshold (quality = chrF / 100) and
    `bleu_threshold` (BLEU / 100, None: not used). Clicks (CTR) flag the rows whose click error
    |p - y| exceeds `drop_threshold`, or when it is None the rows above the `drop_quantile` of the
    errors, overall or within each value of the data field `segment_field`.

    `neighbour_weight`: classification mixes this share of the neighbour vote (each task's nearest
    labeled tasks' labels, relabel.adapters.noise.knn) into the out-of-fold probabilities before flagging
    (None: the task type's default, `TaskAdapter.default_neighbour_weight`). `in_sample_weight`: classification
    ranks its labels by the out-of-fold probabilities with this share of the full-data model's own, in-sample
    ones mixed in, while the default budget still counts the wrong labels on the out-of-fold ones alone (None: with
    the budget rule the task type's default, `TaskAdapter.in_sample_weight_for`, 0 for every task type today;
    with the other rules 0; see relabel.rounds.scoring.mix_in_sample).
    """

    flag_rule: str = "budget"
    quality_method: str | None = None
    confident_learning_filter: str = "both"
    budget: int | None = None
    quality_threshold: float | None = None
    per_class: bool = True
    confirmation_margin: float = 0.2
    bleu_threshold: float | None = None
    drop_threshold: float | None = None
    drop_quantile: float = 0.9
    segment_field: str | None = None
    neighbour_weight: float | None = None
    in_sample_weight: float | None = None

    def __post_init__(self):
        for name, value, allowed in (("flag_rule", self.flag_rule, FLAG_RULES),
                                     ("quality_method", self.quality_method, (None, *QUALITY_METHODS)),
                                     ("confident_learning_filter", self.confident_learning_filter,
                                      CONFIDENT_LEARNING_FILTERS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"budget must be a non-negative number of tasks, got {self.budget}")
        if self.quality_threshold is not None and not 0 <= self.quality_threshold <= 1:
            raise ValueError(f"quality_threshold must be in [0, 1], got {self.quality_threshold}")
        for name in ("bleu_threshold", "drop_threshold"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 0 < self.drop_quantile < 1:
            raise ValueError(f"drop_quantile must be between 0 and 1, got {self.drop_quantile}")
        if not 0 <= self.confirmation_margin <= 1:
            raise ValueError(f"confirmation_margin must be in [0, 1], got {self.confirmation_margin}")
        for name in ("neighbour_weight", "in_sample_weight"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


def flag_lowest_quality(label_quality: np.ndarray, k: int) -> Mask:
    """Mask of the k items with the lowest scores (ties: earlier item first)."""
    label_quality = np.asarray(label_quality, dtype=float)
    flagged = np.zeros(len(label_quality), dtype=bool)
    flagged[np.argsort(label_quality, kind="stable")[:max(0, int(k))]] = True
    return flagged


@dataclass(frozen=True)
class FlagIngredients:
    """What a task type hands `flag_labels` about its n labels.

    `quality`: label-quality scores (n,). `disagrees`: the paper's rule, where the model's answer is
    another than the label (n,). `default_flags()`: the budget rule's flags when neither a threshold nor
    a budget is given (e.g. as many lowest-scored labels as it estimates to be wrong). Optional:
    `confident_issues()`, cleanlab's confident-learning mask (None: the task type has no such rule);
    `below_threshold(t)`, the flags of a quality threshold (default: quality < t); `spend_budget(k)`,
    which k labels a budget flags (default: the k lowest-scored). `task_type` names it in errors.
    """

    quality: np.ndarray
    disagrees: Mask
    default_flags: Callable[[], Mask]
    confident_issues: Callable[[], Mask] | None = None
    below_threshold: Callable[[float], Mask] | None = None
    spend_budget: Callable[[int], Mask] | None = None
    task_type: str = "this task type"


def flag_labels(ingredients: FlagIngredients, options: FlagOptions) -> Mask:
    """The flagged mask of a task type's labels under `options` (the precedence in the module docstring)."""
    if options.flag_rule == "disagreement":
        flagged = ingredients.disagrees
    elif options.flag_rule == "confident_learning":
        if ingredients.confident_issues is None:
            raise ValueError(f"flag rule 'confident_learning' is not available for {ingredients.task_type}: it "
                             f"needs class probabilities; use 'budget' or 'disagreement'")
        flagged = ingredients.confident_issues()
    elif options.quality_threshold is not None:
        flagged = ingredients.below_threshold(options.quality_threshold) if ingredients.below_threshold \
            else np.asarray(ingredients.quality) < options.quality_threshold
    elif options.budget is not None:
        flagged = ingredients.spend_budget(options.budget) if ingredients.spend_budget \
            else flag_lowest_quality(ingredients.quality, options.budget)
    else:
        flagged = ingredients.default_flags()
    return np.asarray(flagged, dtype=bool)
