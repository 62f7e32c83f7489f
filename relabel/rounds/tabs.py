"""The round's marks in Label Studio: tags in the flagged tasks' data, and the Data Manager tabs.

A task is in round N's tab when its data holds relabel_round = N; relabel_rank orders the tab ("0001" =
most suspicious: zero-padded text, so the text order is the rank order; the names are in
relabel.adapters.task_fields). Filters on task ids (`in_list`) pass the API but crash the Data Manager
page and `meta` filters fail, so the tags live in the task data (every other field kept), written in a
few bulk requests (relabel.rounds.bulk_tags). Per-class tabs add a "contains |PER|" filter on
relabel_classes.
"""
from __future__ import annotations

import logging
import re
import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from relabel.adapters.base import readable_reason
from relabel.adapters.task_fields import (CLASSES_FIELD, GROUP_FIELD, HUMAN_EVAL_FIELD, QUALITY_FIELD, RANK_FIELD,
                                         REASON_FIELD, ROUND_FIELD, TAG_FIELDS)
from relabel.clients.label_studio import LabelStudioClient, LabelStudioError
from relabel.rounds.bulk_tags import plan_bulk_writes, write_phases

#: the round's tab title, per round policy (relabel.rounds.policies): re-label, or dropped rows (clicks)
TAB_TITLE = "Re-label round {}"
DROPPED_TAB_TITLE = "Dropped clicks round {}"
CLASS_TAB_TITLE = "Re-label round {} — {}"
HUMAN_EVAL_TAB_TITLE = "Human evaluation round {}"
TAB_PATTERN = re.compile(r"^(?:Re-label|Dropped clicks) round (\d+)(?: — (.*))?$")
#: the key in a tab's data that marks it as Re-Label's: {"round": N, "class": name or None}
TAB_MARKER = "relabel"
#: task data writes in flight at once (the per-task path)
TAG_WRITERS = 4

log = logging.getLogger(__name__)


def tab_marker(view: dict) -> dict | None:
    """{round, class, kind} of a Data Manager tab Re-Label made (kind "round", or "human-eval"), else None:
    a person's own tab."""
    data = view.get("data") or {}
    marker = data.get(TAB_MARKER)
    if isinstance(marker, dict) and isinstance(marker.get("round"), int) and not isinstance(marker["round"], bool):
        return {"round": marker["round"], "class": marker.get("class"), "kind": marker.get("kind") or "round"}
    # Tabs made before the marker existed: Re-Label's title and its filter on the round tag, both.
    match = TAB_PATTERN.match(data.get("title") or "")
    items = (data.get("filters") or {}).get("items") or [{}]
    if match and isinstance(items[0], dict) and items[0].get("filter") == f"filter:tasks:data.{ROUND_FIELD}" and \
            items[0].get("value") == int(match.group(1)):
        return {"round": int(match.group(1)), "class": match.group(2), "kind": "round"}
    return None


def next_round(views: list[dict]) -> int:
    """One past the highest round with its tab: a round's (main) tab is made last, when the round completes."""
    rounds = [marker["round"] for marker in map(tab_marker, views)
              if marker is not None and marker["class"] is None and marker["kind"] == "round"]
    return max(rounds, default=0) + 1


def round_tags(flags: list, round_number: int, relabel_fields=lambda disagreement: {},
               reason=None, groups: dict[int, str] | None = None) -> dict[int, dict]:
    """The tag fields of each flagged task, `flags` being in tab order: round, rank (zero-padded text), classes,
    the reason in words (`reason(disagreement)`, `TaskAdapter.flag_reason`) and the task's group in the tab
    (`groups`, relabel.rounds.ordering), with the fields `relabel_fields(disagreement)` adds for the
    re-label config (`TaskAdapter.relabel_fields`)."""
    reason, groups = reason or readable_reason, groups or {}
    width = len(str(len(flags)))
    return {d.task_id: {ROUND_FIELD: round_number, RANK_FIELD: f"{rank:0{width}d}",
                        CLASSES_FIELD: "|" + "|".join(d.flagged_classes) + "|", REASON_FIELD: flag_reason(d, reason),
                        GROUP_FIELD: groups.get(d.task_id, ""), **relabel_fields(d)}
            for rank, d in enumerate(flags, start=1)}


