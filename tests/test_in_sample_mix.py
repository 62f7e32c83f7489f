"""Ranking labels by out-of-fold and in-sample outputs together, counting the wrong ones out of fold alone."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.probabilities import estimate_number_of_issues
from relabel.adapters.tasks.text_classification import TextClassificationAdapter
from relabel.rounds.scoring import mix_in_sample, resolved_in_sample_weight

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
          '<Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices></View>')


def noisy_outputs(seed=0, n_per=40, wrong=12):
    """(targets, out-of-fold outputs, in-sample outputs): `wrong` labels flipped; the out-of-fold model mostly
    sees the right class, the in-sample one has learned every label, flipped ones less surely."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), n_per)
    labels = truth.copy()
    flipped = rng.choice(len(truth), wrong, replace=False)
    labels[flipped] = (truth[flipped] + 1) % 3
    out_of_fold = rng.dirichlet(np.ones(3), len(truth)) * 0.5
    out_of_fold[np.arange(len(truth)), truth] += 0.5
    in_sample = rng.dirichlet(np.ones(3), len(truth)) * 0.3
    in_sample[np.arange(len(truth)), labels] += 0.7
    return ["abc"[i] for i in labels], list(out_of_fold), list(in_sample), labels


def test_the_mix_ranks_and_the_out_of_fold_outputs_count():
    adapter = TextClassificationAdapter(CONFIG, mode="ensemble")
    targets, out_of_fold, in_sample, labels = noisy_outputs()
    ranked, options = mix_in_sample(adapter, targets, out_of_fold, in_sample, FlagOptions(in_sample_weight=0.25))
    assert np.allclose(np.vstack(ranked), 0.75 * np.vstack(out_of_fold) + 0.25 * np.vstack(in_sample))
    counted_out_of_fold = estimate_number_of_issues(labels, np.vstack(out_of_fold))
    # counted on the mix, which believes the labels more, fewer would be flagged: the count is the out-of-fold one
    assert estimate_number_of_issues(labels, np.vstack(ranked)) < counted_out_of_fold == options.budget
    flagged = [d for d in adapter.find_disagreements(list(range(len(targets))), targets, ranked, options) if d.flagged]
    assert len(flagged) == counted_out_of_fold


def test_a_persons_own_budget_threshold_or_rule_is_kept_and_weight_zero_changes_nothing():
    adapter = TextClassificationAdapter(CONFIG, mode="ensemble")
    targets, out_of_fold, in_sample, _ = noisy_outputs()
    for options in (FlagOptions(in_sample_weight=0.25, budget=5), FlagOptions(in_sample_weight=0.25,
                                                                              quality_threshold=0.3),
                    FlagOptions(in_sample_weight=0.25, flag_rule="disagreement")):
        assert mix_in_sample(adapter, targets, out_of_fold, in_sample, options)[1] == options
    assert mix_in_sample(adapter, targets, out_of_fold, in_sample, FlagOptions(in_sample_weight=0.0)) \
        == (out_of_fold, FlagOptions(in_sample_weight=0.0))
    assert mix_in_sample(adapter, targets, out_of_fold, None, FlagOptions(in_sample_weight=0.25))[0] is out_of_fold


def test_which_weight_a_round_uses():
    from relabel.adapters import adapter_for_config

    adapter, stored = TextClassificationAdapter(CONFIG, mode="ensemble"), [np.array([0.5, 0.5, 0.0])]
    assert resolved_in_sample_weight(adapter, FlagOptions(), 100, stored) == 0.0  # no task type mixes by default
    assert resolved_in_sample_weight(adapter, FlagOptions(in_sample_weight=0.4), 100, stored) == 0.4
    adapter.in_sample_weight_for = lambda n_labeled: 0.25  # a task type whose default mixes
    assert resolved_in_sample_weight(adapter, FlagOptions(), 100, stored) == 0.25
    assert resolved_in_sample_weight(adapter, FlagOptions(), 100, None) == 0.0  # the model kept none: not mixed
    # cleanlab's and the paper's rules read the out-of-fold outputs unless a weight is asked for
    assert resolved_in_sample_weight(adapter, FlagOptions(flag_rule="confident_learning"), 100, stored) == 0.0
    assert resolved_in_sample_weight(adapter, FlagOptions(flag_rule="disagreement", in_sample_weight=0.5), 100,
                                     stored) == 0.5
    generation = adapter_for_config('<View><Text name="text" value="$text"/><TextArea name="answer" toName="text"/>'
                                    '</View>')
    assert resolved_in_sample_weight(generation, FlagOptions(), 100, None) == 0.0
    with pytest.raises(ValueError, match="in_sample_weight needs class probabilities"):
        resolved_in_sample_weight(generation, FlagOptions(in_sample_weight=0.25), 100, None)
    with pytest.raises(ValueError, match="in_sample_weight must be in"):
        FlagOptions(in_sample_weight=1.5)


@pytest.mark.parametrize("default_weight, asked, source, kept", [
    (0.0, None, None, False), (0.0, True, None, True), (0.25, None, None, True), (0.25, False, None, False),
    (0.0, True, "in_sample", False)])
def test_training_keeps_the_in_sample_outputs_where_a_round_mixes_them(default_weight, asked, source, kept):
    from relabel.adapters.base import Example
    from relabel.backend.config import Settings
    from relabel.backend.training import fit_and_predict

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    vectors = np.eye(3)[labels] * 5 + rng.normal(0, 0.5, (60, 3))
    adapter = TextClassificationAdapter(CONFIG, mode="embedding")  # no encoder: the vectors stand for its features
    adapter.in_sample_weight_for = lambda n_labeled: default_weight
    adapter.featurize = lambda inputs, progress=None: vectors[[int(i) for i in inputs]]
    labeled = [Example(task_id=i, input=str(i), target="abc"[label], annotation_id=i) for i, label in enumerate(labels)]
    record = fit_and_predict(adapter, Settings(in_sample_outputs=asked, prediction_source=source, n_folds=3), labeled,
                             [], lambda *a: None)
    assert all(("in_sample_output" in item) == kept for item in record["items"])
    if kept:
        own = np.array([item["in_sample_output"] for item in record["items"]])
        assert own.shape == (60, 3) and np.allclose(own.sum(axis=1), 1, atol=1e-4)
        assert (own.argmax(axis=1) == labels).mean() > 0.9
