#!/usr/bin/env python3
"""How well each flag rule finds wrong labels on real text data with injected noise (run by hand).

For every dataset (TREC, Amazon reviews) and noise setting (uniform 10/20/40%, class-conditional 20%,
plausible 10/20/40%, pairs 20%: benchmarks.datasets.NOISE_KINDS), one model (the text adapter's, default mode
"ensemble") predicts every item in sample and out of fold; each detector flags on those same probabilities
through the product's own code (`adapter.find_disagreements` with `FlagOptions`). Prints one Markdown table.

    .venv/bin/python -m benchmarks.detection_quality                      # the full suite
    .venv/bin/python -m benchmarks.detection_quality --datasets trec --noise uniform:0.2 --extra-rules
    .venv/bin/python -m benchmarks.detection_quality --datasets trec --ranking self_confidence   # another default score

"our default" is the product's: in the fast mode the out-of-fold probabilities averaged with a second pass
whose fold models never learned the labels the first pass flags (`outputs_without_suspects`); where a mode's
default mixes in a share of the full model's in-sample probabilities (none today; `--in-sample-weights` adds
such rows), it is ranked on the mix and as many are flagged as the out-of-fold ones count
(`relabel.rounds.scoring.mix_in_sample`). The cleanlab and "predicted != label" rows read the first pass, as a
cleanlab user with this model would, and one more cleanlab row reads the second. The cleanlab rows flag with
`find_label_issues`' default filter and rank by cleanlab's default score (`get_label_quality_scores`:
self_confidence); the other rows rank by the adapter's default score.

Scores: precision, recall, F1 of the flagged set; AUROC and AUPRC of the label-quality ranking;
precision@k with k the true number of wrong labels. Seconds: model fitting and detection for that
row (the shared embedding step is timed once per dataset, in the header lines).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from relabel.adapters import adapter_for_config
from relabel.adapters.data.folds import (in_sample_outputs, outputs_without_suspects,
                                         repeated_out_of_fold_outputs, take)
from relabel.adapters.noise.flags import FlagOptions
from benchmarks.datasets import (DEFAULT_TREC, NOISE_KINDS, TEXT_NOISE_KINDS, TREC_CLASSES, label_config,
                                 add_embedding_layers_argument, add_ranking_argument, apply_ranking_argument,
                                 load_amazon_reviews, load_trec, text_classification_options)
from relabel.adapters.noise.knn import combine_probabilities, neighbour_label_probabilities
from relabel.rounds.scoring import mix_in_sample, resolved_in_sample_weight

# cleanlab as a cleanlab user runs it: find_label_issues' default filter, ranked by its default label-quality score
CLEANLAB_DEFAULT = FlagOptions(flag_rule="confident_learning", confident_learning_filter="prune_by_noise_rate",
                               quality_method="self_confidence")

EXTRA_RULES = {
    "OOF, budget = estimated errors, global": FlagOptions(flag_rule="budget", per_class=False),
    "OOF, budget = estimated errors, per class": FlagOptions(flag_rule="budget", per_class=True),
    "OOF, cleanlab CL filter both": FlagOptions(flag_rule="confident_learning",
                                                     confident_learning_filter="both"),
    "OOF, cleanlab CL prune_by_class": FlagOptions(flag_rule="confident_learning",
                                                        confident_learning_filter="prune_by_class"),
}


def scores(flagged: np.ndarray, quality: np.ndarray, truth: np.ndarray) -> dict:
    """Detection scores of a flagged mask and a quality ranking (lower = more suspicious) against the truth."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    true_positives = int((flagged & truth).sum())
    precision = true_positives / flagged.sum() if flagged.sum() else 0.0
    recall = true_positives / truth.sum()
    k = int(truth.sum())
    top_k = np.argsort(quality, kind="stable")[:k]
    return {"flagged": int(flagged.sum()), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "auroc": roc_auc_score(truth, -quality), "auprc": average_precision_score(truth, -quality),
            "p_at_k": truth[top_k].mean()}


def detect(adapter, noisy: list[str], outputs: list, options: FlagOptions) -> tuple[np.ndarray, np.ndarray]:
    found = adapter.find_disagreements(list(range(len(noisy))), noisy, outputs, options)
    return np.array([d.flagged for d in found]), np.array([d.label_quality for d in found])


