#!/usr/bin/env python3
"""Systematic label errors (a rule misapplied to a sub-pattern of a class) and fixes carried to similar items
(run by hand).

On TREC and the Amazon reviews, word patterns of one class are relabeled as one other class
(`benchmarks.datasets.systematic_noise`, several patterns, --systematic of the data), and a share of
the other labels is flipped at random (--random). Three rounds, as the product runs them: out-of-fold
outputs of the default text model, the default flags with the memory of confirmations, then the tasks
propagated from the fixes people made in earlier rounds (`adapters.noise.neighbours`); a simulated
annotator answers every task shown (the true label with probability --annotator-accuracy). Strategies,
side by side on the same data: flags alone, flags + neighbours of fixes (the product's default),
flags + neighbours + shared word patterns (`--propagate-patterns`), and flags + neighbours carried to
any candidate however sure the model is of its label (the rule before 2026-12-04). Prints per round
the systematic and the random errors fixed so far, the tasks shown (so far, and over the wrong labels at
the start) and how many of the carried tasks were really wrong. `--systematic 0 --random 0.1` is the
control: random errors only, where carrying fixes can only cost people time.

    .venv/bin/python -m benchmarks.systematic_noise [--datasets trec,amazon] [--systematic 0.06] [--random 0.05]
    .venv/bin/python -m benchmarks.systematic_noise --strategies "flags alone; flags + neighbours of fixes" --ranking normalized_margin
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import (DEFAULT_TREC, TREC_CLASSES, add_ranking_argument, apply_ranking_argument,
                                 flip_uniformly, label_config, load_amazon_reviews, load_trec, systematic_noise)
from benchmarks.rounds_simulation import simulate_annotator
from relabel.adapters import adapter_for_config
from relabel.adapters.data.folds import repeated_out_of_fold_outputs, take
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.neighbours import Fix, propagate_by_patterns, propagate_fixes, reduce_dimensions
from relabel.adapters.noise.probabilities import suppress_confirmed

STRATEGIES = ("flags alone", "flags + neighbours of fixes", "flags + neighbours + word patterns",
              "flags + neighbours, however sure the model")


def load(name: str, options) -> tuple[list[str], list[str], list[str]]:
    if name == "trec":
        texts, labels = load_trec(options.trec / "train.txt")
        return texts, labels, TREC_CLASSES
    return load_amazon_reviews()


def noisy_labels(texts, labels, classes, options) -> tuple[list[str], np.ndarray, np.ndarray, list[dict]]:
    """Systematic errors, then random flips among the other labels."""
    noisy, systematic, patterns = systematic_noise(texts, labels, classes, options.systematic, options.seed)
    flipped_labels, _ = flip_uniformly(labels, classes, options.random / (1 - options.systematic), options.seed + 3)
    random = np.zeros(len(labels), dtype=bool)
    for i in range(len(labels)):
        if not systematic[i] and flipped_labels[i] != labels[i]:
            noisy[i], random[i] = flipped_labels[i], True
    return noisy, systematic, random, patterns


def run(strategy: str, adapter, features, vectors, texts, truth, noisy, systematic, random, options) -> list[dict]:
    labels, n = list(noisy), len(noisy)
    confirmed, reviewed = np.full(n, np.nan), np.zeros(n, dtype=bool)
    fixes: list[Fix] = []
    annotator = np.random.default_rng(options.seed + 1)
    rows, shown_so_far = [], 0
    for round_number in range(1, options.rounds + 1):
        started = time.perf_counter()
        outputs = repeated_out_of_fold_outputs(adapter.new_model, features, labels, options.folds, 1,
                                               adapter.average_outputs, options.seed)
        found = adapter.find_disagreements(list(range(n)), labels, outputs, FlagOptions())
        flagged = np.array([d.flagged for d in found])
        quality = np.array([d.label_quality for d in found])
        flagged, _ = suppress_confirmed(flagged, quality, confirmed, FlagOptions().confirmation_margin)
        propagated = []
        if strategy != STRATEGIES[0] and fixes:
            candidates = ~flagged & ~reviewed
            fixed = {fix.source for fix in fixes}
            kept = [i for i in np.flatnonzero(reviewed) if i not in fixed]
            doubt = 1.0 if strategy == STRATEGIES[3] else 0.5  # the rule before 2026-12-04: any candidate
            propagated = [p.item for p in propagate_fixes(fixes, kept, labels, vectors, candidates,
                                                          label_quality=quality, max_quality_rank=doubt)]
            if strategy == STRATEGIES[2]:
                by_pattern, _ = propagate_by_patterns(fixes, kept, texts, labels, candidates & ~np.isin(np.arange(n),
                                                                                                   propagated))
                propagated += [p.item for p in by_pattern]
        shown = np.array(sorted(set(np.flatnonzero(flagged)) | set(propagated)), dtype=int)
        propagated_wrong = sum(labels[i] != truth[i] for i in propagated)
        answers = simulate_annotator(truth, [d.model for d in found], shown, options.annotator_accuracy, annotator,
                                     adapter.classes)
        for index, answer in answers.items():
            if answer != labels[index]:
                fixes.append(Fix(index, labels[index], answer))
                labels[index] = answer
                confirmed[index] = np.nan
            else:
                confirmed[index] = quality[index]
            reviewed[index] = True
        shown_so_far += len(shown)
        wrong = np.array(labels) != np.array(truth)
        rows.append({"round": round_number, "shown": len(shown), "propagated": len(propagated),
                     "propagated_wrong": propagated_wrong,
                     "shown_so_far": shown_so_far,
                     "systematic_fixed": 1 - (wrong & systematic).sum() / max(systematic.sum(), 1),
                     "random_fixed": 1 - (wrong & random).sum() / max(random.sum(), 1),
                     "wrong_left": int(wrong.sum()), "seconds": time.perf_counter() - started})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="trec,amazon")
    parser.add_argument("--trec", default=DEFAULT_TREC, type=Path)
    parser.add_argument("--systematic", type=float, default=0.06)
    parser.add_argument("--random", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--annotator-accuracy", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default=";".join(STRATEGIES),
                        help="separated by ';' (names hold commas), of: " + "; ".join(STRATEGIES))
    add_ranking_argument(parser)
    options = parser.parse_args()
    strategies = [s.strip() for s in options.strategies.split(";") if s.strip()]
    if unknown := set(strategies) - set(STRATEGIES):
        parser.error(f"unknown strategies {sorted(unknown)}; choose among {STRATEGIES}")
    lines = ["| data | strategy | round | shown | of them propagated (really wrong) | shown so far (x wrong at start) | "
             "systematic errors fixed | random errors fixed | wrong labels left | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in options.datasets.split(","):
        texts, truth, classes = load(name, options)
        noisy, systematic, random, patterns = noisy_labels(texts, truth, classes, options)
        adapter = adapter_for_config(label_config(classes), {"text-classification": {"seed": options.seed}})
        apply_ranking_argument(adapter, options.ranking)
        features = take(adapter.featurize(texts), np.arange(len(texts)))
        vectors = reduce_dimensions(features.embeddings)
        wrong_at_start = int(systematic.sum() + random.sum())
        print(f"{name}: {len(texts)} texts; {systematic.sum()} systematic errors in {len(patterns)} patterns "
              f"({', '.join(p['gram'] + ': ' + p['from'] + '->' + p['to'] for p in patterns)}); "
              f"{random.sum()} random", file=sys.stderr, flush=True)
        for strategy in strategies:
            for row in run(strategy, adapter, features, vectors, texts, truth, noisy, systematic, random, options):
                lines.append(f"| {name} | {strategy} | {row['round']} | {row['shown']} | {row['propagated']} "
                             f"({row['propagated_wrong']}) | {row['shown_so_far']} ({row['shown_so_far'] / wrong_at_start:.2f}) | "
                             f"{row['systematic_fixed']:.1%} | {row['random_fixed']:.1%} | {row['wrong_left']} | "
                             f"{row['seconds']:.0f} |")
                print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
