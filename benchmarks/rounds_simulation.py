#!/usr/bin/env python3
"""Rounds of re-labeling on TREC with a simulated annotator (the method paper's Table 1, run by hand).

Start from the TREC train set with a share of labels flipped uniformly; each round fits the
product's model out of fold on the current labels, flags labels with the product's detection code
(adapters: find_disagreements, suppress_confirmed), shows the flagged items to a simulated
annotator and takes its answers as the new labels. The annotator gives the true label with
probability --annotator-accuracy; otherwise it follows the model's suggestion when that is wrong,
else picks a random other class. Strategies: no re-label, random items (same number shown as our
default), our default (FlagOptions() with the memory of human confirmations), cleanlab's flags (confident
learning, prune_by_noise_rate, no memory); with --in-sample-weight W also our default ranked with W of the
full model's in-sample outputs mixed in, as `sync_round.py --in-sample-weight W` does. Prints a Markdown table.

    .venv/bin/python -m benchmarks.rounds_simulation [--data ../shared/data/trec] [--noise 0.2]
        [--rounds 3] [--annotator-accuracy 0.95] [--seed 0] [--folds 5] [--repeats 1]
        [--mode ensemble|embedding|finetune|finetune_ensemble] [--only-default] [--limit N]
        [--confirmation-margin M] [--extra-rows] [--finetune-test [final|all]] [--in-sample-weight W]
        [--ranking SCORE]

The memory of confirmations is kept here in arrays (`apply_answers`); sync_round derives the same
from earlier round reports (relabel/rounds/history.py), and rounds_through_label_studio.py checks the
two give the same rounds.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relabel.adapters import adapter_for_config
from relabel.adapters.data.folds import outputs_without_suspects, repeated_out_of_fold_outputs, take
from relabel.adapters.noise.probabilities import FlagOptions, suppress_confirmed
from relabel.rounds.scoring import mix_in_sample, resolved_in_sample_weight
from benchmarks.datasets import (DEFAULT_TREC, TREC_CLASSES, add_embedding_layers_argument, add_ranking_argument,
                                 apply_ranking_argument, flip_uniformly, label_config, load_trec,
                                 text_classification_options)

LABEL_CONFIG = label_config(TREC_CLASSES)
#: our default with --in-sample-weight: ranked on the out-of-fold outputs mixed with the full model's in-sample ones
IN_SAMPLE_MIX = "our default + in-sample mix"


@dataclasses.dataclass
class Strategy:
    """A row group: how the items shown each round are chosen."""

    name: str
    options: FlagOptions | None = None  # None: no detection (no re-label, random)
    memory: bool = False  # suppress labels a human confirmed (our default)
    random_like: str | None = None  # show as many random items as this strategy did, round by round
    relabel: bool = True


@dataclasses.dataclass
class Row:
    strategy: str
    round: int
    label_accuracy: float
    shown: int
    shown_cumulative: int
    precision: float | None
    test_accuracy: float
    seconds: float | None
    finetune_accuracy: float | None = None


def simulate_annotator(true_labels: Sequence[str], suggested: Sequence[str], shown: np.ndarray, accuracy: float,
                       rng: np.random.Generator, classes: Sequence[str] = TREC_CLASSES) -> dict[int, str]:
    """The annotator's answer for each shown item: the true label with probability `accuracy`, else a
    mistake anchored on the model (its suggestion if wrong, else a random other class)."""
    answers = {}
    for index in shown:
        index = int(index)
        truth = true_labels[index]
        if rng.random() < accuracy:
            answers[index] = truth
        elif suggested[index] != truth:
            answers[index] = suggested[index]
        else:
            answers[index] = str(rng.choice([c for c in classes if c != truth]))
    return answers


def apply_answers(labels: list[str], answers: dict[int, str], confirmed_quality: np.ndarray,
                  quality: np.ndarray) -> None:
    """Take the answers as labels (in place); a kept label remembers its current quality score as
    confirmed, a changed one forgets any confirmation."""
    for index, answer in answers.items():
        if answer == labels[index]:
            confirmed_quality[index] = quality[index]
        else:
            labels[index] = answer
            confirmed_quality[index] = np.nan


def choose_shown(strategy: Strategy, flagged: np.ndarray, quality: np.ndarray, confirmed_quality: np.ndarray,
                 margin: float, random_count: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of the items shown to the annotator this round."""
    if random_count is not None:
        return np.sort(rng.choice(len(flagged), min(random_count, len(flagged)), replace=False))
    if strategy.memory:
        flagged, _ = suppress_confirmed(flagged, quality, confirmed_quality, margin)
    return np.flatnonzero(flagged)


