"""The round report as Markdown (report.md, and what sync_round prints)."""
from __future__ import annotations

from relabel.rounds.several_annotators import several_annotators_view


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
    lines += evaluation_lines(report.get("evaluation"))
    if report.get("estimated_noise_rate") is not None:
        lines.append(f"- estimated label noise: {report['estimated_noise_rate']:.1%} of labeled tasks "
                     f"(about {round(report['estimated_noise_rate'] * report['labeled'])} wrong labels)")
    dropped = report.get("dropped_rows")
    what = "dropped from the training set" if dropped else "flagged for re-labeling"
    lines.append(f"- {what}: {report['flagged']} ({report['flagged_share']:.1%} of labeled tasks)"
                 + (f"; rule {detection['flag_rule']}, ranked by {detection['quality_method']}" if detection else ""))
    if report.get("flagged_evaluation"):
        lines.append(f"- of them evaluation tasks: {report['flagged_evaluation']} of {report['evaluation_tasks']} "
                     f"(first in the tab: a wrong label there misleads every score)")
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
                  "Seen from the human label: " + "; ".join(f"{kind} = {report['error_meanings'][kind]}"
                                                            for kind in kinds) + ".",
                  "", "| class | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        lines += [f"| {name} | " + " | ".join(str(counts.get(kind, 0)) for kind in kinds) + " |"
                  for name, counts in label_errors.items()]
    elif report.get("labels_are_classes", True):
        lines += ["", "## Human label -> model label", "", "| human | model | tasks |", "|---|---|---:|"]
        lines += [f"| {f['human']} | {f['model']} | {f['count']} |" for f in report["flips"]] or ["| - | - | 0 |"]
    lines += group_lines(report)
    lines += ["", f"## The tab's first {min(top, report['flagged'])} of {report['flagged']}", "",
              "| rank | task | human | model | label quality | group |", "|---:|---:|---|---|---:|---|"]
    lines += [f"| {t['rank']} | {t['task']} | {table_cell(t['human'])} | {table_cell(t['model'])} | "
              f"{t['label_quality']:.3f} | {table_cell(t.get('group') or '')} |" for t in report["flagged_tasks"][:top]]
    if report.get("annotators"):
        lines += annotator_lines(report["annotators"])
    if report.get("several_annotators"):
        lines += several_annotators_lines(report["several_annotators"])
    if report.get("human_evaluation"):
        lines += human_evaluation_lines(report["human_evaluation"])
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


def group_lines(report: dict) -> list[str]:
    """The tab's groups: tasks like an earlier fix first, then one group per confusion."""
    if not report.get("groups"):
        return []
    lines = ["", "## Groups in the tab", ""]
    if report.get("propagated"):
        lines += [f"{report['propagated']} tasks the model did not flag are in the tab because people fixed "
                  "similar tasks in earlier rounds (\"like task #N\"); the rest come one group per confusion, "
                  "the largest first.", ""]
    lines += ["| group | tasks |", "|---|---:|"]
    return lines + [f"| {table_cell(g['group'])} | {g['tasks']} |" for g in report["groups"]]


def evaluation_lines(evaluation: dict | None) -> list[str]:
    """The model's score on the evaluation tasks, and the round before's model on the same labels."""
    if not evaluation:
        return []
    metric, model = evaluation.get("primary_metric"), evaluation.get("model") or {}
    if model.get(metric) is None:
        return [f"- model score: none ({evaluation.get('source')})"]
    others = ", ".join(f"{name} {value:.3f}" for name, value in model.items()
                       if name not in (metric, "version", "n") and isinstance(value, float))
    lines = [f"- model score on {evaluation['tasks']} evaluation tasks ({evaluation['source']}): {metric} "
             f"{model[metric]:.3f}" + (f" ({others})" if others else "")]
    previous = evaluation.get("previous") or {}
    if previous.get(metric) is not None:
        lines.append(f"- the round before's model `{previous['version']}` on the same labels: {metric} "
                     f"{previous[metric]:.3f}")
    elif previous.get("problem"):
        lines.append(f"- the round before's model `{previous['version']}`: {previous['problem']}")
    return lines


def annotator_lines(annotators: list[dict]) -> list[str]:
    lines = ["", "## Annotators", "", "Labels: current labels they made; reviewed: flagged labels they re-labeled; "
             "overturned: their flagged labels that people changed since.", "",
             "| annotator | labels | reviewed | their flagged labels reviewed | overturned | overturn rate | "
             "overturned, by class |", "|---|---:|---:|---:|---:|---:|---|"]
    for row in annotators:
        rate = "-" if row["overturn_rate"] is None else f"{row['overturn_rate']:.1%}"
        by_class = ", ".join(f"{name}: {count}" for name, count in row["overturned_per_class"].items())
        lines.append(f"| {table_cell(row['name'])} | {row['labels']} | {row['reviewed']} | {row['flagged_reviewed']} | "
                     f"{row['overturned']} | {rate} | {table_cell(by_class)} |")
    return lines


def several_annotators_lines(section: dict) -> list[str]:
    sentences, tables = several_annotators_view(section)
    lines = ["", "## Several annotators", "", " ".join(sentences)]
    for title, head, rows, numbers in tables:
        lines += ["", f"### {title}", "", "| " + " | ".join(head) + " |",
                  "|" + "".join("---:|" if i in numbers else "---|" for i in range(len(head)))]
        lines += ["| " + " | ".join(table_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def human_evaluation_lines(results: list[dict]) -> list[str]:
    lines = ["", "## Human evaluation", "", "| round | model | sampled | labeled by people | agreement | 95% interval |",
             "|---:|---|---:|---:|---:|---|"]
    for row in results:
        agreement = "-" if row["agreement"] is None else f"{row['agreement']:.1%}"
        interval = "-" if row["low"] is None else f"{row['low']:.1%} - {row['high']:.1%}"
        lines.append(f"| {row['round']} | {row['model_version']} | {row['sampled']} | {row['labeled']} | "
                     f"{agreement} | {interval} |")
    return lines


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
