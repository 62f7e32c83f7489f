"""A model's score on the project's evaluation tasks, and the previous model's on the same labels.

Evaluation tasks (adapters.data.evaluation) are audited like every labeled task (out of fold), but
the full-data model that gives the round's score never trains on them. The previous round's model is
scored again on today's labels too: a rising score then shows a better model, not only evaluation
labels that humans corrected meanwhile.
"""
from __future__ import annotations

import logging
from typing import Any

from relabel.adapters import TaskAdapter
from relabel.adapters.data.evaluation import evaluation_split
from relabel.backend.config import Settings
from relabel.backend.model_store import ModelStore

log = logging.getLogger(__name__)


def held_out_tasks(adapter: TaskAdapter, settings: Settings, tasks: list[dict], labeled: list) -> tuple[set[int], str]:
    """(ids of the labeled evaluation tasks, how they were chosen); none when holding them out would leave
    too little to train on."""
    chosen, source = evaluation_split(tasks, settings.eval_field, settings.evaluation["values"], settings.eval_share,
                                      settings.seed)
    evaluation = {e.task_id for e in labeled if e.task_id in chosen}
    if not evaluation:
        return set(), source if source == "none" else f"{source} (no labeled task among them yet)"
    problem = adapter.training_problem([e.target for e in labeled if e.task_id not in evaluation], settings.n_folds)
    if problem:
        return set(), f"none: holding out {len(evaluation)} evaluation task(s) would leave too few to train on ({problem})"
    return evaluation, source


def rounded(metrics: dict) -> dict:
    """Metrics as JSON keeps them: 6 decimals, and None where a metric is undefined (NaN)."""
    return {name: (None if value != value else round(value, 6)) if isinstance(value, float) else value
            for name, value in metrics.items()}


def previous_model_score(adapter: TaskAdapter, settings: Settings, store: ModelStore, project_id: int,
                         previous: dict | None, evaluation_examples: list) -> dict | None:
    """The previous model version's metrics on today's evaluation labels, or why it cannot be scored.
    (The examples' inputs are read already: an image task's is its local file.)"""
    if previous is None or not evaluation_examples:
        return None
    answer: dict[str, Any] = {"version": previous["version"]}
    try:
        old = settings.build_adapter(previous["label_config"])
        if old.name != adapter.name or list(old.classes) != list(adapter.classes):
            return {**answer, "problem": "not comparable: the labeling config changed since"}
        model = old.load_model(store.version_dir(project_id, previous["version"]))
        outputs = model.predict(old.featurize([e.input for e in evaluation_examples]))
        return {**answer, **rounded(adapter.evaluate([e.target for e in evaluation_examples], list(outputs)))}
    except Exception as error:  # an old model in another form; the round goes on without its score
        log.warning("previous model not scored", extra={"project": project_id, "model_version": previous["version"],
                                                        "reason": repr(error)})
        return {**answer, "problem": f"not scored: {type(error).__name__}"}
