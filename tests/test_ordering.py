"""The tab's order and the fixes carried to similar tasks, on hand-made feature vectors."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.base import Disagreement
from relabel.adapters.noise.neighbours import Fix, propagate_by_patterns, propagate_fixes, reduce_dimensions, similarity_order
from relabel.rounds.ordering import TabOptions, order_flags, plan_tab


def around(center, n, rng, spread=0.05):
    return np.asarray(center, dtype=float) + rng.normal(scale=spread, size=(n, len(center)))


def test_similar_items_follow_each_other():
    vectors = np.array([[1, 0], [0, 1], [0.95, 0.05], [0.05, 0.95], [0.9, 0.1]])
    assert similarity_order(vectors) == [0, 2, 4, 3, 1]
    reduced = reduce_dimensions(np.random.default_rng(0).normal(size=(50, 40)), dimensions=8)
    assert reduced.shape == (50, 8) and np.allclose(np.linalg.norm(reduced, axis=1), 1)


def test_a_fix_that_recurs_among_neighbours_is_carried_a_lone_one_is_not():
    rng = np.random.default_rng(0)
    # items 0-9: a pattern all labeled "a" though people fixed 0-3 to "b"; 10-19 elsewhere, labeled "a",
    # where 10 was a random error fixed to "b" and 11-14 were confirmed "a"
    vectors = np.vstack([around([1, 0, 0], 10, rng), around([0, 1, 0], 10, rng)])
    labels = ["b"] * 4 + ["a"] * 6 + ["b"] + ["a"] * 9
    fixes = [Fix(i, "a", "b") for i in range(4)] + [Fix(10, "a", "b")]
    confirmed = [11, 12, 13, 14]
    candidates = np.array([i not in range(4) and i not in range(10, 15) for i in range(20)])
    proposals = propagate_fixes(fixes, confirmed, labels, vectors, candidates, neighbours=5, min_fixes=3)
    assert sorted(p.item for p in proposals) == [4, 5, 6, 7, 8, 9]
    assert all(p.fix.new == "b" and p.support >= 3 and p.fix.source in range(4) for p in proposals)
    assert propagate_fixes([], confirmed, labels, vectors, candidates) == []


def test_a_fix_is_carried_only_to_labels_the_model_doubts_more_than_most():
    rng = np.random.default_rng(0)
    # as above, and the model is surer of 7-9 than of every other candidate labeled "a"
    vectors = np.vstack([around([1, 0, 0], 10, rng), around([0, 1, 0], 10, rng)])
    labels = ["b"] * 4 + ["a"] * 6 + ["b"] + ["a"] * 9
    fixes = [Fix(i, "a", "b") for i in range(4)] + [Fix(10, "a", "b")]
    candidates = np.array([i not in range(4) and i not in range(10, 15) for i in range(20)])
    quality = np.where(np.isin(np.arange(20), [7, 8, 9]), 0.99, 0.4)
    quality[15:] = [0.5, 0.6, 0.7, 0.8, 0.9]
    proposals = propagate_fixes(fixes, [11, 12, 13, 14], labels, vectors, candidates, neighbours=5, min_fixes=3,
                                label_quality=quality)
    # candidates: 4-9 and 15-19; below their median: 4, 5, 6 (0.4), 15-17 (0.5-0.7), but 15-17 lie far from the fixes
    assert sorted(p.item for p in proposals) == [4, 5, 6]
    everything = propagate_fixes(fixes, [11, 12, 13, 14], labels, vectors, candidates, neighbours=5, min_fixes=3,
                                 label_quality=quality, max_quality_rank=1.0)
    assert sorted(p.item for p in everything) == [4, 5, 6, 7, 8, 9]


def test_fixes_into_the_candidates_label_count_against_carrying_as_confirmations_do():
    rng = np.random.default_rng(0)
    # the pattern of the first test (0-3 fixed a -> b, 4-9 candidates labeled "a"), and near it 20-25, labeled
    # "c" by mistake and fixed to "a" by people: twice as many people's words for "a" there as fixes a -> b
    vectors = np.vstack([around([1, 0, 0], 10, rng), around([0, 1, 0], 10, rng), around([1, 0, 0], 8, rng)])
    labels = ["b"] * 4 + ["a"] * 6 + ["b"] + ["a"] * 9 + ["a"] * 8
    fixes = [Fix(i, "a", "b") for i in range(4)] + [Fix(10, "a", "b")] + [Fix(i, "c", "a") for i in range(20, 28)]
    candidates = np.array([i in range(4, 10) or i in range(15, 20) for i in range(28)])
    assert propagate_fixes(fixes, [11, 12, 13, 14], labels, vectors, candidates, neighbours=12, min_fixes=3) == []
    # the same people's fixes, but from "c" into "d": they say nothing of "a", and the pattern is carried
    elsewhere = fixes[:5] + [Fix(i, "c", "d") for i in range(20, 28)]
    proposals = propagate_fixes(elsewhere, [11, 12, 13, 14], labels[:20] + ["d"] * 8, vectors, candidates,
                                neighbours=12, min_fixes=3)
    assert sorted(p.item for p in proposals) == [4, 5, 6, 7, 8, 9]
    assert all(p.fix.new == "b" for p in proposals)


def test_shared_word_patterns_of_one_kind_of_fix():
    texts = ["late delivery, great taste", "delivery was late but tasty", "late delivery again, lovely",
             "great taste", "late delivery, still the best", "awful", "late delivery ruined it", "just fine",
             "great taste, late", "bland taste"]
    labels = ["great", "great", "great", "great", "other", "other", "other", "great", "other", "other"]
    fixes = [Fix(0, "other", "great"), Fix(1, "other", "great"), Fix(2, "other", "great")]
    # people kept "other" on 8 and 9
    unreviewed = np.array([i not in (0, 1, 2, 8, 9) for i in range(10)])
    # (ten texts: a pattern cannot be rare among them; min_lift and max_frequency are for real projects)
    proposals, patterns = propagate_by_patterns(fixes, [8, 9], texts, labels, unreviewed, min_lift=1, max_frequency=0.8)
    assert "late" in patterns[("other", "great")] and "delivery" in patterns[("other", "great")]
    assert "taste" not in patterns[("other", "great")]  # in one fix only
    assert [p.item for p in proposals] == [4, 6]  # labeled "other" and holding the pattern
    # where people kept the label as often as they changed it, the gram is no pattern
    _, patterns = propagate_by_patterns(fixes[:2] + [Fix(8, "other", "great")], [4, 6, 9], texts, labels,
                                        np.ones(10, dtype=bool), min_fixes=2, min_lift=1, max_frequency=0.8)
    assert "delivery" not in patterns.get(("other", "great"), [])


def flag(task_id, human, model, quality):
    return Disagreement(task_id, True, quality, human, model, {"model_confidence": 0.8})


def test_confusion_order_groups_the_same_question_together():
    flags = [flag(1, "sports", "food", 0.1), flag(2, "weather", "tech", 0.2), flag(3, "sports", "food", 0.3),
             flag(4, "weather", "tech", 0.35), flag(5, "sports", "food", 0.4), flag(6, "food", "tech", 0.05)]
    ordered, groups = order_flags(sorted(flags, key=lambda d: d.label_quality), "confusion")
    assert [d.task_id for d in ordered] == [1, 3, 5, 2, 4, 6]  # the largest group first
    assert groups[1] == "sports → food" and groups[6] == "food → tech"
    assert [d.task_id for d in order_flags(flags, "rank")[0]] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="order must be one of"):
        TabOptions(order="random")


def test_the_tab_puts_evaluation_flags_then_carried_fixes_then_the_rest():
    rng = np.random.default_rng(1)
    vectors = np.vstack([around([1, 0], 8, rng), around([0, 1], 8, rng)])
    # round 1 showed 0-7 (people fixed 0-3 from a to b) and 8-11 (people kept a)
    reviewed = [*range(4), *range(8, 12)]
    items = [{"task": 100 + i, "annotation": 1000 + i + (1 if i in reviewed else 0), "vector": list(v)}
             for i, v in enumerate(vectors)]
    label_keys = {100 + i: ("b" if i < 4 else "a") for i in range(16)}
    earlier = [{"round": 1, "flagged_tasks": [{"task": 100 + i, "label_key": "a", "human": "a", "annotation": 1000 + i}
                                              for i in reviewed]}]
    # the model doubts 4-7 more than the other unflagged tasks labeled a (14, 15); 7 ranks at their median
    disagreements = [Disagreement(100 + i, i in (12, 13), 0.05 * (i % 4) if 4 <= i < 8 else 0.5 + 0.1 * (i % 5),
                                  label_keys[100 + i], "a") for i in range(16)]
    everything, order, groups = plan_tab(disagreements, items, label_keys, earlier, {113}, TabOptions())
    ids = [d.task_id for d in order]
    assert ids[0] == 113  # the evaluation task's flag
    carried = [d for d in order if "like_task" in d.facts]
    assert {d.task_id for d in carried} == {104, 105, 106}
    assert ids[1:4] == [d.task_id for d in carried] and ids[4] == 112
    assert groups[carried[0].task_id].startswith("like task #10") and "(a → b)" in groups[carried[0].task_id]
    assert sum(d.flagged for d in everything) == 5
    _, plain, _ = plan_tab(disagreements, items, label_keys, earlier, {113}, TabOptions(propagate=False))
    assert [d.task_id for d in plain] == [113, 112]
