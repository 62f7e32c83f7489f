"""The round report: what a round flagged, per class and per kind of error, and the earlier rounds.

Pure functions: `build_report` makes the plain dict written as report.json (relabel.rounds.markdown
renders it); the round driver does the I/O.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence, Set

from relabel.adapters.base import Disagreement


def ranked_flags(disagreements: Sequence[Disagreement], first: Set[int] = frozenset()) -> list[Disagreement]:
    """The flagged disagreements, most suspicious (lowest label quality) first; ties by task id. Tasks in
    `first` (the evaluation tasks: a wrong label there misleads every score) come before the others."""
    return sorted((d for d in disagreements if d.flagged),
                  key=lambda d: (d.task_id not in first, d.label_quality, d.task_id))


def build_report(*, round_number: int, project: dict, model_version: str, stored: dict,
                 disagreements: Sequence[Disagreement], annotations: dict[int, int | None],
                 history: list[dict], tab_url: str | None, dry_run: bool, detection: dict | None = None,
                 estimated_noise_rate: float | None = None, suppressed: Sequence[int] = (),
                 label_keys: dict[int, str] | None = None, labels_are_classes: bool = True,
                 error_kinds: Mapping[str, str] | None = None, evaluation_tasks: Set[int] = frozenset(),
                 annotators: Mapping[int, int | None] | None = None, order: Sequence[Disagreement] | None = None,
                 groups: Mapping[int, str] | None = None) -> dict:
    """The round's report as a plain dict (report.json); relabel.rounds.markdown renders it.

    Classes come from each disagreement's `held_classes` (classes in the human label) and
    `flagged_classes` (classes it is flagged for). Task types whose labels hold several classes
    (spans, boxes) name their `error_kinds` ({kind: meaning}; `TaskAdapter.error_kinds`) and say how
    each label differs in `Disagreement.errors`, summed per class in `errors_per_class`; for them
    "human label -> model label" pairs mean nothing. `label_keys` (task -> `TaskAdapter.target_key`)
    let the next round tell a changed label from a confirmed one. Without `labels_are_classes` (free
    text) there are no per-class counts and no pairs. Flags of `evaluation_tasks` come first and are
    counted apart; `annotators` (task -> who made its label) go with each flagged task, for the next
    round's per-annotator counts. `order` is the tab's order of the flags (default: `ranked_flags`), and
    `groups` names each flagged task's group in it (relabel.rounds.ordering).
    """
    flags = list(order) if order is not None else ranked_flags(disagreements, evaluation_tasks)
    annotators, groups = annotators or {}, groups or {}
    per_class = Counter(c for d in disagreements for c in d.held_classes) if labels_are_classes else Counter()
    flagged_per_class = Counter(c for d in flags for c in d.flagged_classes) if labels_are_classes else Counter()
    error_kinds = dict(error_kinds or {})
    counts_errors = bool(error_kinds) and bool(disagreements)
    errors_per_class: dict[str, Counter] = {}
    for d in flags:
        for kind, counts in (d.errors or {}).items():
            for name, count in counts.items():
                errors_per_class.setdefault(name, Counter())[kind] += count
    flips = Counter() if counts_errors or not labels_are_classes else Counter((d.human, d.model) for d in flags)
    label_keys = label_keys or {}
    return {
        "round": round_number,
        "project": {"id": project["id"], "title": project.get("title")},
        "model_version": model_version,
        "adapter": stored.get("adapter"),
        "labels_are_classes": labels_are_classes,
        "prediction_source": stored.get("prediction_source"),
        "n_folds": stored.get("n_folds"),
        "n_repeats": stored.get("n_repeats"),
        "detection": detection or {},
        "dry_run": dry_run,
        "labeled": len(disagreements),
        "estimated_noise_rate": None if estimated_noise_rate is None else round(estimated_noise_rate, 4),
        "flagged": len(flags),
        "evaluation_tasks": len(evaluation_tasks),
        "flagged_evaluation": sum(d.task_id in evaluation_tasks for d in flags),
        "suppressed_confirmed": len(suppressed),
        "suppressed_tasks": sorted(suppressed),
        "flagged_share": round(len(flags) / len(disagreements), 4) if disagreements else 0.0,
        "per_class": {label: {"labeled": per_class[label], "flagged": flagged_per_class[label]}
                      for label in sorted(set(per_class) | set(flagged_per_class))},
        "errors_per_class": {name: dict(errors_per_class[name]) for name in sorted(errors_per_class)}
        if counts_errors else None,
        "error_kinds": list(error_kinds) if counts_errors else None,
        "error_meanings": error_kinds if counts_errors else None,
        "warnings": stored.get("warnings") or [],
        "flips": [{"human": human, "model": model, "count": count}
                  for (human, model), count in flips.most_common()],
        "flagged_tasks": [{"rank": rank, "task": d.task_id, "annotation": annotations.get(d.task_id),
                           "annotator": annotators.get(d.task_id), "human": d.human,
                           "label_key": label_keys.get(d.task_id, d.human), "model": d.model,
                           "label_quality": round(d.label_quality, 6),
                           "split": "evaluation" if d.task_id in evaluation_tasks else "training",
                           "group": groups.get(d.task_id), **d.detail} for rank, d in enumerate(flags, start=1)],
        "groups": [{"group": name, "tasks": count} for name, count in Counter(
            groups[d.task_id] for d in flags if d.task_id in groups).items()],
        "propagated": sum("like_task" in d.facts for d in flags),
        "history": history,
        "tab_url": tab_url,
    }


