"""A second signal beside the model: each item's nearest neighbours vote on its label (the kNN /
SimiFeat family of label-error detectors).

Pure functions over arrays. `vectors` is (n, d), items whose similar items lie close (sentence
embeddings); `labels` (n,) class indices of the (noisy) human labels; probabilities (n, k) rows sum
to 1. An item never votes for itself. A wrong label sits among neighbours that mostly carry the
right one, so the vote disagrees with it even where a model that learned from those labels agrees.
"""
from __future__ import annotations

import numpy as np

from relabel.adapters.noise.neighbours import normalise

#: rows of the similarity matrix computed at once (memory: CHUNK x n floats)
CHUNK = 2048


def nearest_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities), each (n, k): every item's k most similar other items, most similar first."""
    unit = normalise(vectors).astype(np.float32)  # float32: a block of CHUNK x n similarities stays small
    n = len(unit)
    k = min(k, n - 1)
    indices, similarities = np.zeros((n, k), dtype=int), np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, CHUNK):
        block = unit[start:start + CHUNK] @ unit.T
        block[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf  # not itself
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(block, top, axis=1), axis=1)
        indices[start:start + len(block)] = np.take_along_axis(top, order, axis=1)
        similarities[start:start + len(block)] = np.take_along_axis(block, indices[start:start + len(block)], axis=1)
    return indices, similarities


def neighbour_label_probabilities(vectors: np.ndarray, labels: np.ndarray, n_classes: int, k: int = 10,
                                  prior: float = 1.0) -> np.ndarray:
    """(n, n_classes): the similarity-weighted share of each class among an item's k nearest neighbours'
    labels, smoothed by `prior` pseudo-votes spread as the classes' overall shares."""
    labels = np.asarray(labels, dtype=int)
    if len(labels) < 2:
        return np.full((len(labels), n_classes), 1.0 / n_classes)
    indices, similarities = nearest_neighbours(vectors, k)
    weights = np.clip(similarities, 0.0, None)
    votes = np.zeros((len(labels), n_classes))
    np.add.at(votes, (np.repeat(np.arange(len(labels)), indices.shape[1]), labels[indices].ravel()), weights.ravel())
    shares = np.bincount(labels, minlength=n_classes) / len(labels)
    votes += prior * shares
    return votes / votes.sum(axis=1, keepdims=True)


def combine_probabilities(model: np.ndarray, neighbours: np.ndarray, neighbour_weight: float) -> np.ndarray:
    """The weighted mean of the model's and the neighbours' probabilities (weight 0 = the model alone)."""
    if not 0.0 <= neighbour_weight <= 1.0:
        raise ValueError(f"neighbour_weight must be in [0, 1], got {neighbour_weight}")
    mixed = (1 - neighbour_weight) * np.asarray(model, dtype=float) + neighbour_weight * np.asarray(neighbours)
    return mixed / mixed.sum(axis=1, keepdims=True)
