"""The round report as one HTML file that opens from disk: the chart embedded, the tables of the Markdown
report, and for the most suspicious tasks what a person needs to judge them (an excerpt or a thumbnail,
both labels, the model's confidence, a link to the task in Label Studio)."""
from __future__ import annotations

import base64
from html import escape

from relabel.rounds.chart import history_rows
from relabel.rounds.several_annotators import several_annotators_view

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1100px;
       color: #1f2328; line-height: 1.45; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 14px; margin-top: 18px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
.summary li { margin: 2px 0; } .muted { color: #656d76; }
.chart { max-width: 100%; border: 1px solid #d0d7de; }
.excerpt { max-width: 420px; } img.thumbnail { max-width: 120px; max-height: 120px; }
.evaluation { background: #fff8c5; }
"""


def _cell(value, number: bool = False) -> str:
    text = "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
    return f'<td class="number">{escape(text)}</td>' if number else f"<td>{escape(text)}</td>"


def _table(head: list[str], rows: list[list], numbers: set[int] = frozenset()) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(_cell(v, i in numbers) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def _percent(value) -> str | None:
    return None if value is None else f"{value:.1%}"


def _summary(report: dict) -> str:
    items = [f"model <code>{escape(report['model_version'])}</code> ({escape(str(report.get('adapter')))}, "
             f"{escape(str(report.get('prediction_source')))})", f"labeled tasks: {report['labeled']}"]
    evaluation = report.get("evaluation") or {}
    metric, model = evaluation.get("primary_metric"), evaluation.get("model") or {}
    if model.get(metric) is not None:
        previous = evaluation.get("previous") or {}
        again = f"; the round before's model ({escape(previous['version'])}) on the same labels: " \
                f"{previous[metric]:.3f}" if previous.get(metric) is not None else ""
        items.append(f"<b>{escape(metric)} on {evaluation['tasks']} evaluation tasks: {model[metric]:.3f}</b>{again}")
    elif evaluation:
        items.append(f"no model score: {escape(str(evaluation.get('source')))}")
    if report.get("estimated_noise_rate") is not None:
        items.append(f"estimated wrong labels: {round(report['estimated_noise_rate'] * report['labeled'])} "
                     f"({report['estimated_noise_rate']:.1%})")
    what = "dropped from the training set" if report.get("dropped_rows") else "flagged for re-labeling"
    items.append(f"{what}: {report['flagged']} ({report['flagged_share']:.1%})"
                 + (f", {report['flagged_evaluation']} of them evaluation tasks (shown first)"
                    if report.get("flagged_evaluation") else ""))
    if report.get("tab_url"):
        items.append(f'tab: <a href="{escape(report["tab_url"])}">{escape(report.get("tab_title") or "")}</a>')
    return '<ul class="summary">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _history(report: dict) -> str:
    rows = history_rows(report)
    metric = rows[-1]["metric"] or "score"
    return _table(["round", "model", metric, "round before's model, same labels", "estimated wrong labels",
                   "flagged", "changed by people", "precision of the flags"],
                  [[r["round"], r["model_version"], r["score"], r["previous_score"], r["estimated_wrong_labels"],
                    r["flagged"], r["changed"], _percent(r["precision"])] for r in rows], {0, 2, 3, 4, 5, 6})


def _suspicious(report: dict, previews: dict, label_studio_url: str | None, top: int) -> str:
    head = ["rank", "task", "what it shows", "human", "model", "model's confidence", "label quality", "group"]
    rows = []
    for flag in report["flagged_tasks"][:top]:
        kind, value = previews.get(flag["task"]) or ("text", "")
        shown = f'<img class="thumbnail" src="{escape(value)}" alt="task {flag["task"]}">' if kind == "image" \
            else f'<div class="excerpt">{escape(value)}</div>'
        link = f"{label_studio_url}/projects/{report['project']['id']}/data?task={flag['task']}" \
            if label_studio_url else None
        task = f'<a href="{escape(link)}">{flag["task"]}</a>' if link else str(flag["task"])
        confidence = flag.get("model_confidence")
        marker = ' class="evaluation" title="an evaluation task"' if flag.get("split") == "evaluation" else ""
        rows.append(f"<tr{marker}><td class=\"number\">{flag['rank']}</td><td>{task}</td><td>{shown}</td>"
                    f"<td>{escape(str(flag['human']))}</td><td>{escape(str(flag['model']))}</td>"
                    f"<td class=\"number\">{'–' if confidence is None else f'{confidence:.2f}'}</td>"
                    f"<td class=\"number\">{flag['label_quality']:.3f}</td>"
                    f"<td>{escape(str(flag.get('group') or ''))}</td></tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def report_html(report: dict, chart_png: bytes, previews: dict | None = None, label_studio_url: str | None = None,
                top: int = 20) -> str:
    """The page. `previews`: task id -> ("text", excerpt) or ("image", a data: URI thumbnail)."""
    title = f"Re-label round {report['round']}: project {report['project']['id']} " \
            f"({report['project'].get('title') or 'untitled'})"
    parts = [f"<h1>{escape(title)}</h1>"]
    if report.get("dry_run"):
        parts.append('<p class="muted">Dry run: nothing was written to Label Studio.</p>')
    parts += [_summary(report),
              f'<img class="chart" alt="the rounds so far" src="data:image/png;base64,'
              f'{base64.b64encode(chart_png).decode()}">', "<h2>Round after round</h2>", _history(report)]
    if report.get("per_class"):
        parts += ["<h2>Flagged per class</h2>", _table(["class", "labeled tasks", "flagged"], [
            [name, row["labeled"], row["flagged"]] for name, row in report["per_class"].items()], {1, 2})]
    if report.get("errors_per_class"):
        kinds = report["error_kinds"]
        parts += ["<h2>Disagreements in the flagged tasks, per class</h2>",
                  '<p class="muted">' + escape("; ".join(f"{k}: {report['error_meanings'][k]}" for k in kinds)) + "</p>",
                  _table(["class", *kinds], [[name, *(counts.get(k, 0) for k in kinds)]
                                             for name, counts in report["errors_per_class"].items()],
                         set(range(1, len(kinds) + 1)))]
    elif report.get("flips"):
        parts += ["<h2>Human label → model label</h2>",
                  _table(["human", "model", "tasks"], [[f["human"], f["model"], f["count"]] for f in report["flips"]],
                         {2})]
    top = min(top, report["flagged"])
    if report.get("groups"):
        parts += ["<h2>Groups in the tab</h2>", _table(["group", "tasks"], [[g["group"], g["tasks"]]
                                                                            for g in report["groups"]], {1})]
    parts += [f"<h2>The tab's first {top} of {report['flagged']}</h2>",
              _suspicious(report, previews or {}, label_studio_url, top) if top else
              '<p class="muted">No task flagged this round.</p>']
    if report.get("annotators"):
        parts += ["<h2>Annotators</h2>", '<p class="muted">labels: current labels they made; reviewed: flagged '
                  "labels they re-labeled; overturned: their flagged labels people changed since.</p>",
                  _table(["annotator", "labels", "reviewed", "their flagged labels reviewed", "overturned",
                          "overturn rate", "overturned, by class"],
                         [[a["name"], a["labels"], a["reviewed"], a["flagged_reviewed"], a["overturned"],
                           _percent(a["overturn_rate"]),
                           ", ".join(f"{c}: {n}" for c, n in a["overturned_per_class"].items())]
                          for a in report["annotators"]], {1, 2, 3, 4})]
    if report.get("several_annotators"):
        sentences, tables = several_annotators_view(report["several_annotators"])
        parts += ["<h2>Several annotators</h2>", f"<p>{escape(' '.join(sentences))}</p>"]
        for title, head, rows, numbers in tables:
            parts += [f"<h3>{escape(title)}</h3>", _table(head, rows, numbers)]
    if report.get("human_evaluation"):
        parts += ["<h2>Human evaluation</h2>", _table(
            ["round", "model", "sampled", "labeled by people", "agreement", "95% interval"],
            [[h["round"], h["model_version"], h["sampled"], h["labeled"], _percent(h["agreement"]),
              None if h["low"] is None else f"{h['low']:.1%} – {h['high']:.1%}"] for h in report["human_evaluation"]],
            {0, 2, 3})]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
