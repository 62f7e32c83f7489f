"""The round's marks in Label Studio: tags in the flagged tasks' data, and the Data Manager tabs.

A task is in round N's tab when its data holds relabel_round = N; relabel_rank orders the tab (1 =
most suspicious) and relabel_quality is the label-quality score the rank comes from (the names are in
relabel.adapters.task_fields). Filters on task ids (`in_list`) pass the API but crash the Data Manager
page and `meta` filters fail, so the tags live in the task data (every other field kept). Per-class
tabs add a "contains |PER|" filter on relabel_classes.
"""
from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from relabel.adapters.task_fields import CLASSES_FIELD, QUALITY_FIELD, RANK_FIELD, ROUND_FIELD, TAG_FIELDS
from relabel.clients.label_studio import LabelStudioClient

#: the round's tab title, per round policy (relabel.rounds.policies): re-label, or dropped rows (clicks)
TAB_TITLE = "Re-label round {}"
DROPPED_TAB_TITLE = "Dropped clicks round {}"
CLASS_TAB_TITLE = "Re-label round {} — {}"
TAB_PATTERN = re.compile(r"^(?:Re-label|Dropped clicks) round (\d+)$")
#: task data writes in flight at once
TAG_WRITERS = 4


def next_round(views: list[dict]) -> int:
    """One past the highest "Re-label round N" tab: a tab is created only when its round completes."""
    rounds = [int(m.group(1)) for v in views if (m := TAB_PATTERN.match((v.get("data") or {}).get("title") or ""))]
    return max(rounds, default=0) + 1


def round_tags(flags: list, round_number: int, relabel_fields=lambda disagreement: {}) -> dict[int, dict]:
    """The tag fields of each flagged task, `flags` being ranked most suspicious first, with the
    fields `relabel_fields(disagreement)` adds for the re-label config (`TaskAdapter.relabel_fields`)."""
    return {d.task_id: {ROUND_FIELD: round_number, RANK_FIELD: rank, QUALITY_FIELD: round(d.label_quality, 6),
                        CLASSES_FIELD: "|" + "|".join(d.flagged_classes) + "|", **relabel_fields(d)}
            for rank, d in enumerate(flags, start=1)}


def planned_tag_updates(tasks: list[dict], round_number: int, tags: dict[int, dict],
                        extra_fields: tuple[str, ...] = ()) -> list[tuple[int, dict]]:
    """(task id, new data) for tasks whose round tags must change.

    Flagged tasks get their `tags`; tasks this round tagged before but no longer flags (a re-run)
    lose them (and the `extra_fields` the adapter wrote); an earlier round's tags stay, so its tab still shows what it showed. Label Studio
    replaces `data` whole, so the new data keeps every existing field.
    """
    updates = []
    for task in tasks:
        data = dict(task.get("data") or {})
        wanted = dict(data)
        if task["id"] in tags:
            wanted.update(tags[task["id"]])
        elif data.get(ROUND_FIELD) == round_number:
            for name in TAG_FIELDS + tuple(extra_fields):
                wanted.pop(name, None)
        if wanted != data:
            updates.append((task["id"], wanted))
    return updates


def tag_tasks(ls: LabelStudioClient, tasks: list[dict], round_number: int, tags: dict[int, dict], quiet: bool,
              extra_fields: tuple[str, ...] = ()) -> int:
    """Write the round tags into task data (only where they change); returns how many tasks were written."""
    updates = planned_tag_updates(tasks, round_number, tags, extra_fields)
    # Label Studio has no bulk update of task data and spends ~150 ms on each PATCH; a few at once
    # go 1.5-1.8x faster (benchmarks/RESULTS.md section 10) and each task's write stands alone.
    with ThreadPoolExecutor(TAG_WRITERS) as pool, \
            tqdm(total=len(updates), desc="tagging flagged tasks", unit="task", disable=quiet, file=sys.stderr) as bar:
        for _ in pool.map(lambda update: ls.update_task_data(*update), updates):
            bar.update()
    return len(updates)


# Data Manager task columns of Label Studio 1.23 that a re-labeler does not need; the tab shows the
# id, the task data, both labels, the prediction's score and the round tags instead.
HIDDEN_COLUMNS = ("inner_id", "completed_at", "cancelled_annotations", "total_predictions", "annotators",
                  "annotations_ids", "predictions_model_versions", "file_upload", "storage_filename", "created_at",
                  "updated_at", "updated_by", "avg_lead_time", "draft_exists", "total_annotations", "data",
                  f"data.{ROUND_FIELD}")


def delete_round_tabs(ls: LabelStudioClient, project_id: int, round_number: int) -> None:
    """Delete the round's tab and its per-class tabs (a re-run writes them anew)."""
    titles = (TAB_TITLE.format(round_number), DROPPED_TAB_TITLE.format(round_number))
    for view in ls.list_views(project_id):
        view_title = (view.get("data") or {}).get("title") or ""
        if view_title in titles or view_title.startswith(CLASS_TAB_TITLE.format(round_number, "")):
            ls.delete_view(view["id"])


def create_tab(ls: LabelStudioClient, project_id: int, round_number: int, class_name: str | None = None,
               title: str = TAB_TITLE) -> dict:
    """The round's tab, titled `title` (formatted with the round), or its tab for one class: the
    flagged tasks, most suspicious first."""
    title = CLASS_TAB_TITLE.format(round_number, class_name) if class_name is not None else title.format(round_number)
    rank_column = f"tasks:data.{RANK_FIELD}"
    filters = [{"filter": f"filter:tasks:data.{ROUND_FIELD}", "operator": "equal", "type": "Number",
                "value": round_number}]
    if class_name is not None:
        filters.append({"filter": f"filter:tasks:data.{CLASSES_FIELD}", "operator": "contains", "type": "String",
                        "value": f"|{class_name}|"})
    return ls.create_view(project_id, {
        "title": title,
        "filters": {"conjunction": "and", "items": filters},
        "ordering": [rank_column],
        "columnsDisplayType": {f"tasks:data.{name}": "Number" for name in TAG_FIELDS},
        "hiddenColumns": {"explore": [f"tasks:{name}" for name in HIDDEN_COLUMNS],
                          "labeling": [f"tasks:{name}" for name in HIDDEN_COLUMNS]},
    })
