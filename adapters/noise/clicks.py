"""Click errors and the clicks' flag rule: pure functions over click labels and probabilities (no I/O).

Array contract: `labels` int array (n,) of 0/1, `click_probabilities` float array (n,) in [0, 1],
`errors` float array (n,) in [0, 1], masks bool arrays (n,).

A click label is noisy in a way class labels are not: a click with p = 0.1 may be a rare true click.
So the default rule flags a share of the rows (those above the 0.9 quantile of the errors) rather
than every row the model would label otherwise; see benchmarks/RESULTS.md section 8 for how the rules compare.
"""
from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

#: segments with fewer rows than this are judged against the overall quantile (see flag_click_errors)
MIN_SEGMENT_ROWS = 10


def click_errors(labels: np.ndarray, click_probabilities: np.ndarray) -> np.ndarray:
    """|p - y| per row, in [0, 1]: 0 when the model is sure of the label, 1 when sure of the other one."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(click_probabilities, dtype=float)
    if labels.shape != probabilities.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and click_probabilities {probabilities.shape} differ")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (no click) or 1 (click)")
    if probabilities.size and not ((probabilities >= 0) & (probabilities <= 1)).all():
        raise ValueError("click probabilities must be in [0, 1]")
    return np.abs(probabilities - labels)


def flag_click_errors(errors: np.ndarray, threshold: float | None = None, quantile: float = 0.9,
                      segments: Sequence[Hashable] | None = None, min_segment_rows: int = MIN_SEGMENT_ROWS
                      ) -> np.ndarray:
    """Mask of the rows whose click error is too large.

    With `threshold`: errors > threshold. Otherwise errors > the `quantile` of the errors (numpy's
    linear interpolation), so at most about (1 - quantile) of the rows; errors equal to the cutoff
    are not flagged, so equal errors are flagged alike (when all are equal, none is). With `segments` (one
    hashable per row; equal values form a segment) the cutoff is each segment's own quantile, so a
    segment the model predicts badly does not take all the flags; a segment of fewer than
    `min_segment_rows` rows (a single row has no peers) is held to the overall cutoff instead.
    """
    errors = np.asarray(errors, dtype=float)
    if threshold is not None:
        return errors > threshold
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    if errors.size == 0:
        return np.zeros(0, dtype=bool)
    cutoffs = np.full(errors.shape, np.quantile(errors, quantile))
    if segments is not None:
        if len(segments) != len(errors):
            raise ValueError(f"{len(segments)} segments for {len(errors)} errors")
        members: dict[Hashable, list[int]] = {}
        for index, segment in enumerate(segments):
            members.setdefault(segment, []).append(index)
        for rows in members.values():
            if len(rows) >= min_segment_rows:
                cutoffs[rows] = np.quantile(errors[rows], quantile)
    return errors > cutoffs