def accuracy_of(probabilities: np.ndarray, classes: Sequence[str], truth: Sequence[str]) -> float:
    return float(np.mean(np.asarray(classes)[np.asarray(probabilities).argmax(1)] == np.asarray(truth)))


def progress_printer(prefix: str) -> Callable[[str, int, int], None]:
    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done == 0 or total <= 20:  # every fold, not every embedding batch
            print(f"  {prefix}: {stage} {done}/{total}", file=sys.stderr, flush=True)
    return progress


def run_strategy(strategy: Strategy, adapter: Any, features: Any, test_features: Any, noisy: list[str],
                 truth: list[str], test_truth: list[str], start: Row, args: argparse.Namespace,
                 shown_counts: dict[str, list[int]], finetune: Callable[[list[str]], float] | None) -> list[Row]:
    labels, n = list(noisy), len(noisy)
    confirmed = np.full(n, np.nan)
    annotator_rng, random_rng = np.random.default_rng(args.seed + 1), np.random.default_rng(args.seed + 2)
    rows = [dataclasses.replace(start, strategy=strategy.name)]
    cumulative, counts = 0, []
    for round_number in range(1, args.rounds + 1):
        print(f"{strategy.name}, round {round_number}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if not strategy.relabel:
            rows.append(dataclasses.replace(start, strategy=strategy.name, round=round_number))
            continue
        outputs = repeated_out_of_fold_outputs(adapter.new_model, features, labels, args.folds, args.repeats,
                                               adapter.average_outputs, args.seed,
                                               progress_printer(f"{strategy.name} r{round_number}"))
        if adapter.second_pass_for(n) and not args.one_pass:  # as the product's training does
            outputs = outputs_without_suspects(adapter.new_model, features, labels, outputs,
                                               adapter.suspect_labels(labels, outputs), args.folds, args.repeats,
                                               adapter.average_outputs, args.seed)
        options = strategy.options or FlagOptions()
        weight = resolved_in_sample_weight(adapter, options, n, in_sample=[])  # []: it will have them (fitted below)
        if weight:  # as the round does (relabel.rounds.scoring): the full model's own outputs mixed in to rank
            in_sample = list(adapter.new_model().fit(features, labels).predict(features))
            outputs, options = mix_in_sample(adapter, labels, outputs, in_sample,
                                             dataclasses.replace(options, in_sample_weight=weight))
        found = adapter.find_disagreements(list(range(n)), labels, outputs, options)
        flagged = np.array([d.flagged for d in found])
        quality = np.array([d.label_quality for d in found])
        random_count = shown_counts[strategy.random_like][round_number - 1] if strategy.random_like else None
        shown = choose_shown(strategy, flagged, quality, confirmed, args.margin, random_count, random_rng)
        precision = float(np.mean([labels[i] != truth[i] for i in shown])) if len(shown) else None
        answers = simulate_annotator(truth, [d.model for d in found], shown, args.annotator_accuracy,
                                     annotator_rng, adapter.classes)
        apply_answers(labels, answers, confirmed, quality)
        cumulative += len(shown)
        counts.append(len(shown))
        test = accuracy_of(adapter.new_model().fit(features, labels).predict(test_features), adapter.classes,
                           test_truth)
        wanted = args.finetune_test == "all" or (args.finetune_test and round_number == args.rounds
                                                 and strategy.memory)
        rows.append(Row(strategy.name, round_number, float(np.mean(np.asarray(labels) == np.asarray(truth))),
                        len(shown), cumulative, precision, test, time.perf_counter() - started,
                        finetune(labels) if finetune and wanted else None))
    shown_counts[strategy.name] = counts
    return rows


def format_row(row: Row, n: int, with_finetune: bool) -> str:
    def number(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"
    cells = [row.strategy, str(row.round), f"{row.label_accuracy:.2%}", str(row.shown),
             f"{row.shown_cumulative} ({row.shown_cumulative / n:.1%})", number(row.precision),
             number(row.test_accuracy)]
    if with_finetune:
        cells.append(number(row.finetune_accuracy))
    cells.append(number(row.seconds, 1))
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_TREC)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--annotator-accuracy", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mode", choices=("ensemble", "embedding", "finetune", "finetune_ensemble"),
                        default="ensemble")
    parser.add_argument("--only-default", action="store_true",
                        help="only the no-re-label and our-default rows (for the slow modes)")
    parser.add_argument("--one-pass", action="store_true",
                        help="one out-of-fold pass, as before 2026-12-04 (default: the product's second pass where its "
                             "mode has one)")
    add_embedding_layers_argument(parser)
    parser.add_argument("--limit", type=int, help="use only the first N train questions (quick check)")
    parser.add_argument("--confirmation-margin", type=float, help="override FlagOptions().confirmation_margin")
    parser.add_argument("--in-sample-weight", type=float,
                        help="also a row of our default ranked with this share of the in-sample outputs mixed in")
    add_ranking_argument(parser)
    parser.add_argument("--extra-rows", action="store_true", help="also the 'OOF predicted != label' baseline")
    parser.add_argument("--finetune-test", nargs="?", const="final", choices=("final", "all"),
                        help="also test accuracy of a fine-tuned model (2 epochs, ~2.5 min a fit on 2 quiet CPUs): "
                             "'final' = round 0 and our default's last round, 'all' = every row")
    args = parser.parse_args()

    texts, truth = load_trec(args.data / "train.txt")
    texts, truth = texts[:args.limit], truth[:args.limit]
    test_texts, test_truth = load_trec(args.data / "test.txt")
    noisy, flipped = flip_uniformly(truth, TREC_CLASSES, args.noise, args.seed)
    adapter = adapter_for_config(LABEL_CONFIG, text_classification_options(args.mode, args.seed, args.embedding_layers))
    apply_ranking_argument(adapter, args.ranking)
    default = FlagOptions()
    args.margin = default.confirmation_margin if args.confirmation_margin is None else args.confirmation_margin
    default = dataclasses.replace(default, confirmation_margin=args.margin)

    started = time.perf_counter()
    everything = adapter.featurize(texts + test_texts, progress_printer("all texts"))
    features = take(everything, range(len(texts)))
    test_features = take(everything, range(len(texts), len(texts) + len(test_texts)))
    embedding_seconds = time.perf_counter() - started

    finetune = None
    if args.finetune_test:
        tuner, cache = adapter_for_config(LABEL_CONFIG, {"text-classification": {
            "mode": "finetune", "epochs": 2, "seed": args.seed}}), {}

        def finetune(labels: list[str]) -> float:
            key = tuple(labels)
            if key not in cache:
                print("  fine-tuning on all current labels", file=sys.stderr, flush=True)
                model = tuner.new_model().fit(list(texts), labels)
                cache[key] = accuracy_of(model.predict(list(test_texts)), tuner.classes, test_truth)
            return cache[key]

    test = accuracy_of(adapter.new_model().fit(features, noisy).predict(test_features), adapter.classes, test_truth)
    start = Row("", 0, float(np.mean(np.asarray(noisy) == np.asarray(truth))), 0, 0, None, test, None,
                finetune(noisy) if finetune else None)

    strategies = [Strategy("no re-label", relabel=False),
                  Strategy("our default", default, memory=True),
                  Strategy("random re-label, same budget", random_like="our default"),
                  Strategy("cleanlab flags", FlagOptions(flag_rule="confident_learning",
                                                              confident_learning_filter="prune_by_noise_rate"))]
    if args.in_sample_weight:
        strategies.insert(2, Strategy(IN_SAMPLE_MIX, dataclasses.replace(default, in_sample_weight=args.in_sample_weight),
                                      memory=True))
    if args.only_default:
        strategies = [s for s in strategies if s.name in ("no re-label", "our default", IN_SAMPLE_MIX)]
    if args.extra_rows:
        strategies.append(Strategy("OOF predicted != label", FlagOptions(flag_rule="disagreement")))
    shown_counts: dict[str, list[int]] = {}
    results = {s.name: run_strategy(s, adapter, features, test_features, noisy, truth, test_truth, start, args,
                                    shown_counts, finetune) for s in strategies}
    order = ["no re-label", "random re-label, same budget", "our default", IN_SAMPLE_MIX, "cleanlab flags",
             "OOF predicted != label"]

    print(f"TREC train: {len(texts)} questions, {flipped.sum()} labels flipped ({args.noise:.0%} uniform), "
          f"annotator accuracy {args.annotator_accuracy:.0%}, mode {args.mode}, {args.folds} folds x "
          f"{args.repeats} repeats, encoder layers {args.embedding_layers or 'default'}, "
          f"ranking {adapter.default_quality_method}, seed {args.seed}; "
          f"our default: {default}; "
          f"embedding {len(texts) + len(test_texts)} texts took {embedding_seconds:.1f} s\n")
    header = ["strategy", "round", "label accuracy", "shown this round", "shown cumulative (% of dataset)",
              "flag precision", "test accuracy (fast model)"] + (["test accuracy (fine-tuned)"] if finetune else []) \
        + ["seconds"]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|" + "---:|" * (len(header) - 2))
    for name in order:
        for row in results.get(name, []):
            print(format_row(row, len(texts), finetune is not None))


if __name__ == "__main__":
    main()
