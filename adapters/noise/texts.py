"""How far a human's text is from a model's text: pure functions over strings (no I/O).

Array contract: `humans` and `models` are equal-length sequences of strings, item i of both
answering the same task. Scores come back as float arrays of shape (n,), masks as bool arrays.

chrF and BLEU are sacrebleu's sentence scores (0-100), with the human text as the hypothesis and
the model's as the reference: the model stands in for the truth it would have to be checked
against. chrF (character n-gram F-score, recall weighted) ranks best on short texts, where one
wrong character changes a whole word of BLEU; BLEU is there for longer texts, as an extra rule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: a token: a run of letters (any script) or a run of digits; case is ignored
TOKEN_PATTERN = re.compile(r"[^\W\d_]+|\d+")


def sentence_chrf(hypothesis: str, reference: str) -> float:
    """sacrebleu's sentence chrF of `hypothesis` against `reference`, 0-100; equal texts score 100 (even empty ones)."""
    if hypothesis == reference:
        return 100.0
    import sacrebleu

    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """sacrebleu's sentence BLEU (exponential smoothing, 13a tokens) of `hypothesis` against `reference`, 0-100;
    equal texts score 100 (even empty ones)."""
    if hypothesis == reference:
        return 100.0
    import sacrebleu

    return float(sacrebleu.sentence_bleu(hypothesis, [reference]).score)


def tokens(text: str) -> set[str]:
    """The text's tokens: lowercased runs of letters and runs of digits; whitespace and punctuation separate them.

    "Paris, 2030-10-07!" -> {"paris", "2030", "10", "07"}; "abc123" -> {"abc", "123"}.
    """
    return {token.casefold() for token in TOKEN_PATTERN.findall(text)}


def share_a_token(a: str, b: str) -> bool:
    """True when the two texts have at least one token (see `tokens`) in common.

    Two texts without any token (empty, or punctuation only) share none.
    """
    return not tokens(a).isdisjoint(tokens(b))


@dataclass(frozen=True)
class TextScores:
    """How each human text compares with the model's: chrF / 100 (the label quality), BLEU (0-100), and
    masks of the pairs that share a token and of those equal after stripping; arrays of shape (n,)."""

    quality: np.ndarray
    bleu: np.ndarray
    shares_token: np.ndarray
    equal: np.ndarray

    def flags(self, chrf_threshold: float, bleu_threshold: float | None = None) -> np.ndarray:
        """Flagged when chrF / 100 is below `chrf_threshold`, or BLEU / 100 below `bleu_threshold` (if given),
        or when the texts share no token: a model that learned the task well and still answers with
        entirely different words points at a human answer for some other item (the re-labeling paper's
        rule). A text equal to the model's is never flagged."""
        flagged = (self.quality < chrf_threshold) | ~self.shares_token
        if bleu_threshold is not None:
            flagged |= self.bleu / 100 < bleu_threshold
        return flagged & ~self.equal


def text_scores(humans: Sequence[str], models: Sequence[str]) -> TextScores:
    """The scores of each human text against the model's text for the same item (both stripped)."""
    if len(humans) != len(models):
        raise ValueError(f"{len(humans)} human texts but {len(models)} model texts")
    pairs = [(str(h).strip(), str(m).strip()) for h, m in zip(humans, models)]
    return TextScores(quality=np.array([sentence_chrf(h, m) / 100 for h, m in pairs], dtype=float),
                      bleu=np.array([sentence_bleu(h, m) for h, m in pairs], dtype=float),
                      shares_token=np.array([share_a_token(h, m) for h, m in pairs], dtype=bool),
                      equal=np.array([h == m for h, m in pairs], dtype=bool))


def text_disagreements(humans: Sequence[str], models: Sequence[str], chrf_threshold: float,
                       bleu_threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(flagged mask, label quality, BLEU, shares-a-token mask) of each human text against the model's
    (`TextScores.flags` says when a text is flagged; label quality is chrF / 100)."""
    scores = text_scores(humans, models)
    return scores.flags(chrf_threshold, bleu_threshold), scores.quality, scores.bleu, scores.shares_token
