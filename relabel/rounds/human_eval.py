"""Human evaluation (the paper's second column): people label a seeded random sample of tasks nobody
had labeled, and later rounds score the model of the round that drew the sample on their labels.

A round asked for it (`--human-eval N`) draws N of the tasks without a label and puts them in a
"Human evaluation round R" tab; its report keeps the sample and its model version. Every later round
counts how many of them people labeled since, and the model's agreement with them, with a 95%
confidence interval (Wilson), and the task type's metrics on them.
"""
from __future__ import annotations

import random
from typing import Callable

from relabel.adapters.base import TaskAdapter
from relabel.adapters.noise.metrics import agreement_interval


def draw_sample(stored: dict, size: int, project_id: int, round_number: int) -> list[int]:
    """`size` task ids among those nobody labeled, drawn with a seed of project and round (a re-run draws the same)."""
    unlabeled = sorted(item["task"] for item in stored.get("unlabeled") or [])
    return sorted(random.Random(f"{project_id}:{round_number}").sample(unlabeled, min(size, len(unlabeled))))


def human_evaluation(earlier_reports: list[dict], items: list[dict], adapter: TaskAdapter,
                     predictions_of: Callable[..., dict]) -> list[dict]:
    """Per earlier round that drew a sample: how many people labeled, the model's agreement with them
    (share, low, high of the 95% interval) and the task type's metrics. `predictions_of(version, fields)`
    gives a model's stored outputs, only the named keys of each entry (GET /projects/N/predictions)."""
    labels = {item["task"]: item["target"] for item in items}
    results = []
    for report in earlier_reports:
        sample = report.get("human_eval_sample")
        if not sample:
            continue
        outputs = {entry["task"]: adapter.output_from_json(entry["output"])
                   for entry in predictions_of(sample["model_version"], ("task", "output")).get("unlabeled") or []
                   if "output" in entry}
        scored = [task for task in sample["tasks"] if task in labels and task in outputs]
        agreeing = sum(adapter.target_key(adapter.output_target(outputs[task])) == adapter.target_key(labels[task])
                       for task in scored)
        share, low, high = agreement_interval(agreeing, len(scored)) if scored else (None, None, None)
        metrics = adapter.evaluate([labels[t] for t in scored], [outputs[t] for t in scored]) if scored else {}
        results.append({"round": report["round"], "model_version": sample["model_version"],
                        "sampled": len(sample["tasks"]), "labeled": len(scored), "agreement": share,
                        "low": low, "high": high,
                        "metrics": {name: None if isinstance(value, float) and value != value else value
                                    for name, value in metrics.items()}})
    return results
