"""What earlier rounds left: their reports, what humans did with their flags, and the labels they confirmed.

Pure functions over report dicts (report.json's form) and the current labels; `earlier_reports` reads
the reports a rounds folder keeps.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from relabel.adapters.base import Disagreement
from relabel.adapters.noise.probabilities import confirmed_labels, suppress_confirmed
from relabel.rounds.errors import RoundError


def earlier_reports(rounds_dir: Path, project_id: int, round_number: int) -> list[dict]:
    """The reports of the project's completed rounds before `round_number`, oldest first."""
    reports = []
    for earlier in range(1, round_number):
        path = Path(rounds_dir) / f"round-{earlier}" / "report.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        if report["project"]["id"] != project_id:
            raise RoundError(f"{path} belongs to project {report['project']['id']}, not {project_id}: "
                             f"use another --rounds-dir")
        reports.append(report)
    return reports


def project_history(backend, project_id: int, round_number: int, rounds_dir: Path) -> list[dict]:
    """The reports of the project's completed rounds before `round_number`, oldest first, from the backend,
    which keeps them with the project (any machine's next round finds them). A project whose history the
    backend does not have yet takes the reports a rounds folder kept (rounds run before the backend kept
    them), and gives them to the backend."""
    kept = [report for report in backend.rounds(project_id) if report["round"] < round_number]
    if kept:
        return kept
    local = earlier_reports(rounds_dir, project_id, round_number)
    for report in local:
        backend.save_round(project_id, report)
    return local


def round_history(reports: list[dict], current_labels: dict) -> list[dict]:
    """Each earlier round: its model and score, how many wrong labels it estimated, how many it flagged,
    and what humans did with them since."""
    return [{"round": report["round"], "model_version": report["model_version"], "flagged": report["flagged"],
             "evaluation": report.get("evaluation"), "estimated_wrong_labels": estimated_wrong_labels(report),
             "outcome": previous_round_outcome(report["flagged_tasks"], current_labels)} for report in reports]


def estimated_wrong_labels(report: dict) -> int | None:
    """A report's estimate of the wrong labels among its labeled tasks."""
    rate = report.get("estimated_noise_rate")
    return None if rate is None else round(rate * report["labeled"])


def previous_round_outcome(previous_flags: Iterable[dict], current_labels: dict[int, dict]) -> dict:
    """What humans did with the tasks a previous round flagged.

    `previous_flags`: that round's flagged rows {task, human, label_key, annotation}. `current_labels`:
    task id -> {target, annotation} now, `target` being the label's key (`TaskAdapter.target_key`).
    A task counts as changed when its label differs, confirmed when a newer annotation kept the
    label, not reviewed when the same annotation still stands. Changed tasks whose new label is the
    model's (the flag's `model_key`, where the adapter gives one) are also counted in
    `changed_to_model` (text generation: "replaced" by the model's text; the others "rewritten").
    """
    outcome = Counter()
    for flag in previous_flags:
        now = current_labels.get(flag["task"])
        if now is None:
            outcome["gone"] += 1  # deleted, or its annotations were removed
        elif now["target"] != flag.get("label_key", flag["human"]):
            outcome["changed"] += 1
            if flag.get("model_key") is not None and now["target"] == flag["model_key"]:
                outcome["changed_to_model"] += 1
        elif now["annotation"] != flag["annotation"]:
            outcome["confirmed"] += 1
        else:
            outcome["not_reviewed"] += 1
    total = sum(outcome.values())
    reviewed = outcome["changed"] + outcome["confirmed"]
    return {"flagged": total, "changed": outcome["changed"], "changed_to_model": outcome["changed_to_model"],
            "confirmed": outcome["confirmed"],
            "not_reviewed": outcome["not_reviewed"], "gone": outcome["gone"],
            "precision": round(outcome["changed"] / total, 4) if total else None,
            "precision_of_reviewed": round(outcome["changed"] / reviewed, 4) if reviewed else None}


def confirmed_label_quality(earlier_reports: Sequence[dict], current_labels: dict[int, dict],
                            quality_method: str | None = None) -> dict[int, float]:
    """Task id -> label-quality score at which a human last confirmed the task's current label.

    `earlier_reports`: the reports of earlier rounds, oldest first. A task is confirmed when a round
    flagged it and a newer annotation kept the label it had then; a later change of label forgets it.
    (The backend reads the same from the reports it keeps: a confirmed label is never a suspect its
    second out-of-fold pass leaves out.)
    `quality_method`: the score this round ranks by. A round whose report names another one (run with another
    `--ranking`) scored on another scale, which no doubt of this round's can be compared with: its confirmations
    count as -inf, so they hold until the label changes or a round scored alike confirms it again.
    """
    def on_this_scale(report: dict) -> list[dict]:
        scored_with = (report.get("detection") or {}).get("quality_method")
        if quality_method is None or scored_with is None or scored_with == quality_method:
            return report["flagged_tasks"]
        return [{**flag, "label_quality": float("-inf")} for flag in report["flagged_tasks"]]

    return confirmed_labels([on_this_scale(report) for report in earlier_reports], current_labels)


def apply_confirmation_memory(disagreements: Sequence[Disagreement], confirmed: dict[int, float],
                              margin: float) -> tuple[list[Disagreement], list[int]]:
    """Unflag the tasks humans already confirmed, unless the model now doubts them by more than `margin`.

    Returns the disagreements (suppressed ones no longer flagged) and the suppressed task ids.
    """
    if not disagreements:
        return [], []
    kept, suppressed = suppress_confirmed(
        np.array([d.flagged for d in disagreements]), np.array([d.label_quality for d in disagreements]),
        np.array([confirmed.get(d.task_id, np.nan) for d in disagreements]), margin)
    updated = [replace(d, flagged=bool(flag)) for d, flag in zip(disagreements, kept)]
    return updated, [d.task_id for d, hidden in zip(disagreements, suppressed) if hidden]


