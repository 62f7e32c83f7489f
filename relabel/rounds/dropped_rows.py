"""What a round does for task types whose flagged rows are dropped rather than re-labeled (clicks).

The paper drops noisy click rows: nobody re-labels a click log. The round writes the cleaned training
set (every labeled row this round trained on, minus the rows it flags) in the form Label Studio
imports and as CSV, and reports what dropping does: a model trained with the dropped rows and one
trained without them, scored on the same held-out dev rows (a backend job measures it: the backend
has the models). Later rounds train without the rows earlier rounds dropped
(`relabel.backend.training.rows_left_in`); nothing is deleted from Label Studio.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from relabel.adapters.task_fields import is_relabel_field


def cleaned_tasks(tasks: Sequence[dict], kept_task_ids: set[int]) -> list[dict]:
    """The kept tasks in Label Studio's import form: data (without the round tags) and annotations."""
    kept = []
    for task in tasks:
        if task["id"] not in kept_task_ids:
            continue
        data = {name: value for name, value in (task.get("data") or {}).items() if not is_relabel_field(name)}
        annotations = [{"result": a.get("result") or [], "was_cancelled": bool(a.get("was_cancelled")),
                        "ground_truth": bool(a.get("ground_truth"))} for a in task.get("annotations") or []]
        kept.append({"id": task["id"], "data": data, "annotations": annotations})
    return kept


def write_cleaned_export(out_dir: Path, tasks: Sequence[dict], labels: dict[int, Any], label_column: str) -> dict:
    """Write cleaned.json (Label Studio import form) and cleaned.csv (task data fields plus the label
    column, one row per kept task); `labels` maps each kept task to its label. Returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / "cleaned.json", out_dir / "cleaned.csv"
    json_path.write_text(json.dumps(list(tasks), indent=1))
    columns = sorted({name for task in tasks for name in task["data"]} - {label_column})
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *columns, label_column])
        for task in tasks:
            writer.writerow([task["id"], *(_cell(task["data"].get(name)) for name in columns), labels[task["id"]]])
    return {"json": str(json_path), "csv": str(csv_path)}


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def dropped_rows_section(tasks: Sequence[dict], items: Sequence[dict], flagged_ids: set[int], out_dir: Path,
                         label_column: str, comparison: dict) -> dict:
    """The report's "dropped rows" section: counts, the cleaned export, and `comparison` (the backend's
    compare_dropped job result: dev AUC / log-loss of the click model trained with and without the
    dropped rows, or why it was not measured). `items` are the rows this round trained on (the
    backend's stored predictions); `label_column` names the label in the CSV export."""
    by_id = {task["id"]: task for task in tasks}
    trained = [item["task"] for item in items if item["task"] in by_id]
    kept_ids = {task_id for task_id in trained if task_id not in flagged_ids}
    labels = {item["task"]: item["target"] for item in items}  # 1 click, 0 no click
    export = write_cleaned_export(out_dir, cleaned_tasks(tasks, kept_ids), labels, label_column)
    return {"trained_rows": len(trained), "dropped": len(trained) - len(kept_ids), "kept": len(kept_ids),
            "export": export, "dev": comparison.get("dev"), "dev_problem": comparison.get("dev_problem")}
