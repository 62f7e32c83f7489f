"""Several annotators per task: consensus labels, their quality, and each annotator's quality.

Pure functions over arrays, on cleanlab's multi-annotator estimates (CROWDLAB: the annotators'
agreement weighted by how often each agrees with the others and with the model). The contract:

- `votes`: (n_tasks, n_annotators) float array of class indices, NaN where that annotator gave the
  task no label; every task has at least one vote, every annotator at least one;
- `pred_probs`: (n_tasks, n_classes) out-of-fold probabilities of the model, rows summing to 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a consensus whose quality (cleanlab's consensus_quality_score, 0..1) is below this is doubtful: its
#: annotators split and the model does not settle it. Half is where a label is as likely wrong as right.
DOUBTFUL_CONSENSUS = 0.5


@dataclass(frozen=True)
class AnnotatorConsensus:
    """Per task (rows of `votes`): `consensus` (class index), `quality` (0..1, higher = more likely right),
    `agreement` (share of its annotators who chose the consensus), `n_votes`, `more_votes_value` (cleanlab's
    active-learning score: lower = one more annotation would tell most). Per annotator (columns):
    `annotator_quality`, `agreement_with_consensus` (on tasks someone else labeled too; NaN when none),
    `worst_class` (class index they label least reliably), `n_labeled`."""

    consensus: np.ndarray
    quality: np.ndarray
    agreement: np.ndarray
    n_votes: np.ndarray
    more_votes_value: np.ndarray
    annotator_quality: np.ndarray
    agreement_with_consensus: np.ndarray
    worst_class: np.ndarray
    n_labeled: np.ndarray


def check_votes(votes: np.ndarray, pred_probs: np.ndarray) -> None:
    """ValueError naming what breaks the contract."""
    if votes.ndim != 2 or pred_probs.ndim != 2 or votes.shape[0] != pred_probs.shape[0]:
        raise ValueError(f"votes {votes.shape} and pred_probs {pred_probs.shape} must be (n, m) and (n, k)")
    given = ~np.isnan(votes)
    if not given.any(axis=1).all():
        raise ValueError(f"task rows {np.flatnonzero(~given.any(axis=1))[:5].tolist()} have no vote")
    if not given.any(axis=0).all():
        raise ValueError(f"annotator columns {np.flatnonzero(~given.any(axis=0))[:5].tolist()} gave no vote")
    classes = votes[given]
    if ((classes < 0) | (classes >= pred_probs.shape[1]) | (classes != np.round(classes))).any():
        raise ValueError(f"votes must be class indices below {pred_probs.shape[1]}")


def estimate_consensus(votes: np.ndarray, pred_probs: np.ndarray) -> AnnotatorConsensus:
    """Consensus labels, their quality and the annotators' quality (cleanlab's
    `get_label_quality_multiannotator` and `get_active_learning_scores`)."""
    import pandas as pd
    from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

    votes, pred_probs = np.asarray(votes, dtype=float), np.asarray(pred_probs, dtype=float)
    check_votes(votes, pred_probs)
    frame = pd.DataFrame(votes, columns=[str(j) for j in range(votes.shape[1])])
    if (~np.isnan(votes)).sum(axis=1).max() < 2:
        raise ValueError("no task has two or more votes")
    result = get_label_quality_multiannotator(frame, pred_probs, verbose=False)
    tasks, stats = result["label_quality"], result["annotator_stats"].reindex(frame.columns)
    more_votes, _ = get_active_learning_scores(frame, pred_probs)
    labels = frame.to_numpy()
    return AnnotatorConsensus(
        consensus=tasks["consensus_label"].to_numpy(dtype=int),
        quality=tasks["consensus_quality_score"].to_numpy(dtype=float),
        agreement=tasks["annotator_agreement"].to_numpy(dtype=float),
        n_votes=tasks["num_annotations"].to_numpy(dtype=int),
        more_votes_value=np.asarray(more_votes, dtype=float),
        annotator_quality=stats["annotator_quality"].to_numpy(dtype=float),
        agreement_with_consensus=_agreement_with_others(labels, tasks["consensus_label"].to_numpy(dtype=int)),
        worst_class=stats["worst_class"].to_numpy(dtype=int),
        n_labeled=(~np.isnan(labels)).sum(axis=0))


def _agreement_with_others(votes: np.ndarray, consensus: np.ndarray) -> np.ndarray:
    """Per annotator: the share of their votes equal to the consensus, over tasks with two or more votes
    (on a task only they labeled, they are the consensus)."""
    shared = (~np.isnan(votes)).sum(axis=1) >= 2
    out = np.full(votes.shape[1], np.nan)
    for j in range(votes.shape[1]):
        mine = shared & ~np.isnan(votes[:, j])
        if mine.any():
            out[j] = float((votes[mine, j] == consensus[mine]).mean())
    return out


def doubtful_consensus(consensus: AnnotatorConsensus, below: float = DOUBTFUL_CONSENSUS) -> np.ndarray:
    """Mask of tasks with two or more votes whose consensus quality is below `below`."""
    return (consensus.n_votes >= 2) & (consensus.quality < below)


def agreement_per_class(votes: np.ndarray, consensus: np.ndarray, n_classes: int) -> list[dict]:
    """Per consensus class, over tasks with two or more votes: tasks, and the share of the votes on them
    that chose that class (1.0 = the annotators always agree on it)."""
    votes = np.asarray(votes, dtype=float)
    shared = (~np.isnan(votes)).sum(axis=1) >= 2
    rows = []
    for k in range(n_classes):
        members = shared & (consensus == k)
        given = ~np.isnan(votes[members])
        agreeing = (votes[members] == k) & given
        rows.append({"class": k, "tasks": int(members.sum()),
                     "agreement": float(agreeing.sum() / given.sum()) if given.sum() else None})
    return rows
