#!/usr/bin/env python3
"""How well the text-classification adapter finds wrong labels on real data (run by hand).

TREC question classification (6 classes) with a share of labels flipped uniformly at random to
another class; the same model (MiniLM embeddings + logistic regression, the backend's default)
predicts every item in sample (the paper's rule) or out of fold (our default), and an item is
flagged when the prediction differs from its label. Prints a Markdown table.

    .venv/bin/python benchmarks/text_classification_detection.py [--data ../shared/data/trec] [--noise 0.2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters import adapter_for_config  # noqa: E402
from adapters.folds import fold_assignments, in_sample_outputs, out_of_fold_outputs  # noqa: E402

CLASSES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
LABEL_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
                + "".join(f'<Choice value="{c}"/>' for c in CLASSES) + "</Choices></View>")


def load_trec(path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for line in path.read_text(encoding="latin-1").splitlines():
        label, _, text = line.partition(":")
        if text.strip():
            texts.append(text.strip())
            labels.append(label)
    return texts, labels


def flip_uniformly(labels: list[str], share: float, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), round(share * len(labels)), replace=False)] = True
    noisy = [rng.choice([c for c in CLASSES if c != label]) if f else label for label, f in zip(labels, flipped)]
    return noisy, flipped


def detection_row(name: str, flags: np.ndarray, truth: np.ndarray, seconds: float, accuracy: float | None) -> str:
    true_positives = int((flags & truth).sum())
    precision = true_positives / max(flags.sum(), 1)
    recall = true_positives / max(truth.sum(), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    test = f"{accuracy:.3f}" if accuracy is not None else "-"
    return f"| {name} | {flags.sum()} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {test} | {seconds:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "trec")
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    texts, labels = load_trec(options.data / "train.txt")
    test_texts, test_labels = load_trec(options.data / "test.txt")
    noisy, flipped = flip_uniformly(labels, options.noise, options.seed)
    adapter = adapter_for_config(LABEL_CONFIG, seed=options.seed)

    started = time.perf_counter()
    features = adapter.featurize(texts + test_texts)
    train_features, test_features = features[:len(texts)], features[len(texts):]
    embedding_seconds = time.perf_counter() - started

    def flags_of(outputs) -> np.ndarray:
        found = adapter.find_disagreements(list(range(len(texts))), noisy, outputs)
        return np.array([d.flagged for d in found])

    rows = []
    started = time.perf_counter()
    model = adapter.new_model().fit(train_features, noisy)
    accuracy = float(np.mean(np.array(CLASSES)[model.predict(test_features).argmax(1)] == np.array(test_labels)))
    rows.append(detection_row("in-sample, predicted != label (paper)",
                              flags_of(in_sample_outputs(model, train_features)), flipped,
                              time.perf_counter() - started, accuracy))
    started = time.perf_counter()
    folds = fold_assignments(noisy, options.folds, options.seed)
    outputs = out_of_fold_outputs(adapter.new_model, train_features, noisy, folds)
    rows.append(detection_row(f"out-of-fold ({options.folds} folds), predicted != label (default)",
                              flags_of(outputs), flipped, time.perf_counter() - started, None))

    print(f"TREC train: {len(texts)} questions, {flipped.sum()} labels flipped ({options.noise:.0%} uniform), "
          f"seed {options.seed}; embedding {len(texts) + len(test_texts)} texts took {embedding_seconds:.1f} s\n")
    print("| prediction source and rule | flagged | precision | recall | F1 | test accuracy | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