def run_setting(adapter, features, noisy: list[str], truth: np.ndarray, options: argparse.Namespace,
                seed: int, vectors: np.ndarray | None = None) -> list[tuple[str, dict, float]]:
    """(detector, scores, seconds) rows; a row's seconds count the model fits it needs and its detection."""
    def row(name: str, outputs: list, rule: FlagOptions, fit_seconds: float) -> tuple[str, dict, float]:
        started = time.perf_counter()
        flagged, quality = detect(adapter, noisy, outputs, rule)
        return name, scores(flagged, quality, truth), fit_seconds + time.perf_counter() - started

    def timed(fit):
        started = time.perf_counter()
        return fit(), time.perf_counter() - started

    in_sample, in_sample_seconds = timed(lambda: in_sample_outputs(adapter.new_model().fit(features, noisy), features))
    oof, oof_seconds = timed(lambda: repeated_out_of_fold_outputs(adapter.new_model, features, noisy, options.folds,
                                                                  1, adapter.average_outputs, seed))
    rows = [row("paper: in-sample, predicted != label", in_sample, FlagOptions(flag_rule="disagreement"),
                in_sample_seconds),
            row("OOF, predicted != label", oof, FlagOptions(flag_rule="disagreement"), oof_seconds),
            row("OOF, cleanlab find_label_issues (prune_by_noise_rate)", oof, CLEANLAB_DEFAULT, oof_seconds)]
    # NER's default source (RELABEL_PREDICTION_SOURCE=blended): lightly trained models that do not memorise
    # their noise are better in sample; averaged with the out-of-fold outputs, where does it stand here?
    blended = [adapter.average_outputs([fold_output, full_output]) for fold_output, full_output in zip(oof, in_sample)]
    rows.append(row("OOF and in-sample averaged (blended), FlagOptions()", blended, FlagOptions(),
                    oof_seconds + in_sample_seconds))
    if options.extra_rules:
        rows += [row(name, oof, rule, oof_seconds) for name, rule in EXTRA_RULES.items()]
    default_outputs, default_seconds = (oof, oof_seconds) if options.repeats == 1 else timed(
        lambda: repeated_out_of_fold_outputs(adapter.new_model, features, noisy, options.folds, options.repeats,
                                             adapter.average_outputs, seed))
    if adapter.second_pass_for(len(noisy)):
        # the product's default for this mode: the same splits again without the suspect labels, averaged in
        first_outputs, first_seconds = default_outputs, default_seconds
        rows.append(row("OOF, first pass alone, FlagOptions() (the default until 2026-12-04)", first_outputs,
                        FlagOptions(), first_seconds))
        default_outputs, second_seconds = timed(lambda: outputs_without_suspects(
            adapter.new_model, features, noisy, first_outputs, adapter.suspect_labels(noisy, first_outputs),
            options.folds, options.repeats, adapter.average_outputs, seed))
        default_seconds = first_seconds + second_seconds
        rows.append(row("OOF with the second pass, cleanlab find_label_issues", default_outputs, CLEANLAB_DEFAULT,
                        default_seconds))
    if vectors is not None and options.neighbour_weights:
        # the second signal: the k nearest neighbours' (noisy) labels, mixed into the out-of-fold probabilities
        started = time.perf_counter()
        labels = np.array([adapter.class_index[label] for label in noisy])
        voted = neighbour_label_probabilities(vectors, labels, len(adapter.classes), k=options.neighbours)
        vote_seconds = time.perf_counter() - started
        rows.append(row(f"neighbour vote alone (k={options.neighbours}), FlagOptions()", list(voted), FlagOptions(),
                        vote_seconds))
        for weight in (float(w) for w in options.neighbour_weights.split(",")):
            mixed = list(combine_probabilities(np.vstack(default_outputs), voted, weight))
            rows.append(row(f"OOF + neighbour vote (k={options.neighbours}, weight {weight}), FlagOptions()", mixed,
                            FlagOptions(), default_seconds + vote_seconds))
            rows.append(row(f"OOF + neighbour vote (weight {weight}), cleanlab find_label_issues", mixed,
                            CLEANLAB_DEFAULT, default_seconds + vote_seconds))
    passes = " + second pass" if adapter.second_pass_for(len(noisy)) else ""
    default_weight = resolved_in_sample_weight(adapter, FlagOptions(), len(noisy), in_sample)
    for weight in sorted(({float(w) for w in options.in_sample_weights.split(",") if w} | {0.0}) - {default_weight}):
        # the round's own path (relabel.rounds.scoring): ranked on the mix, the budget counted out of fold
        ranked, flag_with = mix_in_sample(adapter, noisy, default_outputs, in_sample,
                                          FlagOptions(in_sample_weight=weight))
        name = "out of fold alone (in-sample weight 0)" if weight == 0 else \
            f"default outputs + in-sample (weight {weight}), budget counted out of fold"
        rows.append(row(name, ranked, flag_with, default_seconds + (in_sample_seconds if weight else 0.0)))
    for method in (m for m in options.rankings.split(",") if m):
        # another label-quality score on the default's outputs (a second pass's suspects stay the default score's)
        rows.append(row(f"default outputs ranked by {method}, FlagOptions(quality_method={method!r})", default_outputs,
                        FlagOptions(quality_method=method), default_seconds))
    # the round's path: its outputs, with the task type's share of the full model's in-sample ones mixed in
    ranked, flag_with = mix_in_sample(adapter, noisy, default_outputs, in_sample,
                                      FlagOptions(in_sample_weight=default_weight))
    mixed = f", in-sample weight {default_weight}" if default_weight else ""
    rows.append(row(f"our default ({options.repeats} x {options.folds}-fold{passes}{mixed}, FlagOptions())", ranked,
                    flag_with, default_seconds + (in_sample_seconds if default_weight else 0.0)))

    # Not the noise's own generator (seeded alike): its first draw would pick many of the noisy items
    # (seen on digits: random precision 0.38 at 20% noise).
    rng = np.random.default_rng(seed + 1)
    random_flags = np.zeros(len(noisy), dtype=bool)
    random_flags[rng.choice(len(noisy), rows[-1][1]["flagged"], replace=False)] = True
    rows.append(("random, as many as our default", scores(random_flags, rng.random(len(noisy)), truth), 0.0))
    return rows


