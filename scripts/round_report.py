"""The round report: what a round flagged, and what humans did with the previous round's flags.

Pure functions: they build plain dicts and Markdown from disagreements; `sync_round` does the I/O.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from adapters.base import Disagreement
from adapters.noise import suppress_confirmed
from adapters.boxes import ERROR_KINDS as BOX_ERROR_KINDS
from adapters.spans import ERROR_KINDS as SPAN_ERROR_KINDS

#: what each kind of disagreement means, seen from the human label (spans: NER; boxes: detection)
ERROR_MEANINGS = {
    "missed": "the model finds an entity the human did not mark", "added": "a human span the model does not find",
    "retyped": "same place, other class", "misbounded": "same class, other bounds",
    "overlooked": "the model sees an object the human did not box", "spurious": "a human box the model does not support",
    "swapped": "a human box the model sees as another class",
    "badly_located": "same object and class, boxes overlap too little (IoU < 0.5)"}


def ranked_flags(disagreements: Sequence[Disagreement]) -> list[Disagreement]:
    """The flagged disagreements, most suspicious (lowest label quality) first; ties by task id."""
    return sorted((d for d in disagreements if d.flagged), key=lambda d: (d.label_quality, d.task_id))


def previous_round_outcome(previous_flags: Iterable[dict], current_labels: dict[int, dict]) -> dict:
    """What humans did with the tasks a previous round flagged.

    `previous_flags`: that round's flagged rows {task, human, label_key, annotation}. `current_labels`:
    task id -> {target, annotation} now, `target` being the label's key (`TaskAdapter.target_key`).
    A task counts as changed when its label differs, confirmed when a newer annotation kept the
    label, not reviewed when the same annotation still stands. Changed tasks whose new label is the
    model's (the flag's `model_key`, where the adapter gives one) are also counted in
    `changed_to_model` (text generation: "replaced" by the model's text; the others "rewritten").
    """
    outcome = Counter()
    for flag in previous_flags:
        now = current_labels.get(flag["task"])
        if now is None:
            outcome["gone"] += 1  # deleted, or its annotations were removed
        elif now["target"] != flag.get("label_key", flag["human"]):
            outcome["changed"] += 1
            if flag.get("model_key") is not None and now["target"] == flag["model_key"]:
                outcome["changed_to_model"] += 1
        elif now["annotation"] != flag["annotation"]:
            outcome["confirmed"] += 1
        else:
            outcome["not_reviewed"] += 1
    total = sum(outcome.values())
    reviewed = outcome["changed"] + outcome["confirmed"]
    return {"flagged": total, "changed": outcome["changed"], "changed_to_model": outcome["changed_to_model"],
            "confirmed": outcome["confirmed"],
            "not_reviewed": outcome["not_reviewed"], "gone": outcome["gone"],
            "precision": round(outcome["changed"] / total, 4) if total else None,
            "precision_of_reviewed": round(outcome["changed"] / reviewed, 4) if reviewed else None}


def confirmed_label_quality(earlier_reports: Sequence[dict], current_labels: dict[int, dict]) -> dict[int, float]:
    """Task id -> label-quality score at which a human last confirmed the task's current label.

    `earlier_reports`: the reports of earlier rounds, oldest first. A task is confirmed when a round
    flagged it and a newer annotation kept the label it had then; a later change of label forgets it.
    """
    confirmed: dict[int, float] = {}
    for report in earlier_reports:
        for flag in report["flagged_tasks"]:
            now = current_labels.get(flag["task"])
            if now is None or now["target"] != flag.get("label_key", flag["human"]):
                confirmed.pop(flag["task"], None)
            elif now["annotation"] != flag["annotation"]:
                confirmed[flag["task"]] = flag["label_quality"]
    return confirmed


def apply_confirmation_memory(disagreements: Sequence[Disagreement], confirmed: dict[int, float],
                              margin: float) -> tuple[list[Disagreement], list[int]]:
    """Unflag the tasks humans already confirmed, unless the model now doubts them by more than `margin`.

    Returns the disagreements (suppressed ones no longer flagged) and the suppressed task ids.
    """
    if not disagreements:
        return [], []
    kept, suppressed = suppress_confirmed(
        np.array([d.flagged for d in disagreements]), np.array([d.label_quality for d in disagreements]),
        np.array([confirmed.get(d.task_id, np.nan) for d in disagreements]), margin)
    updated = [replace(d, flagged=bool(flag)) for d, flag in zip(disagreements, kept)]
    return updated, [d.task_id for d, hidden in zip(disagreements, suppressed) if hidden]


def build_report(*, round_number: int, project: dict, model_version: str, stored: dict,
                 disagreements: Sequence[Disagreement], annotations: dict[int, int | None],
                 history: list[dict], tab_url: str | None, dry_run: bool, detection: dict | None = None,
                 estimated_noise_rate: float | None = None, suppressed: Sequence[int] = (),
                 label_keys: dict[int, str] | None = None, labels_are_classes: bool = True) -> dict:
    """The round's report as a plain dict (report.json); `report_markdown` renders it.

    Classes come from each disagreement's `detail["label_classes"]` (classes in the human label) and
    `detail["classes"]` (classes it is flagged for) where the adapter gives them (NER), else from
    the human label itself (classification). Adapters whose labels are not classes (spans, boxes) say
    how each label differs in `detail["errors"]` ({kind: {class: count}}), summed in `errors_per_class`. `label_keys` (task -> `TaskAdapter.target_key`) let the
    next round tell a changed label from a confirmed one. Without `labels_are_classes` (free text) there
    are no per-class counts and no "human -> model" pairs.
    """
    flags = ranked_flags(disagreements)
    per_class = Counter(c for d in disagreements for c in d.detail.get("label_classes", [d.human])) \
        if labels_are_classes else Counter()
    flagged_per_class = Counter(c for d in flags for c in d.detail.get("classes", [d.human])) \
        if labels_are_classes else Counter()
    # Span and box adapters say how each label differs; "human label -> model label" pairs only mean
    # something when labels are classes.
    has_label_errors = any("errors" in d.detail for d in disagreements)
    kinds_seen = {kind for d in disagreements for kind in d.detail.get("errors", {})}
    error_kinds = BOX_ERROR_KINDS if kinds_seen & set(BOX_ERROR_KINDS) else SPAN_ERROR_KINDS
    errors_per_class: dict[str, Counter] = {}
    for d in flags:
        for kind, counts in d.detail.get("errors", {}).items():
            for name, count in counts.items():
                errors_per_class.setdefault(name, Counter())[kind] += count
    flips = Counter() if has_label_errors or not labels_are_classes else Counter((d.human, d.model) for d in flags)
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
        "suppressed_confirmed": len(suppressed),
        "suppressed_tasks": sorted(suppressed),
        "flagged_share": round(len(flags) / len(disagreements), 4) if disagreements else 0.0,
        "per_class": {label: {"labeled": per_class[label], "flagged": flagged_per_class[label]}
                      for label in sorted(set(per_class) | set(flagged_per_class))},
        "errors_per_class": {name: dict(errors_per_class[name]) for name in sorted(errors_per_class)}
        if has_label_errors else None,
        "error_kinds": list(error_kinds) if has_label_errors else None,
        "warnings": stored.get("warnings") or [],
        "flips": [{"human": human, "model": model, "count": count}
                  for (human, model), count in flips.most_common()],
        "flagged_tasks": [{"rank": rank, "task": d.task_id, "annotation": annotations.get(d.task_id),
                           "human": d.human, "label_key": label_keys.get(d.task_id, d.human), "model": d.model,
                           "label_quality": round(d.label_quality, 6),
                           **d.detail} for rank, d in enumerate(flags, start=1)],
        "history": history,
        "tab_url": tab_url,
    }


def report_markdown(report: dict, top: int = 20) -> str:
    lines = [f"# Re-label round {report['round']}: project {report['project']['id']} "
             f"({report['project'].get('title') or 'untitled'})", ""]
    if report["dry_run"]:
        lines += ["Dry run: nothing was written to Label Studio.", ""]
    detection = report.get("detection") or {}
    repeats = report.get("n_repeats") or 1
    lines += [f"- model: `{report['model_version']}` ({report['adapter']}, {report['prediction_source']}"
              + (f", {report['n_folds']} folds" if report["n_folds"] else "")
              + (f" x {repeats} repeats" if repeats > 1 else "") + ")",
              f"- labeled tasks: {report['labeled']}"]
    if report.get("estimated_noise_rate") is not None:
        lines.append(f"- estimated label noise: {report['estimated_noise_rate']:.1%} of labeled tasks "
                     f"(about {round(report['estimated_noise_rate'] * report['labeled'])} wrong labels)")
    dropped = report.get("dropped_rows")
    what = "dropped from the training set" if dropped else "flagged for re-labeling"
    lines.append(f"- {what}: {report['flagged']} ({report['flagged_share']:.1%} of labeled tasks)"
                 + (f"; rule {detection['flag_rule']}, ranked by {detection['quality_method']}" if detection else ""))
    if report.get("suppressed_confirmed"):
        lines.append(f"- not shown again: {report['suppressed_confirmed']} task(s) that humans confirmed in earlier "
                     f"rounds, which the model doubts no more than then (margin {detection.get('confirmation_margin')})")
    if report["history"] and (report["history"][-1].get("outcome") or {}).get("precision") is not None:
        last = report["history"][-1]
        outcome = last["outcome"]
        lines.append(f"- precision of round {last['round']}'s flags: {outcome['precision']:.1%} "
                     f"({outcome['changed']} of {outcome['flagged']} flagged tasks were changed by humans)")
    if report["tab_url"]:
        lines.append(f"- tab: {report['tab_url']}")
    if dropped:
        lines += dropped_rows_markdown(dropped)
    label_errors = report.get("errors_per_class")
    if report["per_class"]:
        lines += ["", "## Flagged per class", "", "| class | labeled tasks | flagged |", "|---|---:|---:|"]
        lines += [f"| {label} | {row['labeled']} | {row['flagged']} |" for label, row in report["per_class"].items()]
    if label_errors is not None:
        kinds = report["error_kinds"]
        lines += ["", "## Disagreements in the flagged tasks, per class", "",
                  "Seen from the human label: " + "; ".join(f"{kind} = {ERROR_MEANINGS[kind]}" for kind in kinds) + ".",
                  "", "| class | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        lines += [f"| {name} | " + " | ".join(str(counts.get(kind, 0)) for kind in kinds) + " |"
                  for name, counts in label_errors.items()]
    elif report.get("labels_are_classes", True):
        lines += ["", "## Human label -> model label", "", "| human | model | tasks |", "|---|---|---:|"]
        lines += [f"| {f['human']} | {f['model']} | {f['count']} |" for f in report["flips"]] or ["| - | - | 0 |"]
    lines += ["", f"## Most suspicious {min(top, report['flagged'])} of {report['flagged']}", "",
              "| rank | task | human | model | label quality |", "|---:|---:|---|---|---:|"]
    lines += [f"| {t['rank']} | {t['task']} | {table_cell(t['human'])} | {table_cell(t['model'])} | "
              f"{t['label_quality']:.3f} |" for t in report["flagged_tasks"][:top]]
    if report.get("warnings"):
        lines += ["", f"## Labels not used as given ({len(report['warnings'])})", ""]
        lines += [f"- task {w['task']} (annotation {w['annotation']}): {w['note']}" for w in report["warnings"][:top]]
    if report["history"] and not report.get("labels_are_classes", True):
        lines += ["", "## Earlier rounds: what humans did with the flagged texts", "",
                  "| round | model | flagged | kept the old text | took the model's | wrote a new one | not reviewed |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        for entry in report["history"]:
            outcome = entry.get("outcome") or {}
            changed, to_model = outcome.get("changed", 0), outcome.get("changed_to_model", 0)
            lines.append(f"| {entry['round']} | {entry['model_version']} | {entry['flagged']} | "
                         f"{outcome.get('confirmed', 0)} | {to_model} | {changed - to_model} | "
                         f"{outcome.get('not_reviewed', 0)} |")
    elif report["history"]:
        lines += ["", "## Earlier rounds", "",
                  "| round | model | flagged | then changed by humans | precision | confirmed | not reviewed |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        for entry in report["history"]:
            outcome = entry.get("outcome") or {}
            precision = outcome.get("precision")
            lines.append(f"| {entry['round']} | {entry['model_version']} | {entry['flagged']} | "
                         f"{outcome.get('changed', '-')} | {'-' if precision is None else f'{precision:.1%}'} | "
                         f"{outcome.get('confirmed', '-')} | {outcome.get('not_reviewed', '-')} |")
    return "\n".join(lines) + "\n"


def table_cell(text) -> str:
    """A label as one Markdown table cell: pipes escaped, line breaks shown as spaces, long texts cut."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= 80 else text[:77] + "..."


def dropped_rows_markdown(dropped: dict) -> list[str]:
    """The report lines on rows dropped from the training set (clicks)."""
    lines = ["", "## Dropped rows", "",
             f"{dropped['dropped']} of {dropped['trained_rows']} rows this round trained on are dropped (the Data "
             f"Manager tab lists them; nothing is deleted). Cleaned training set ({dropped['kept']} rows): "
             f"`{dropped['export']['json']}` (Label Studio import form), `{dropped['export']['csv']}`."]
    dev = dropped.get("dev")
    if dev is None:
        return lines + ["", f"Dev AUC and log-loss {dropped.get('dev_problem') or 'not measured'}."]
    lines += ["", f"Trained with and without the dropped rows, scored on the same {dev['dev_rows']} held-out kept rows:",
              "", "| training set | rows | dev AUC | dev log-loss |", "|---|---:|---:|---:|"]
    for name, key in (("with the dropped rows", "with_dropped"), ("without them (cleaned)", "without_dropped")):
        row = dev[key]
        lines.append(f"| {name} | {row['train_rows']} | {row['auc']:.4f} | {row['log_loss']:.4f} |")
    # measured against clean labels in benchmarks/RESULTS.md: this check favours dropping
    return lines + ["", "The dev rows carry the project's own (noisy) labels and are rows the rule kept, so this "
                        "comparison favours dropping; on MovieLens with clean dev labels dropping did not raise "
                        "the AUC (benchmarks/RESULTS.md section 8)."]
