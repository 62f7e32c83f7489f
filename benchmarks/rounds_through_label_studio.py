#!/usr/bin/env python3
"""The rounds benchmark's default row, on a small TREC sample, through a real Label Studio (run by hand).

Proves that `rounds_simulation.py` measures the product: the same rounds run twice, once through
Label Studio + the Re-Label backend + `scripts/sync_round.py` (the simulated annotator writes new
annotations through the API), once through the library as `rounds_simulation.py` runs them. Same
data, seed, model and annotator: the per-round numbers must be identical. Prints both tables.

    .venv/bin/python -m benchmarks.rounds_through_label_studio [--limit 300] [--rounds 2]

Needs Label Studio in .venv-ls (scripts/setup.sh), or LABEL_STUDIO_BIN.
"""
from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from relabel.adapters import adapter_for_config
from relabel.adapters.base import latest_annotation
from relabel.adapters.noise.flags import FlagOptions
from benchmarks.datasets import DEFAULT_TREC, TREC_CLASSES, flip_uniformly, label_config, load_trec
from benchmarks.rounds_simulation import Row, Strategy, run_strategy, simulate_annotator
from relabel.stack import free_port, start_backend, start_label_studio
from relabel.rounds import RoundOptions, run_round

CONFIG = label_config(TREC_CLASSES)


def choice_result(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def current_labels(ls, project_id: int) -> dict[int, str]:
    """Task id -> its label now: the newest annotation's, chosen as the backend chooses it."""
    labels = {}
    for task in ls.tasks.list(project=project_id, fields="all", page_size=500):
        task = task.model_dump(mode="json")
        labels[task["id"]] = latest_annotation(task)["result"][0]["value"]["choices"][0]
    return labels


def through_label_studio(texts: list[str], noisy: list[str], truth: list[str], options, work: Path) -> list[Row]:
    token = secrets.token_hex(20)
    label_studio = start_label_studio(work / "ls-data", free_port(), "bench@example.com", "bench-password-1",
                                      token, work / "label-studio.log")
    backend = start_backend(free_port(), label_studio.url, token, work / "models", work / "backend.log")
    try:
        from label_studio_sdk import LabelStudio

        ls = LabelStudio(base_url=label_studio.url, api_key=token)
        project = ls.projects.create(title="TREC rounds benchmark", label_config=CONFIG)
        ls.projects.import_tasks(id=project.id, request=[
            {"data": {"text": text}, "annotations": [{"result": choice_result(label)}]}
            for text, label in zip(texts, noisy)])
        task_ids = sorted(t.id for t in ls.tasks.list(project=project.id, fields="task_only", page_size=500))
        index_of = {task_id: i for i, task_id in enumerate(task_ids)}
        annotator_rng = np.random.default_rng(options.seed + 1)  # as run_strategy seeds it
        labels = [noisy[i] for i in range(len(texts))]
        rows = [Row("our default, through Label Studio", 0, float(np.mean(np.array(labels) == np.array(truth))),
                    0, 0, None, float("nan"), None)]
        cumulative = 0
        for round_number in range(1, options.rounds + 1):
            started = time.perf_counter()
            report = run_round(RoundOptions(project=project.id, label_studio_url=label_studio.url, api_key=token,
                                            backend_url=backend.url, rounds_dir=str(work / "rounds"), quiet=True,
                                            folds=options.folds))
            shown = np.array(sorted(index_of[t["task"]] for t in report["flagged_tasks"]), dtype=int)
            suggested = {index_of[t["task"]]: t["model"] for t in report["flagged_tasks"]}
            precision = float(np.mean([labels[i] != truth[i] for i in shown])) if len(shown) else None
            answers = simulate_annotator(truth, suggested, shown, options.annotator_accuracy, annotator_rng,
                                         TREC_CLASSES)
            for index, answer in answers.items():  # a new annotation, also where the label is kept
                ls.annotations.create(id=task_ids[index], result=choice_result(answer))
            stored = current_labels(ls, project.id)
            labels = [stored[task_id] for task_id in task_ids]
            cumulative += len(shown)
            rows.append(Row("our default, through Label Studio", round_number,
                            float(np.mean(np.array(labels) == np.array(truth))), len(shown), cumulative, precision,
                            float("nan"), time.perf_counter() - started))
        return rows
    finally:
        backend.stop()
        label_studio.stop()


def through_library(texts: list[str], noisy: list[str], truth: list[str], options) -> list[Row]:
    adapter = adapter_for_config(CONFIG, {"text-classification": {"seed": options.seed}})
    features = adapter.featurize(texts)
    start = Row("", 0, float(np.mean(np.array(noisy) == np.array(truth))), 0, 0, None, float("nan"), None)
    args = argparse.Namespace(folds=options.folds, repeats=1, seed=options.seed, rounds=options.rounds,
                              annotator_accuracy=options.annotator_accuracy, finetune_test=None,
                              margin=FlagOptions().confirmation_margin)
    strategy = Strategy("our default, library (rounds_simulation.py)", FlagOptions(), memory=True)
    # the test set is not the point here: "test" on the training features keeps run_strategy's contract
    return run_strategy(strategy, adapter, features, features, noisy, truth, truth, start, args, {}, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_TREC)
    parser.add_argument("--limit", type=int, default=300, help="first N TREC train questions")
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--annotator-accuracy", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    texts, truth = load_trec(options.data / "train.txt")
    texts, truth = texts[:options.limit], truth[:options.limit]
    noisy, flipped = flip_uniformly(truth, TREC_CLASSES, options.noise, options.seed)
    library = through_library(texts, noisy, truth, options)
    with tempfile.TemporaryDirectory(prefix="relabel-bench-") as work:
        served = through_label_studio(texts, noisy, truth, options, Path(work))

    print(f"TREC first {len(texts)} questions, {flipped.sum()} labels flipped ({options.noise:.0%} uniform), "
          f"annotator accuracy {options.annotator_accuracy:.0%}, {options.folds} folds, seed {options.seed}\n")
    print("| path | round | label accuracy | shown | shown cumulative | flag precision | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in library + served:
        precision = "-" if row.precision is None else f"{row.precision:.3f}"
        seconds = "-" if row.seconds is None else f"{row.seconds:.1f}"
        print(f"| {row.strategy or library[1].strategy} | {row.round} | {row.label_accuracy:.2%} | {row.shown} "
              f"| {row.shown_cumulative} | {precision} | {seconds} |")
    same = all((a.label_accuracy, a.shown, a.shown_cumulative, a.precision)
               == (b.label_accuracy, b.shown, b.shown_cumulative, b.precision) for a, b in zip(library, served))
    print(f"\nSame numbers on both paths: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
