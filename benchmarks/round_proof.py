#!/usr/bin/env python3
"""Does each round make data and model better? Three rounds on TREC through a real Label Studio (run by hand).

TREC's 4,965 training questions with 20% of the labels flipped at random are imported into Label
Studio; each round runs through the product (`run_round`, the backend, its evaluation split), and a
simulated annotator answers every task of the round's tab (the true label with probability
--annotator-accuracy, else the model's suggestion when wrong). After each round the round's model
(model-vN, served by the backend's /predict) is scored on the evaluation tasks three ways: against the
labels as they stood that round (what the product's report shows), against the original noisy labels,
and against the true labels. Prints the per-round table in the paper's form and writes the product's
own chart of the last round (--chart).

    .venv/bin/python -m benchmarks.round_proof [--limit 4965] [--rounds 3] [--noise 0.2]
        [--chart benchmarks/round_proof_chart.png]

Needs Label Studio in .venv-ls (scripts/setup.sh), or LABEL_STUDIO_BIN.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.datasets import DEFAULT_TREC, TREC_CLASSES, flip_uniformly, label_config, load_trec
from benchmarks.rounds_simulation import simulate_annotator
from benchmarks.rounds_through_label_studio import choice_result, current_labels
from relabel.rounds import RoundOptions, run_round
from relabel.stack import free_port, start_backend, start_label_studio

CONFIG = label_config(TREC_CLASSES)


def served_labels(backend_url: str, project_id: int, task_ids: list[int], texts: dict[int, str]) -> dict[int, str]:
    """model-vN's label for each task, from the backend's /predict (the full-data model)."""
    labels = {}
    for start in range(0, len(task_ids), 500):
        batch = task_ids[start:start + 500]
        answer = requests.post(f"{backend_url}/predict", timeout=600, json={
            "project": project_id, "tasks": [{"id": t, "data": {"text": texts[t]}} for t in batch]}).json()
        labels.update({t: r["result"][0]["value"]["choices"][0] for t, r in zip(batch, answer["results"])})
    return labels


def accuracy(predicted: dict[int, str], reference: dict[int, str], task_ids: list[int]) -> float:
    return float(np.mean([predicted[t] == reference[t] for t in task_ids]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trec", type=Path, default=DEFAULT_TREC)
    parser.add_argument("--limit", type=int, default=4965, help="questions taken from TREC's train.txt")
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--annotator-accuracy", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chart", type=Path, default=None, help="copy the last round's chart.png here")
    options = parser.parse_args()

    texts, truth = load_trec(options.trec / "train.txt")
    texts, truth = texts[:options.limit], truth[:options.limit]
    noisy, _ = flip_uniformly(truth, TREC_CLASSES, options.noise, options.seed)
    work = Path(tempfile.mkdtemp(prefix="relabel-round-proof-"))
    token = secrets.token_hex(20)
    label_studio = start_label_studio(work / "ls-data", free_port(), "bench@example.com", "bench-password-1", token,
                                      work / "label-studio.log")
    backend = start_backend(free_port(), label_studio.url, token, work / "models", work / "backend.log")
    try:
        from label_studio_sdk import LabelStudio

        ls = LabelStudio(base_url=label_studio.url, api_key=token)
        project = ls.projects.create(title="TREC round proof", label_config=CONFIG)
        ls.projects.import_tasks(id=project.id, request=[
            {"data": {"text": text}, "annotations": [{"result": choice_result(label)}]} for text, label in zip(texts, noisy)])
        task_ids = sorted(t.id for t in ls.tasks.list(project=project.id, fields="task_only", page_size=1000))
        index_of = {task_id: i for i, task_id in enumerate(task_ids)}
        by_task = {"text": {t: texts[i] for t, i in index_of.items()}, "truth": {t: truth[i] for t, i in index_of.items()},
                   "noisy": {t: noisy[i] for t, i in index_of.items()}}
        annotator = np.random.default_rng(options.seed + 1)
        lines = ["| round | model | evaluation tasks | accuracy, labels as that round had them (the report) | "
                 "on the original noisy labels | on the true labels | the round before's model, same labels | "
                 "wrong labels left after the round's answers | tasks shown | shown so far | precision | seconds |",
                 "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        shown_so_far = 0
        for round_number in range(1, options.rounds + 1):
            started = time.perf_counter()
            report = run_round(RoundOptions(project=project.id, label_studio_url=label_studio.url, api_key=token,
                                            backend_url=backend.url, rounds_dir=str(work / "rounds"), quiet=True))
            evaluation = report["evaluation"]
            stored = requests.get(f"{backend.url}/projects/{project.id}/predictions", timeout=600).json()
            evaluation_ids = sorted(i["task"] for i in stored["items"] if i["split"] == "evaluation")
            model_labels = served_labels(backend.url, project.id, evaluation_ids, by_task["text"])
            labels_now = current_labels(ls, project.id)
            shown = [t["task"] for t in report["flagged_tasks"]]
            precision = np.mean([labels_now[t] != by_task["truth"][t] for t in shown]) if shown else float("nan")
            suggested = {f["task"]: f["model"] for f in report["flagged_tasks"]}
            answers = simulate_annotator([by_task["truth"][t] for t in task_ids],
                                         [suggested.get(t, "") for t in task_ids],
                                         np.array([index_of[t] for t in shown], dtype=int),
                                         options.annotator_accuracy, annotator, TREC_CLASSES)
            for index, answer in answers.items():
                ls.annotations.create(id=task_ids[index], result=choice_result(answer))
            shown_so_far += len(shown)
            after = current_labels(ls, project.id)
            wrong_left = sum(after[t] != by_task["truth"][t] for t in task_ids)
            previous = (evaluation.get("previous") or {}).get("accuracy")
            lines.append(
                f"| {round_number} | {report['model_version']} | {evaluation['tasks']} | "
                f"{evaluation['model']['accuracy']:.3f} | {accuracy(model_labels, by_task['noisy'], evaluation_ids):.3f} | "
                f"{accuracy(model_labels, by_task['truth'], evaluation_ids):.3f} | "
                f"{'-' if previous is None else f'{previous:.3f}'} | {wrong_left} | {len(shown)} | {shown_so_far} | "
                f"{precision:.3f} | {time.perf_counter() - started:.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
        if options.chart:
            shutil.copy(Path(report["report_dir"]) / "chart.png", options.chart)
        print(f"\nTREC, {len(texts)} questions, {options.noise:.0%} uniform noise ({sum(a != b for a, b in zip(noisy, truth))} "
              f"wrong labels), annotator accuracy {options.annotator_accuracy:.0%}, seed {options.seed}\n")
        print("\n".join(lines))
        print(json.dumps({"evaluation_source": evaluation["source"]}))
    finally:
        backend.stop()
        label_studio.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
