"""Publishing a scored round: the flagged tasks' tags, the round's tabs in Label Studio, and the report files."""
from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

from relabel.adapters.base import TaskAdapter
from relabel.adapters.task_fields import HUMAN_EVAL_FIELD
from relabel.clients.label_studio import LabelStudioClient, LabelStudioError
from relabel.rounds.chart import history_chart
from relabel.rounds.html import report_html
from relabel.rounds.markdown import report_markdown
from relabel.rounds.policies import RelabelRound
from relabel.rounds.scoring import ScoredRound
from relabel.rounds.tabs import HUMAN_EVAL_TAB_TITLE, create_tab, delete_round_tabs, round_tags, tag_tasks

log = logging.getLogger(__name__)

#: side of the thumbnails the HTML report shows of image tasks, in pixels
THUMBNAIL = 120


def publish_round(ls: LabelStudioClient, project_id: int, scored: ScoredRound, adapter: TaskAdapter,
                  policy: RelabelRound, tasks: list[dict], per_class: bool, quiet: bool,
                  human_eval_tasks: list[int] = ()) -> tuple[str, dict]:
    """Tag the flagged tasks (and a human-evaluation sample), point the project at the round's model, and
    (re)make the round's tabs. Returns the round tab's URL and {class: URL} of the per-class tabs."""
    round_number = scored.round_number
    tags = round_tags(scored.flags, round_number, adapter.relabel_fields, adapter.flag_reason, scored.groups)
    tags.update({task_id: {HUMAN_EVAL_FIELD: round_number} for task_id in human_eval_tasks})
    tag_tasks(ls, tasks, round_number, tags, quiet, adapter.relabel_field_names, project_id=project_id)
    ls.update_project(project_id, model_version=scored.model_version)
    delete_round_tabs(ls, project_id, round_number)
    class_tabs = {}
    if per_class:
        for class_name in sorted({c for d in scored.flags for c in d.flagged_classes}):
            view = create_tab(ls, project_id, round_number, class_name)
            class_tabs[class_name] = f"{ls.url}/projects/{project_id}/data?tab={view['id']}"
    if human_eval_tasks:
        view = create_tab(ls, project_id, round_number, title=HUMAN_EVAL_TAB_TITLE, kind="human-eval")
        class_tabs["human evaluation"] = f"{ls.url}/projects/{project_id}/data?tab={view['id']}"
    # The round's tab is the last write to Label Studio: its existence marks the round complete (see next_round).
    view = create_tab(ls, project_id, round_number, title=policy.tab_title)
    return f"{ls.url}/projects/{project_id}/data?tab={view['id']}", class_tabs


def task_previews(ls: LabelStudioClient, adapter: TaskAdapter, report: dict, cache_dir: str,
                  top: int = 20) -> dict:
    """What the HTML report shows of its most suspicious tasks: task id -> ("text", excerpt) or ("image",
    a thumbnail as a data: URI). A task that cannot be read is left out (the report still lists it)."""
    previews = {}
    fetch = ls.media_fetcher(cache_dir)
    for flag in report["flagged_tasks"][:top]:
        try:
            kind, value = adapter.preview({"id": flag["task"], "data": ls.task_data(flag["task"])})
            previews[flag["task"]] = ("image", thumbnail(fetch(value, flag["task"]))) if kind == "image" \
                else (kind, value)
        except (LabelStudioError, OSError, ValueError) as error:
            log.info("no preview", extra={"task": flag["task"], "reason": str(error)})
    return previews


def thumbnail(path: str) -> str:
    """A small PNG of the image at `path`, as a data: URI."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB")
        small.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def write_report_files(out_dir: Path, report: dict, previews: dict | None = None,
                       label_studio_url: str | None = None) -> None:
    """report.json, report.md, chart.png and report.html (one file with the chart inside) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = history_chart(report)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "report.md").write_text(report_markdown(report))
    (out_dir / "chart.png").write_bytes(chart)
    (out_dir / "report.html").write_text(report_html(report, chart, previews, label_studio_url))
