"""The neighbour vote: an item's nearest neighbours' labels, beside the model's probabilities."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.noise import knn
from relabel.adapters.noise.knn import combine_probabilities, nearest_neighbours, neighbour_label_probabilities


def clusters(n_per=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(3) * 5
    vectors = np.vstack([centres[c] + rng.normal(0, 0.5, (n_per, 3)) for c in range(3)])
    return vectors, np.repeat(np.arange(3), n_per)


def test_a_wrong_label_among_neighbours_that_carry_the_right_one_gets_a_low_vote(monkeypatch):
    vectors, labels = clusters()
    labels[5] = 2  # an item of cluster 0 labeled 2
    monkeypatch.setattr(knn, "CHUNK", 7)  # several similarity blocks, one cut mid-cluster
    voted = neighbour_label_probabilities(vectors, labels, 3, k=10)
    assert voted.shape == (60, 3) and np.allclose(voted.sum(axis=1), 1)
    assert voted[5, 2] < 0.15 and voted[5, 0] > 0.8  # its own label does not vote for itself
    others = np.delete(np.arange(60), 5)
    assert (voted[others, labels[others]] > 0.7).all()


def test_neighbours_are_the_most_similar_others_most_similar_first():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.4]])
    indices, similarities = nearest_neighbours(vectors, 2)
    assert indices[0].tolist() == [1, 3] and (np.diff(similarities, axis=1) <= 0).all()
    assert all(i not in row for i, row in enumerate(indices))


def test_mixing_the_vote_into_the_model():
    model, votes = np.array([[0.9, 0.1]]), np.array([[0.1, 0.9]])
    assert np.allclose(combine_probabilities(model, votes, 0.0), model)
    assert np.allclose(combine_probabilities(model, votes, 0.5), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="neighbour_weight"):
        combine_probabilities(model, votes, 1.5)


def test_a_round_mixes_the_stored_neighbour_vote_in_with_its_weight():
    from relabel.adapters.base import RoundPolicy
    from relabel.adapters.noise.flags import FlagOptions
    from relabel.adapters.tasks.text_classification import TextClassificationAdapter
    from relabel.rounds.policies import policy_for
    from relabel.rounds.scoring import score_round

    config = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
              '<Choice value="sports"/><Choice value="food"/></Choices></View>')
    adapter = TextClassificationAdapter(config)
    # the model agrees with every label; the neighbours say task 3's label is wrong
    items = [{"task": t, "annotation": t, "annotator": 1, "target": label, "output": output, "neighbour_vote": vote}
             for t, label, output, vote in [
                 (1, "sports", [0.9, 0.1], [0.9, 0.1]), (2, "sports", [0.85, 0.15], [0.9, 0.1]),
                 (3, "sports", [0.6, 0.4], [0.05, 0.95]), (4, "food", [0.2, 0.8], [0.1, 0.9]),
                 (5, "food", [0.1, 0.9], [0.1, 0.9]), (6, "food", [0.15, 0.85], [0.2, 0.8])]]
    stored = {"model_version": "v1", "items": items}

    def flagged(weight):
        scored = score_round(adapter, stored, {"id": 1, "title": "t"}, 1, [],
                             FlagOptions(flag_rule="disagreement", neighbour_weight=weight),
                             policy_for(RoundPolicy.RELABEL))
        return [f.task_id for f in scored.flags], scored.report["detection"]["neighbour_weight"]

    assert flagged(None) == ([], 0.0)  # text classification's default: the model alone
    assert flagged(0.5) == ([3], 0.5)


@pytest.mark.parametrize("asked", [False, True])
def test_training_computes_the_neighbour_vote_only_when_a_round_asks_for_it(asked):
    from relabel.adapters.base import Example
    from relabel.adapters.tasks.text_classification import TextClassificationAdapter
    from relabel.backend.config import Settings
    from relabel.backend.training import fit_and_predict

    vectors, labels = clusters()
    config = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
              '<Choice value="a"/><Choice value="b"/><Choice value="c"/></Choices></View>')
    adapter = TextClassificationAdapter(config, mode="embedding")
    adapter.featurize = lambda inputs, progress=None: vectors[[int(i) for i in inputs]]  # no encoder needed
    labeled = [Example(task_id=i, input=str(i), target="abc"[label], annotation_id=i)
               for i, label in enumerate(labels)]
    record = fit_and_predict(adapter, Settings(neighbour_vote=asked, n_folds=3), labeled, [], lambda *a: None)
    assert all(("neighbour_vote" in item) == asked for item in record["items"])
    assert record["prediction_source"] == "out_of_fold" and record["n_folds"] == 3
