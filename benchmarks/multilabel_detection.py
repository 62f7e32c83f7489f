#!/usr/bin/env python3
"""Multi-label tags: how well the flags find wrongly tagged texts (by hand; prints a Markdown table).

Real texts with real multi-label tags: CoNLL-2003 English sentences, tagged with the entity classes
their human annotation holds (PER, LOC, ORG, MISC; none for a sentence without entities), so the tags
come from people, not from us. Noise on a share of the sentences:
- "flip": one tag, drawn at random, toggled (added where absent, dropped where present);
- "missing": one present tag dropped (annotators forget tags more often than they invent them).
The product's multi-label text model (MiniLM embeddings + TF-IDF, one-vs-rest logistic heads) predicts
each sentence out of fold (5 folds) and in sample; every detector reads those same probabilities:
- ours (default): the lowest label-quality sentences (per-tag adjusted, worst tag), as many as cleanlab
  counts as issues;
- cleanlab `find_label_issues` (multi-label, its defaults), and the same budget ranked by cleanlab's
  default multi-label score;
- the paper's rule: in-sample predicted tag set != the label; and the same out of fold;
- random, as many as ours.
AUROC / AUPRC / P@k score the row's ranking (cleanlab's multi-label label quality).

    .venv/bin/python -m benchmarks.multilabel_detection [--sentences 3000] [--noise 0.1 0.2]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from relabel.adapters.data.folds import in_sample_outputs, repeated_out_of_fold_outputs
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.multilabel import find_label_issues, get_label_quality_scores
from relabel.adapters.tasks.multilabel import MultiLabelTextAdapter
from benchmarks.datasets import add_embedding_layers_argument, embedding_layers_option
from benchmarks.detection_quality import scores
from benchmarks.ner_data import CONLL_CLASSES, DEFAULT_CONLL, read_conll

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="tags" toName="text" choice="multiple">'
          + "".join(f'<Choice value="{c}"/>' for c in CONLL_CLASSES) + "</Choices></View>")


def inject(tags: np.ndarray, share: float, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy tags, truth mask of the changed rows): one tag toggled ("flip") or one present tag dropped
    ("missing", only rows that have a tag) in `share` of the rows."""
    rng = np.random.default_rng(seed)
    candidates = np.arange(len(tags)) if kind == "flip" else np.flatnonzero(tags.any(axis=1))
    chosen = rng.choice(candidates, int(round(share * len(tags))), replace=False)
    noisy = tags.copy()
    for row in chosen:
        column = rng.integers(tags.shape[1]) if kind == "flip" else rng.choice(np.flatnonzero(tags[row]))
        noisy[row, column] = ~noisy[row, column]
    truth = np.zeros(len(tags), dtype=bool)
    truth[chosen] = True
    return noisy, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_CONLL)
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--kinds", nargs="+", default=["flip", "missing"], choices=["flip", "missing"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_embedding_layers_argument(parser)
    args = parser.parse_args()

    sentences = read_conll(args.data / "train.txt", limit=args.sentences)
    texts = [" ".join(s.words) for s in sentences]
    clean = np.array([[any(label == c for _, _, label in s.spans) for c in CONLL_CLASSES] for s in sentences])
    adapter = MultiLabelTextAdapter(CONFIG, seed=args.seed,
                                    **embedding_layers_option(args.embedding_layers))
    started = time.perf_counter()
    features = adapter.featurize(texts)
    print(f"{len(texts)} sentences, tag shares {dict(zip(CONLL_CLASSES, clean.mean(axis=0).round(3)))}, "
          f"{(~clean.any(axis=1)).mean():.1%} without tags; embedded in {time.perf_counter() - started:.0f} s\n")
    print(TABLE_HEAD)
    for kind in args.kinds:
        for share in args.noise:
            noisy, truth = inject(clean, share, kind, args.seed)
            targets = [[c for c, chosen in zip(CONLL_CLASSES, row) if chosen] for row in noisy]
            print_rows(adapter, f"{kind} {share:.0%} ({truth.sum()})", noisy, truth,
                       *out_of_fold_and_in_sample(adapter, features, targets, args.folds, args.seed), args.seed)


def out_of_fold_and_in_sample(adapter, features, targets: list, folds: int, seed: int):
    """(out-of-fold tag probabilities, in-sample ones, seconds of each)."""
    started = time.perf_counter()
    oof = np.vstack(repeated_out_of_fold_outputs(adapter.new_model, features, targets, folds, 1,
                                                 adapter.average_outputs, seed, strata=adapter.fold_strata(targets)))
    oof_seconds = time.perf_counter() - started
    started = time.perf_counter()
    in_sample = np.vstack(in_sample_outputs(adapter.new_model().fit(features, targets), features))
    return oof, in_sample, oof_seconds, time.perf_counter() - started


TABLE_HEAD = ("| noise | detector | flagged | precision | recall | F1 | AUROC | AUPRC | P@k | seconds |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def print_rows(adapter, setting: str, noisy: np.ndarray, truth: np.ndarray, oof: np.ndarray, in_sample: np.ndarray,
               oof_seconds: float, in_sample_seconds: float, seed: int) -> None:
    """One table row per detector, all reading the same out-of-fold and in-sample tag probabilities."""
    targets = [[c for c, chosen in zip(adapter.classes, row) if chosen] for row in noisy]
    quality = get_label_quality_scores(noisy, oof)

    def flags_of(outputs, options):
        found = adapter.find_disagreements(list(range(len(targets))), targets, list(outputs), options)
        return np.array([d.flagged for d in found]), np.array([d.label_quality for d in found])

    rows = []
    ours, _ = flags_of(oof, FlagOptions())
    rows.append(("ours: OOF, budget = cleanlab's count, ranked by label quality (default)", ours, quality,
                 oof_seconds))
    # cleanlab as it comes: its issues, ranked by its default multi-label score (no per-tag
    # adjustment, an exponential moving average over the tags)
    plain = get_label_quality_scores(noisy, oof, method="self_confidence")
    rows.append(("OOF, cleanlab find_label_issues (multi-label)", find_label_issues(noisy, oof), plain,
                 oof_seconds))
    plain_flags = np.zeros(len(truth), dtype=bool)
    plain_flags[np.argsort(plain, kind="stable")[:int(ours.sum())]] = True
    rows.append(("OOF, same budget, ranked by cleanlab's default score", plain_flags, plain, oof_seconds))
    paper, paper_quality = flags_of(in_sample, FlagOptions(flag_rule="disagreement"))
    rows.append(("paper: in-sample, predicted tags != label", paper, paper_quality, in_sample_seconds))
    rows.append(("OOF, predicted tags != label", flags_of(oof, FlagOptions(flag_rule="disagreement"))[0],
                 quality, oof_seconds))
    rng = np.random.default_rng(seed)
    random_flags = np.zeros(len(truth), dtype=bool)
    random_flags[rng.choice(len(truth), int(ours.sum()), replace=False)] = True
    rows.append(("random", random_flags, rng.random(len(truth)), 0.0))
    for name, flagged, row_quality, seconds in rows:
        row = scores(flagged, row_quality, truth)
        print(f"| {setting} | {name} | {row['flagged']} | {row['precision']:.3f} | "
              f"{row['recall']:.3f} | {row['f1']:.3f} | {row['auroc']:.3f} | {row['auprc']:.3f} | "
              f"{row['p_at_k']:.3f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
