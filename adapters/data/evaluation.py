"""Which labeled tasks are evaluation tasks: they never train the model whose score they give.

A project marks them in a task data field (e.g. `split` = dev or test); where none is marked, a fixed
share of the tasks is drawn by a seeded hash of each task's id, so a task stays in the same split
round after round, and new tasks join by the same rule. Pure: task dicts in, ids out.
"""
from __future__ import annotations

import hashlib
from typing import Sequence


def _unit(seed: int, task_id: int) -> float:
    """A number in [0, 1) fixed by the seed and the task id."""
    digest = hashlib.sha256(f"relabel-evaluation:{seed}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def evaluation_split(tasks: Sequence[dict], field: str, values: Sequence[str], share: float,
                     seed: int = 0) -> tuple[set[int], str]:
    """(ids of the evaluation tasks, how they were chosen): the tasks whose data[field] is one of `values`
    (case ignored), or where no task is marked, the seeded `share` of all tasks (0: none)."""
    wanted = {value.strip().lower() for value in values if value.strip()}
    marked = {task["id"] for task in tasks
              if str((task.get("data") or {}).get(field, "")).strip().lower() in wanted}
    if marked:
        return marked, f"marked: data.{field} is {' or '.join(sorted(wanted))}"
    if share <= 0:
        return set(), "none"
    return {task["id"] for task in tasks if _unit(seed, task["id"]) < share}, f"held out: a seeded {share:.0%} of tasks"
