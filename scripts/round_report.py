"""The round report: what a round flagged, and what humans did with the previous round's flags.

Pure functions: they build plain dicts and Markdown from disagreements; `sync_round` does the I/O.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from adapters.base import Disagreement


def ranked_flags(disagreements: Sequence[Disagreement]) -> list[Disagreement]:
    """The flagged disagreements, most suspicious (lowest label quality) first; ties by task id."""
    return sorted((d for d in disagreements if d.flagged), key=lambda d: (d.label_quality, d.task_id))


def previous_round_outcome(previous_flags: Iterable[dict], current_labels: dict[int, dict]) -> dict:
    """What humans did with the tasks a previous round flagged.

    `previous_flags`: that round's flagged rows {task, human, annotation}. `current_labels`: task id ->
    {target, annotation} now. A task counts as changed when its label differs, confirmed when a newer
    annotation kept the label, not reviewed when the same annotation still stands.
    """
    outcome = Counter()
    for flag in previous_flags:
        now = current_labels.get(flag["task"])
        if now is None:
            outcome["gone"] += 1  # deleted, or its annotations were removed
        elif now["target"] != flag["human"]:
            outcome["changed"] += 1
        elif now["annotation"] != flag["annotation"]:
            outcome["confirmed"] += 1
        else:
            outcome["not_reviewed"] += 1
    total = sum(outcome.values())
    reviewed = outcome["changed"] + outcome["confirmed"]
    return {"flagged": total, "changed": outcome["changed"], "confirmed": outcome["confirmed"],
            "not_reviewed": outcome["not_reviewed"], "gone": outcome["gone"],
            "precision_of_reviewed": round(outcome["changed"] / reviewed, 4) if reviewed else None}


def build_report(*, round_number: int, project: dict, model_version: str, stored: dict,
                 disagreements: Sequence[Disagreement], annotations: dict[int, int | None],
                 history: list[dict], tab_url: str | None, dry_run: bool) -> dict:
    flags = ranked_flags(disagreements)
    per_class = Counter(d.human for d in disagreements)
    flagged_per_class = Counter(d.human for d in flags)
    flips = Counter((d.human, d.model) for d in flags)
    return {
        "round": round_number,
        "project": {"id": project["id"], "title": project.get("title")},
        "model_version": model_version,
        "adapter": stored.get("adapter"),
        "prediction_source": stored.get("prediction_source"),
        "n_folds": stored.get("n_folds"),
        "dry_run": dry_run,
        "labeled": len(disagreements),
        "flagged": len(flags),
        "flagged_share": round(len(flags) / len(disagreements), 4) if disagreements else 0.0,
        "per_class": {label: {"labeled": per_class[label], "flagged": flagged_per_class[label]}
                      for label in sorted(per_class)},
        "flips": [{"human": human, "model": model, "count": count}
                  for (human, model), count in flips.most_common()],
        "flagged_tasks": [{"rank": rank, "task": d.task_id, "annotation": annotations.get(d.task_id),
                           "human": d.human, "model": d.model, "label_quality": round(d.label_quality, 6),
                           **d.detail} for rank, d in enumerate(flags, start=1)],
        "history": history,
        "tab_url": tab_url,
    }


def report_markdown(report: dict, top: int = 20) -> str:
    lines = [f"# Re-label round {report['round']}: project {report['project']['id']} "
             f"({report['project'].get('title') or 'untitled'})", ""]
    if report["dry_run"]:
        lines += ["Dry run: nothing was written to Label Studio.", ""]
    lines += [f"- model: `{report['model_version']}` ({report['adapter']}, {report['prediction_source']}"
              + (f", {report['n_folds']} folds" if report["n_folds"] else "") + ")",
              f"- labeled tasks: {report['labeled']}",
              f"- flagged for re-labeling: {report['flagged']} ({report['flagged_share']:.1%} of labeled tasks; "
              "an estimate of the label noise rate)"]
    if report["tab_url"]:
        lines.append(f"- tab: {report['tab_url']}")
    lines += ["", "## Flagged per class", "", "| human label | labeled | flagged |", "|---|---:|---:|"]
    lines += [f"| {label} | {row['labeled']} | {row['flagged']} |" for label, row in report["per_class"].items()]
    lines += ["", "## Human label -> model label", "", "| human | model | tasks |", "|---|---|---:|"]
    lines += [f"| {f['human']} | {f['model']} | {f['count']} |" for f in report["flips"]] or ["| - | - | 0 |"]
    lines += ["", f"## Most suspicious {min(top, report['flagged'])} of {report['flagged']}", "",
              "| rank | task | human | model | label quality |", "|---:|---:|---|---|---:|"]
    lines += [f"| {t['rank']} | {t['task']} | {t['human']} | {t['model']} | {t['label_quality']:.3f} |"
              for t in report["flagged_tasks"][:top]]
    if report["history"]:
        lines += ["", "## Earlier rounds", "",
                  "| round | model | flagged | then changed by humans | confirmed | not reviewed |",
                  "|---:|---|---:|---:|---:|---:|"]
        for entry in report["history"]:
            outcome = entry.get("outcome") or {}
            lines.append(f"| {entry['round']} | {entry['model_version']} | {entry['flagged']} | "
                         f"{outcome.get('changed', '-')} | {outcome.get('confirmed', '-')} | "
                         f"{outcome.get('not_reviewed', '-')} |")
    return "\n".join(lines) + "\n"
