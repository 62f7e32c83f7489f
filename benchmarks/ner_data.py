"""CoNLL-2003 for the NER benchmarks: loading, span noise, entity F1.

Sentences are kept as words with word-index spans (start, end exclusive, class); `to_text` joins the
words with single spaces and gives the character spans Label Studio would hold.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONLL = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
CONLL_CLASSES = ["PER", "LOC", "ORG", "MISC"]
NOISE_KINDS = ("dropped", "retyped", "shifted", "spurious")

WordSpan = tuple[int, int, str]


@dataclass
class Sentence:
    words: list[str]
    spans: list[WordSpan] = field(default_factory=list)

    def to_text(self) -> tuple[str, list[tuple[int, int, str]]]:
        """The text (words joined by spaces) and the spans as character offsets into it."""
        starts, position = [], 0
        for word in self.words:
            starts.append(position)
            position += len(word) + 1
        text = " ".join(self.words)
        return text, sorted((starts[s], starts[e - 1] + len(self.words[e - 1]), label) for s, e, label in self.spans)


def read_conll(path: Path, limit: int | None = None, min_words: int = 3) -> list[Sentence]:
    """Sentences of a CoNLL-2003 file (`word POS chunk tag` lines), skipping -DOCSTART- and very short ones."""
    sentences, words, tags = [], [], []

    def close():
        if len(words) >= min_words:
            sentences.append(Sentence(list(words), bio_to_spans(tags)))
        words.clear()
        tags.clear()

    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            close()
            if limit and len(sentences) >= limit:
                break
            continue
        parts = line.split()
        words.append(parts[0])
        tags.append(parts[-1])
    close()
    return sentences[:limit] if limit else sentences


def bio_to_spans(tags: list[str]) -> list[WordSpan]:
    spans, start, label = [], None, None
    for i, tag in enumerate(tags + ["O"]):
        continues = tag.startswith("I-") and label == tag[2:]
        if start is not None and not continues:
            spans.append((start, i, label))
            start = label = None
        if tag != "O" and not continues:
            start, label = i, tag[2:]
    return spans


def inject_span_noise(sentences: list[Sentence], share: float, classes: list[str], seed: int) -> tuple[
        list[Sentence], set[int]]:
    """Corrupt `share` of all entities, each one way among NOISE_KINDS (equally often).

    dropped: the span removed; retyped: another class; shifted: one boundary moved by one word
    (widened or narrowed, never empty); spurious: a new one-word span of a random class on an O word
    of the same sentence. Returns the noisy sentences and the indices of the sentences changed.
    """
    rng = random.Random(seed)
    noisy = [Sentence(list(s.words), list(s.spans)) for s in sentences]
    entities = [(i, j) for i, s in enumerate(sentences) for j in range(len(s.spans))]
    chosen = rng.sample(entities, round(share * len(entities)))
    changed = set()
    for n, (i, j) in enumerate(chosen):
        sentence = noisy[i]
        start, end, label = sentences[i].spans[j]
        kind = NOISE_KINDS[n % len(NOISE_KINDS)]
        spans = [s for s in sentence.spans if s != (start, end, label)]
        if len(spans) == len(sentence.spans):
            continue  # this entity was already changed by an earlier corruption
        taken = {w for s, e, _ in spans for w in range(s, e)}
        if kind == "dropped":
            new = None
        elif kind == "retyped":
            new = (start, end, rng.choice([c for c in classes if c != label]))
        elif kind == "shifted":
            options = [(start - 1, end), (start + 1, end), (start, end + 1), (start, end - 1)]
            options = [(s, e) for s, e in options if 0 <= s < e <= len(sentence.words)
                       and not taken & set(range(s, e))]
            if not options:
                continue
            new = (*rng.choice(options), label)
        else:  # spurious: keep the entity, add a span elsewhere
            free = [w for w in range(len(sentence.words)) if w not in taken and not start <= w < end
                    and sentence.words[w][:1].isalpha()]
            if not free:
                continue
            word = rng.choice(free)
            spans.append((start, end, label))
            new = (word, word + 1, rng.choice(classes))
        sentence.spans = sorted(spans + ([new] if new else []))
        changed.add(i)
    return noisy, changed


def entity_f1(gold: list[list], predicted: list[list]) -> float:
    """Micro F1 of exact (start, end, class) matches over all sentences."""
    true_positives = n_gold = n_predicted = 0
    for g, p in zip(gold, predicted):
        g, p = {tuple(s) for s in g}, {tuple(s) for s in p}
        true_positives += len(g & p)
        n_gold += len(g)
        n_predicted += len(p)
    return 2 * true_positives / (n_gold + n_predicted) if n_gold + n_predicted else 1.0