def flag_reason(disagreement, reason) -> str:
    """The reason in words; a task carried from an earlier fix says which fix first (its model may agree
    with its label: the fix, not the model, put it in the tab)."""
    like = disagreement.facts.get("like_task")
    if like is None:
        return reason(disagreement)
    return f"like task #{like}, which people changed to {disagreement.facts.get('suggested')} · " + reason(disagreement)


def tagged_data(data: dict, task_id: int, round_number: int, tags: dict[int, dict],
                extra_fields: tuple[str, ...] = ()) -> dict:
    """A task's data as this round wants it: a flagged task gets its `tags`; a task this round tagged
    before but no longer flags (a re-run) loses them (and the `extra_fields` the adapter wrote); an
    earlier round's tags stay, so its tab still shows what it showed. Every other field is kept."""
    wanted = dict(data)
    if task_id in tags:
        wanted.update(tags[task_id])
    elif data.get(ROUND_FIELD) == round_number:
        for name in TAG_FIELDS + tuple(extra_fields):
            wanted.pop(name, None)
    return wanted


def planned_tag_updates(tasks: list[dict], round_number: int, tags: dict[int, dict],
                        extra_fields: tuple[str, ...] = ()) -> list[tuple[int, dict]]:
    """(task id, new data) for the tasks whose round tags must change (see `tagged_data`)."""
    updates = []
    for task in tasks:
        data = dict(task.get("data") or {})
        wanted = tagged_data(data, task["id"], round_number, tags, extra_fields)
        if wanted != data:
            updates.append((task["id"], wanted))
    return updates


def tag_tasks(ls: LabelStudioClient, tasks: list[dict], round_number: int, tags: dict[int, dict], quiet: bool,
              extra_fields: tuple[str, ...] = (), project_id: int | None = None) -> int:
    """Write the round tags into task data (only where they change); returns how many tasks were written.

    With `project_id`, the tags go in bulk (relabel.rounds.bulk_tags: a few dozen requests for any number
    of tasks, each changing only its own field). What bulk writes cannot do (untagging a task a re-run
    no longer flags, a field holding a list), or everything when Label Studio refuses the bulk action,
    goes task by task.
    """
    planned = {task_id for task_id, _ in planned_tag_updates(tasks, round_number, tags, extra_fields)}
    per_task = {task_id for task_id in planned if task_id not in tags}  # untagging
    if project_id is not None:
        current = {task["id"]: dict(task.get("data") or {}) for task in tasks if task["id"] in planned}
        writes, leftovers = plan_bulk_writes({t: tags[t] for t in planned if t in tags}, current)
        def send(write) -> None:
            ls.set_data_field(project_id, write.task_ids, write.name, write.value_type, write.value)
        try:
            with ThreadPoolExecutor(TAG_WRITERS) as pool, \
                    tqdm(total=len(writes), desc="tagging flagged tasks (bulk)", unit="request", disable=quiet,
                         file=sys.stderr) as bar:
                for phase in write_phases(writes):  # a phase's writes touch disjoint tasks: a few at once
                    for _ in pool.map(send, phase):
                        bar.update()
            per_task |= set(leftovers)
        except LabelStudioError as error:
            if error.status is None:  # Label Studio did not answer: task by task would not either
                raise
            log.warning("bulk tagging refused; tagging task by task", extra={"error": str(error)})
            per_task = planned
    else:
        per_task = planned
    return len(planned - per_task) + tag_one_by_one(ls, sorted(per_task), round_number, tags, quiet, extra_fields)


