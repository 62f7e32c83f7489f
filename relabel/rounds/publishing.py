"""Publishing a scored round: the flagged tasks' tags, the round's tabs in Label Studio, and the report files."""
from __future__ import annotations

import json
from pathlib import Path

from relabel.adapters.base import TaskAdapter
from relabel.clients.label_studio import LabelStudioClient
from relabel.rounds.markdown import report_markdown
from relabel.rounds.policies import RelabelRound
from relabel.rounds.scoring import ScoredRound
from relabel.rounds.tabs import create_tab, delete_round_tabs, round_tags, tag_tasks


def publish_round(ls: LabelStudioClient, project_id: int, scored: ScoredRound, adapter: TaskAdapter,
                  policy: RelabelRound, tasks: list[dict], per_class: bool, quiet: bool) -> tuple[str, dict]:
    """Tag the flagged tasks, point the project at the round's model, and (re)make the round's tabs.
    Returns the round tab's URL and {class: URL} of the per-class tabs."""
    round_number = scored.round_number
    tag_tasks(ls, tasks, round_number, round_tags(scored.flags, round_number, adapter.relabel_fields), quiet,
              adapter.relabel_field_names)
    ls.update_project(project_id, model_version=scored.model_version)
    delete_round_tabs(ls, project_id, round_number)
    class_tabs = {}
    if per_class:
        for class_name in sorted({c for d in scored.flags for c in d.flagged_classes}):
            view = create_tab(ls, project_id, round_number, class_name)
            class_tabs[class_name] = f"{ls.url}/projects/{project_id}/data?tab={view['id']}"
    # The round's tab is the last write to Label Studio: its existence marks the round complete (see next_round).
    view = create_tab(ls, project_id, round_number, title=policy.tab_title)
    return f"{ls.url}/projects/{project_id}/data?tab={view['id']}", class_tabs


def write_report_files(out_dir: Path, report: dict) -> None:
    """report.json and report.md in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "report.md").write_text(report_markdown(report))