def add_rankings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rankings", default="",
                        help="comma-separated label-quality scores, each a row of the default's outputs flagged and "
                             "ranked by it (normalized_margin, self_confidence, confidence_weighted_entropy)")


def load_dataset(name: str, trec_path: Path) -> tuple[list[str], list[str], list[str]]:
    if name == "trec":
        texts, labels = load_trec(trec_path / "train.txt")
        return texts, labels, TREC_CLASSES
    if name == "amazon":
        return load_amazon_reviews()
    raise ValueError(f"unknown dataset {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="trec,amazon", help="comma-separated: trec, amazon")
    parser.add_argument("--noise", default="uniform:0.1,uniform:0.2,uniform:0.4,class-conditional:0.2,"
                        "plausible:0.1,plausible:0.2,plausible:0.4,pairs:0.2",
                        help="comma-separated kind:share settings; kinds: " + ", ".join(NOISE_KINDS))
    parser.add_argument("--trec", type=Path, default=DEFAULT_TREC, help="folder with TREC train.txt")
    parser.add_argument("--mode", default="ensemble", help="text adapter mode: ensemble, embedding, finetune")
    add_embedding_layers_argument(parser)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="K-fold splits averaged for our default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-rules", action="store_true", help="also score the other flag rules")
    parser.add_argument("--neighbour-weights", default="0.3,0.5",
                        help="comma-separated weights of the neighbour vote mixed into the OOF probabilities ('' = none)")
    parser.add_argument("--neighbours", type=int, default=10, help="k of the neighbour vote")
    add_ranking_argument(parser)
    add_rankings_argument(parser)
    parser.add_argument("--in-sample-weights", default="",
                        help="comma-separated shares of the full model's in-sample outputs mixed into the default's "
                             "outputs, each a row beside the default (which mixes the mode's own share; a row with "
                             "weight 0 is always added where that share is above 0)")
    options = parser.parse_args()

    lines = ["| data | noise | detector | flagged | precision | recall | F1 | AUROC | AUPRC | P@k | seconds |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in options.datasets.split(","):
        texts, labels, classes = load_dataset(name, options.trec)
        adapter = adapter_for_config(label_config(classes), text_classification_options(
            options.mode, options.seed, options.embedding_layers))
        apply_ranking_argument(adapter, options.ranking)
        started = time.perf_counter()
        features = adapter.featurize(texts)
        vectors = adapter.similarity_vectors(features)
        print(f"{name}: {len(texts)} texts, {len(classes)} classes; featurizing ({options.mode}) took "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        for setting in options.noise.split(","):
            kind, _, share = setting.partition(":")
            extra = {"texts": texts} if kind in TEXT_NOISE_KINDS else {}
            noisy, truth = NOISE_KINDS[kind](labels, classes, float(share), options.seed, **extra)
            for detector, result, seconds in run_setting(adapter, take(features, np.arange(len(texts))), noisy,
                                                         truth, options, options.seed, vectors):
                lines.append(f"| {name} | {kind} {float(share):.0%} ({truth.sum()}) | {detector} | {result['flagged']} "
                             f"| {result['precision']:.3f} | {result['recall']:.3f} | {result['f1']:.3f} "
                             f"| {result['auroc']:.3f} | {result['auprc']:.3f} | {result['p_at_k']:.3f} "
                             f"| {seconds:.1f} |")
                print(lines[-1], file=sys.stderr, flush=True)
    print(f"\nmode {options.mode}, encoder layers {options.embedding_layers or 'default'}, {options.folds} folds, "
          f"ranking {options.ranking or 'the task type default'}, seed {options.seed}\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