def tag_one_by_one(ls: LabelStudioClient, task_ids: list[int], round_number: int, tags: dict[int, dict],
                   quiet: bool, extra_fields: tuple[str, ...] = ()) -> int:
    """Write the round tags task by task; returns how many tasks were written.

    Label Studio replaces a task's `data` whole on PATCH, and the tasks were read minutes ago: each task is
    read again just before its write and only the round's fields change, so a field a person edited
    meanwhile is kept.
    """
    def write(task_id: int) -> bool:
        current = ls.task_data(task_id)
        wanted = tagged_data(current, task_id, round_number, tags, extra_fields)
        if wanted == current:
            return False
        ls.update_task_data(task_id, wanted)
        return True
    # Label Studio has no bulk update of task data and spends ~150 ms on each PATCH; a few at once
    # go 1.5-1.8x faster (benchmarks/RESULTS.md section 10) and each task's write stands alone.
    written = 0
    with ThreadPoolExecutor(TAG_WRITERS) as pool, \
            tqdm(total=len(task_ids), desc="tagging tasks one by one", unit="task", disable=quiet or not task_ids,
                 file=sys.stderr) as bar:
        for changed in pool.map(write, task_ids):
            written += changed
            bar.update()
    return written


# Data Manager task columns of Label Studio 1.23 that a re-labeler does not need; the tab shows the
# id, the task data, both labels, the prediction's score and the round tags instead.
# The "Annotation results" and "Prediction results" columns show raw result JSON cut off before the
# label: the reason column says both labels in words instead.
HIDDEN_COLUMNS = ("inner_id", "completed_at", "cancelled_annotations", "total_predictions", "annotators",
                  "annotations_ids", "predictions_model_versions", "file_upload", "storage_filename", "created_at",
                  "updated_at", "updated_by", "avg_lead_time", "draft_exists", "total_annotations", "data",
                  "annotations_results", "predictions_results", f"data.{ROUND_FIELD}", f"data.{CLASSES_FIELD}",
                  f"data.{QUALITY_FIELD}")
#: task data columns holding numbers (a text column declared a Number shows NaN; the rank is text)
NUMBER_FIELDS = (ROUND_FIELD, QUALITY_FIELD)


def delete_round_tabs(ls: LabelStudioClient, project_id: int, round_number: int) -> None:
    """Delete the tabs Re-Label made for this round (a re-run makes them anew); a person's tabs stay,
    whatever their title."""
    for view in ls.list_views(project_id):
        marker = tab_marker(view)
        if marker is not None and marker["round"] == round_number:
            ls.delete_view(view["id"])


def create_tab(ls: LabelStudioClient, project_id: int, round_number: int, class_name: str | None = None,
               title: str = TAB_TITLE, kind: str = "round") -> dict:
    """The round's tab, titled `title` (formatted with the round), or its tab for one class: the flagged
    tasks, most suspicious first; kind "human-eval": the round's human-evaluation sample."""
    title = CLASS_TAB_TITLE.format(round_number, class_name) if class_name is not None else title.format(round_number)
    field = HUMAN_EVAL_FIELD if kind == "human-eval" else ROUND_FIELD
    filters = [{"filter": f"filter:tasks:data.{field}", "operator": "equal", "type": "Number", "value": round_number}]
    if class_name is not None:
        filters.append({"filter": f"filter:tasks:data.{CLASSES_FIELD}", "operator": "contains", "type": "String",
                        "value": f"|{class_name}|"})
    return ls.create_view(project_id, {
        "title": title,
        TAB_MARKER: {"round": round_number, "class": class_name, "kind": kind},
        "filters": {"conjunction": "and", "items": filters},
        "ordering": [f"tasks:data.{RANK_FIELD}"] if kind == "round" else ["tasks:id"],
        "columnsDisplayType": {**{f"tasks:data.{name}": "Number" for name in NUMBER_FIELDS},
                               **{f"tasks:data.{name}": "String"
                                  for name in (RANK_FIELD, CLASSES_FIELD, REASON_FIELD, GROUP_FIELD)}},
        "hiddenColumns": {"explore": [f"tasks:{name}" for name in HIDDEN_COLUMNS],
                          "labeling": [f"tasks:{name}" for name in HIDDEN_COLUMNS]},
    })
