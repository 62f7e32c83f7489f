"""The one flag dispatcher: the rules' precedence, the same for every task type."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.noise.flags import FlagIngredients, FlagOptions, flag_labels

QUALITY = np.array([0.9, 0.1, 0.5, 0.3, 0.7])


def ingredients(**overrides) -> FlagIngredients:
    base = dict(quality=QUALITY, disagrees=np.array([False, True, False, False, True]),
                default_flags=lambda: np.array([True, False, False, False, False]),
                confident_issues=lambda: np.array([False, False, True, False, False]), task_type="toy")
    return FlagIngredients(**{**base, **overrides})


def flagged(options: FlagOptions, **overrides) -> list[int]:
    return np.flatnonzero(flag_labels(ingredients(**overrides), options)).tolist()


def test_each_rule_reads_its_own_ingredient():
    assert flagged(FlagOptions(flag_rule="disagreement")) == [1, 4]
    assert flagged(FlagOptions(flag_rule="confident_learning")) == [2]
    assert flagged(FlagOptions()) == [0]  # the budget rule without a threshold or budget: the task type's default


def test_a_threshold_wins_over_a_budget_which_wins_over_the_default():
    assert flagged(FlagOptions(quality_threshold=0.4, budget=1)) == [1, 3]
    assert flagged(FlagOptions(budget=2)) == [1, 3]  # the two lowest scores
    assert flagged(FlagOptions(budget=0)) == []
    # the other rules ignore threshold and budget
    assert flagged(FlagOptions(flag_rule="disagreement", quality_threshold=0.4, budget=1)) == [1, 4]


def test_a_task_type_may_say_how_it_spends_a_budget_or_reads_a_threshold():
    assert flagged(FlagOptions(budget=2), spend_budget=lambda k: np.arange(5) >= 5 - k) == [3, 4]
    assert flagged(FlagOptions(quality_threshold=0.2)) == [1]
    assert flagged(FlagOptions(quality_threshold=0.2), below_threshold=lambda t: QUALITY > 1 - t) == [0]


def test_confident_learning_where_a_task_type_has_none_is_refused():
    with pytest.raises(ValueError, match="'confident_learning' is not available for toy"):
        flagged(FlagOptions(flag_rule="confident_learning"), confident_issues=None)
