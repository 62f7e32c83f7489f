"""Pure functions between Label Studio character spans, word tokens and BIO tags (no I/O).

Conventions:
- `offsets`: a text's word tokens as (start, end) character offsets in Python code points, in
  order; a word is a run of letters/digits/underscore or one other non-space character.
- spans: (start, end, label) with end exclusive, in code points.
- tags: int array of shape (n_tokens,); with C entity classes, 0 is O, 1 + 2c is B-class c and
  2 + 2c is I-class c (see `tag_names`). Entity-class ids (`token_classes`): 0 is O, 1 + c is class c.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

WORD = re.compile(r"\w+|[^\w\s]")
#: the kinds of span disagreement, seen from the human label (see `compare_spans`)
ERROR_KINDS = ("missed", "added", "retyped", "misbounded")
#: what each kind means, seen from the human label (the report prints it beside the counts)
ERROR_MEANINGS = {"missed": "the model finds an entity the human did not mark",
                  "added": "a human span the model does not find",
                  "retyped": "same place, other class", "misbounded": "same class, other bounds"}

Span = tuple[int, int, str]


def tokenize(text: str) -> list[tuple[int, int]]:
    """Word tokens of `text` as (start, end) code-point offsets."""
    return [match.span() for match in WORD.finditer(text)]


def tag_names(classes: Sequence[str]) -> list[str]:
    """["O", "B-c0", "I-c0", "B-c1", ...]: the tag of id t is tag_names(classes)[t]."""
    names = ["O"]
    for name in classes:
        names += [f"B-{name}", f"I-{name}"]
    return names


def token_classes(tags: np.ndarray) -> np.ndarray:
    """Entity-class id of each tag id: O -> 0, B-c and I-c -> 1 + c."""
    tags = np.asarray(tags, dtype=int)
    return (tags + 1) // 2


def class_probabilities(tag_probs: np.ndarray) -> np.ndarray:
    """(n_tokens, 1 + 2C) tag probabilities summed into (n_tokens, 1 + C) entity-class probabilities.

    B-c and I-c say the same about a token's class (they differ only at entity starts), so label
    quality is scored on classes and a B/I slip is not mistaken for a wrong label.
    """
    tag_probs = np.asarray(tag_probs, dtype=float)
    return np.hstack([tag_probs[:, :1], tag_probs[:, 1::2] + tag_probs[:, 2::2]])


def utf16_to_code_points(text: str, offset: int) -> int:
    """The code-point offset of a UTF-16 code-unit offset (JavaScript string index) into `text`."""
    units = 0
    for index, character in enumerate(text):
        if units >= offset:
            return index
        units += 2 if ord(character) > 0xFFFF else 1
    return len(text)


def locate_span(text: str, start: int, end: int, span_text: str | None) -> tuple[int, int] | None:
    """Code-point (start, end) of a Label Studio span, or None when it cannot be found in `text`.

    Label Studio versions have stored offsets as code points or as UTF-16 units (they differ after
    an emoji); the span's own `text` tells which is right. Without it the offsets are taken as given.
    """
    if span_text is None or text[start:end] == span_text:
        return (start, end) if 0 <= start < end <= len(text) else None
    utf16 = utf16_to_code_points(text, start), utf16_to_code_points(text, end)
    if text[utf16[0]:utf16[1]] == span_text:
        return utf16
    # Label Studio has also been known to shift offsets by a few characters (newlines, \r\n).
    found = text.find(span_text, max(0, start - 8))
    if found != -1 and abs(found - start) <= 8:
        return found, found + len(span_text)
    return None


@dataclass
class AlignmentProblem:
    """A human span that does not map cleanly onto word tokens; `kind` is misaligned, empty or overlapping."""

    span: Span
    kind: str
    detail: str


def spans_to_tags(offsets: Sequence[tuple[int, int]], spans: Sequence[Span],
                  classes: Sequence[str]) -> tuple[np.ndarray, list[Span], list[AlignmentProblem]]:
    """BIO tag ids of the tokens, the spans snapped to token boundaries, and what did not fit.

    A span that cuts through a word is widened to the whole words it touches (reported as
    misaligned); a span touching no word is dropped (empty); a span overlapping an earlier one
    (nested entities, which BIO cannot hold) is dropped (overlapping). Spans are taken in
    (start, longest first) order.
    """
    class_index = {name: i for i, name in enumerate(classes)}
    tags = np.zeros(len(offsets), dtype=int)
    snapped: list[Span] = []
    problems: list[AlignmentProblem] = []
    for start, end, label in sorted(spans, key=lambda s: (s[0], -s[1], s[2])):
        touched = [i for i, (token_start, token_end) in enumerate(offsets) if token_start < end and token_end > start]
        if not touched:
            problems.append(AlignmentProblem((start, end, label), "empty", "covers no word"))
            continue
        if tags[touched].any():
            problems.append(AlignmentProblem((start, end, label), "overlapping",
                                             "overlaps another span (nested entities are not supported)"))
            continue
        first, last = touched[0], touched[-1]
        token_span = (offsets[first][0], offsets[last][1], label)
        if token_span[:2] != (start, end):
            problems.append(AlignmentProblem((start, end, label), "misaligned",
                                             f"does not start and end at word boundaries; used {token_span[:2]}"))
        c = class_index[label]
        tags[first] = 1 + 2 * c
        tags[first + 1:last + 1] = 2 + 2 * c
        snapped.append(token_span)
    return tags, sorted(snapped), problems


def tags_to_spans(offsets: Sequence[tuple[int, int]], tags: Sequence[int], classes: Sequence[str]) -> list[Span]:
    """Character spans of BIO tag ids; an I- tag that does not continue its class starts a new span."""
    spans: list[Span] = []
    current: list | None = None  # [start, end, class id]
    for (start, end), tag in zip(offsets, tags):
        tag = int(tag)
        entity = (tag + 1) // 2 - 1
        if tag == 0:
            current = None
            continue
        if tag % 2 == 0 and current is not None and current[2] == entity:  # I- continuing
            current[1] = end
            spans[-1] = (current[0], end, classes[entity])
            continue
        current = [start, end, entity]
        spans.append((start, end, classes[entity]))
    return spans


def compare_spans(human: Sequence[Span], model: Sequence[Span]) -> dict[str, Counter]:
    """How the human spans differ from the model's, per class: kind -> Counter(class -> count).

    Kinds, seen from the human label: `missed` (a model span overlapping no human span: the human
    may have missed an entity; counted under the model's class), `added` (a human span overlapping
    no model span), `retyped` (overlapping spans of another class; under the human's class) and
    `misbounded` (overlapping spans of the same class with other bounds). Exact matches count nothing.
    """
    errors = {kind: Counter() for kind in ERROR_KINDS}
    human, model = set(human), set(model)

    def overlapping(span: Span, others: set) -> list[Span]:
        return [o for o in others if o[0] < span[1] and o[1] > span[0]]

    for span in human - model:
        matches = overlapping(span, model)
        if not matches:
            errors["added"][span[2]] += 1
        elif any(m[2] != span[2] for m in matches):
            errors["retyped"][span[2]] += 1
        else:
            errors["misbounded"][span[2]] += 1
    for span in model - human:
        if not overlapping(span, human):
            errors["missed"][span[2]] += 1
    return errors


def differing_classes(human: Sequence[Span], model: Sequence[Span]) -> list[str]:
    """The classes whose set of spans differs between human and model, sorted (a retyped span involves both)."""
    human, model = set(human), set(model)
    return sorted({span[2] for span in human ^ model})


def sentence_scores(token_quality: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """Each sentence's worst token score ("min", cleanlab's default); 1.0 for a sentence without tokens.

    `token_quality` holds every sentence's token scores, concatenated in order; `lengths` the
    number of tokens of each sentence.
    """
    token_quality = np.asarray(token_quality, dtype=float)
    lengths = np.asarray(lengths, dtype=int)
    scores = np.ones(len(lengths))
    ends = np.cumsum(lengths)
    for i, (length, end) in enumerate(zip(lengths, ends)):
        if length:
            scores[i] = token_quality[end - length:end].min()
    return scores


def worst_token(token_quality: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """Index (within its sentence) of each sentence's lowest-scored token; -1 for an empty sentence."""
    token_quality = np.asarray(token_quality, dtype=float)
    ends = np.cumsum(lengths)
    return np.array([int(token_quality[end - length:end].argmin()) if length else -1
                     for length, end in zip(lengths, ends)], dtype=int)
