"""The order of a round's tab, for labeling efficiency (the paper's sorted to-label data), and the tasks
carried over from the fixes people made in earlier rounds (its re-labeling by data pattern).

Tab order: the evaluation tasks' flags first (a wrong evaluation label misleads every score); then the
tasks like an earlier fix, one group per fix ("like task #123 (sports -> food)"); then the ordinary flags
in the chosen order: `rank` (most suspicious first), `confusion` (one group per human -> model confusion,
the group with the most likely-wrong labels first, ranked within), or `similarity` (each task followed
by its nearest neighbour in the model's feature space).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from relabel.adapters.base import Disagreement
from relabel.adapters.noise.neighbours import Fix, Propagated, propagate_by_patterns, propagate_fixes, similarity_order
from relabel.clients.backend import BackendError
from relabel.rounds.report import ranked_flags

log = logging.getLogger(__name__)

ORDERS = ("rank", "confusion", "similarity")
#: the group of the evaluation tasks' flags, first in every tab
EVALUATION_GROUP = "evaluation tasks (scores rest on them)"


def confusion_key(flag: Disagreement) -> str:
    """The kind of doubt a one-class label's flag shows: "sports → food", or "annotators split on sports"
    where people disagree and the model sides with their majority."""
    if flag.human == flag.model and "votes" in flag.facts:
        return f"annotators split on {flag.human}"
    return f"{flag.human} → {flag.model}"


def order_flags(flags: Sequence[Disagreement], order: str, vectors: dict[int, np.ndarray] | None = None,
                labels_are_classes: bool = True) -> tuple[list[Disagreement], dict[int, str]]:
    """(the flags in tab order, task id -> its group's name); `flags` come most suspicious first. Free-text
    labels, spans and boxes have no one confusion: `confusion` keeps their rank order."""
    flags = list(flags)
    # Spans and boxes hold several classes each: their "confusion" is a set of classes, not one rule, so they
    # keep the rank order (as free text does).
    if order == "confusion" and labels_are_classes and all(f.label_classes is None for f in flags):
        groups: dict[str, list[Disagreement]] = {}
        for flag in flags:
            groups.setdefault(confusion_key(flag), []).append(flag)
        # most flags first; equal groups: the one holding the surest error
        ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0].label_quality, kv[0]))
        return [f for _, members in ranked for f in members], {f.task_id: name for name, ms in ranked for f in ms}
    if order == "similarity" and vectors and all(f.task_id in vectors for f in flags) and len(flags) > 2:
        chain = similarity_order(np.vstack([vectors[f.task_id] for f in flags]))
        return [flags[i] for i in chain], {}
    return flags, {}


def propagated_flags(proposals: Sequence[Propagated], disagreements: dict[int, Disagreement],
                     item_task: Sequence[int]) -> tuple[list[Disagreement], dict[int, str]]:
    """The tasks like an earlier fix, as flags grouped by the fix ("like task #123 (sports → food)"), each
    group in order of similarity; groups in order of their best-supported proposal."""
    groups: dict[int, list[tuple[Propagated, Disagreement]]] = {}
    for proposal in proposals:
        task = item_task[proposal.item]
        flag = replace(disagreements[task], flagged=True,
                       facts={**disagreements[task].facts, "like_task": item_task[proposal.fix.source],
                              "similarity": round(proposal.similarity, 4), "support": proposal.support,
                              "suggested": str(proposal.fix.new)})
        groups.setdefault(proposal.fix.source, []).append((proposal, flag))
    ordered, names = [], {}
    for source, members in groups.items():
        fix = members[0][0].fix
        name = f"like task #{item_task[source]} ({fix.old} → {fix.new})"
        for _, flag in sorted(members, key=lambda pair: (-pair[0].similarity, pair[1].task_id)):
            ordered.append(flag)
            names[flag.task_id] = name
    return ordered, names


def earlier_fixes(earlier_reports: list[dict], label_keys: dict[int, str], index_of: dict[int, int],
                  annotations: dict[int, int | None],
                  first_labels: dict[int, str] | None = None) -> tuple[list[Fix], list[int]]:
    """What people did since earlier rounds: the labels they changed (item, label then -> label now), in
    the tab or anywhere else (`first_labels`: task -> the label the earliest round's model learned), and
    the tasks a tab showed whose label they kept with a newer annotation."""
    fixes, confirmed, seen = [], [], set()
    then = dict(first_labels or {})
    for report in earlier_reports:
        for flag in report.get("flagged_tasks") or []:
            then.setdefault(flag["task"], flag.get("label_key", flag["human"]))
    shown = {flag["task"]: flag for report in earlier_reports for flag in report.get("flagged_tasks") or []}
    for task, old in then.items():
        if task not in index_of or task in seen or label_keys.get(task) is None:
            continue
        seen.add(task)
        if label_keys[task] != old:
            fixes.append(Fix(index_of[task], old, label_keys[task]))
        elif task in shown and annotations.get(task) != shown[task].get("annotation"):  # a newer annotation kept it
            confirmed.append(index_of[task])
    return fixes, confirmed


def first_labels(earlier_reports: list[dict], target_key: Callable[[object], str],
                 predictions_of: Callable[..., dict]) -> dict[int, str]:
    """Task -> the label the earliest round's model that saw the task learned (its stored items' task and
    target: GET /projects/N/predictions?model_version=V&fields=task,target); a model version no longer
    stored is passed over."""
    labels: dict[int, str] = {}
    for report in earlier_reports:
        version = report.get("model_version")
        if not version:
            continue
        try:
            stored = predictions_of(version, ("task", "target"))
        except BackendError as error:  # an old model pruned from the store: its round tells nothing
            log.info("earlier model unavailable", extra={"model_version": version, "error": str(error)})
            continue
        for item in stored.get("items") or []:
            labels.setdefault(item["task"], target_key(item["target"]))
    return labels


@dataclass(frozen=True)
class TabOptions:
    """How the tab is put together: `order` (ORDERS), whether fixes are carried to similar tasks
    (`propagate`, by the model's feature space) and by shared word patterns (`patterns`, text tasks)."""

    order: str = "confusion"
    propagate: bool = True
    patterns: bool = False

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")


def plan_tab(disagreements: list[Disagreement], items: list[dict], label_keys: dict[int, str],
             earlier_reports: list[dict], evaluation_tasks: set[int], options: TabOptions,
             labels_are_classes: bool = True, texts: dict[int, str] | None = None,
             earliest_labels: dict[int, str] | None = None) -> tuple[list[Disagreement], list[Disagreement], dict[int, str]]:
    """(every disagreement, the propagated ones now flagged; the flags in tab order; task -> group name).
    `items` are the model's stored items (with their "vector" where the task type has one);
    `earliest_labels` (`first_labels`) lets fixes made outside the tabs count too."""
    by_task = {d.task_id: d for d in disagreements}
    flags = ranked_flags(disagreements, evaluation_tasks)
    first = [f for f in flags if f.task_id in evaluation_tasks]
    rest = [f for f in flags if f.task_id not in evaluation_tasks]
    tasks = [item["task"] for item in items]
    vectors = {item["task"]: np.asarray(item["vector"], dtype=float) for item in items if item.get("vector")}
    propagated, groups = [], {}
    if options.propagate and earlier_reports:
        index_of = {task: i for i, task in enumerate(tasks)}
        fixes, confirmed = earlier_fixes(earlier_reports, label_keys, index_of,
                                         {item["task"]: item.get("annotation") for item in items}, earliest_labels)
        shown_before = {flag["task"] for report in earlier_reports for flag in report.get("flagged_tasks") or []}
        candidates = np.array([not by_task[t].flagged and t not in shown_before for t in tasks], dtype=bool)
        labels = [label_keys[t] for t in tasks]
        proposals = []
        if fixes and len(vectors) == len(tasks):
            quality = np.array([by_task[t].label_quality for t in tasks], dtype=float)
            proposals = propagate_fixes(fixes, confirmed, labels, np.vstack([vectors[t] for t in tasks]), candidates,
                                        label_quality=quality)
        if fixes and options.patterns and texts:
            taken = np.isin(np.arange(len(tasks)), [p.item for p in proposals])
            proposals += propagate_by_patterns(fixes, confirmed, [texts.get(t, "") for t in tasks], labels,
                                               candidates & ~taken)[0]
        propagated, groups = propagated_flags(proposals, by_task, tasks)
    ordered, confusion_groups = order_flags(rest, options.order, vectors, labels_are_classes)
    groups.update(confusion_groups)
    groups.update({f.task_id: EVALUATION_GROUP for f in first})
    flagged_now = {f.task_id: f for f in propagated}
    everything = [flagged_now.get(d.task_id, d) for d in disagreements]
    return everything, first + propagated + ordered, groups
