"""The round's history as a picture (PNG): did data and model get better, round after round?

Top: the model's score on the evaluation tasks per round, in the task type's own metric, and the
previous round's model scored again on the same (today's) labels: a rising curve that the re-scored
previous model does not share is a better model, not only corrected evaluation labels. Bottom: the
flags of each round, the wrong labels the round estimated were left, and the share of each round's
flags that people changed (measured one round later).
"""
from __future__ import annotations

import io


def history_rows(report: dict) -> list[dict]:
    """One row per round up to this one: round, model version, score, previous model's score, estimated
    wrong labels, flags, flags changed and their precision (None where not known yet)."""
    metric = (report.get("evaluation") or {}).get("primary_metric")
    this_round = {"round": report["round"], "model_version": report["model_version"], "flagged": report["flagged"],
                  "evaluation": report.get("evaluation"), "estimated_wrong_labels": _estimate(report), "outcome": None}
    rows = []
    for entry in [*(report.get("history") or []), this_round]:
        evaluation = entry.get("evaluation") or {}
        model, previous = evaluation.get("model") or {}, evaluation.get("previous") or {}
        outcome = entry.get("outcome") or {}
        rows.append({"round": entry["round"], "model_version": entry["model_version"], "metric": metric,
                     "score": model.get(metric), "previous_version": previous.get("version"),
                     "previous_score": previous.get(metric), "estimated_wrong_labels": entry["estimated_wrong_labels"],
                     "flagged": entry["flagged"], "changed": outcome.get("changed"),
                     "precision": outcome.get("precision")})
    return rows


def _estimate(report: dict) -> int | None:
    rate = report.get("estimated_noise_rate")
    return None if rate is None else round(rate * report["labeled"])


def history_chart(report: dict) -> bytes:
    """The PNG of `history_rows(report)`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = history_rows(report)
    rounds = [row["round"] for row in rows]
    metric = rows[-1]["metric"] or "score"
    figure, (top, bottom) = pyplot.subplots(2, 1, figsize=(8, 6.4), sharex=True, dpi=110,
                                            gridspec_kw={"height_ratios": [1.1, 1]})
    scored = [(row["round"], row["score"]) for row in rows if row["score"] is not None]
    if scored:
        top.plot(*zip(*scored), marker="o", color="#1f6feb", linewidth=2.2, label=f"model-vN, {metric}")
        for x, y in scored:
            top.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=9)
    again = [(row["round"], row["previous_score"]) for row in rows if row["previous_score"] is not None]
    if again:
        top.plot(*zip(*again), linestyle="none", marker="s", markersize=11, markerfacecolor="none",
                 markeredgewidth=1.8, color="#6e7781", label="the round before's model, on the same labels")
    if not scored:
        top.text(0.5, 0.5, "no evaluation tasks yet", ha="center", va="center", transform=top.transAxes)
    else:
        values = [y for _, y in scored + again]
        spread = max(max(values) - min(values), 0.02)
        top.set_ylim(min(values) - 0.25 * spread, max(values) + 0.35 * spread)  # room for the labels
    top.set_xlim(min(rounds) - 0.5, max(rounds) + 0.5)
    top.set_ylabel(metric)
    top.set_title("Model score on the evaluation tasks (labels as they stood that round)", fontsize=11)
    top.grid(alpha=0.3)
    top.legend(loc="lower right", fontsize=8)

    bottom.bar(rounds, [row["flagged"] for row in rows], color="#f0883e", alpha=0.75, width=0.5,
               label="flagged for people")
    left = [(row["round"], row["estimated_wrong_labels"]) for row in rows if row["estimated_wrong_labels"] is not None]
    if left:
        bottom.plot(*zip(*left), marker="o", color="#cf222e", label="estimated wrong labels left")
    bottom.set_ylabel("tasks")
    bottom.set_xlabel("round")
    bottom.grid(alpha=0.3)
    precision_axis = bottom.twinx()
    measured = [(row["round"], row["precision"] * 100) for row in rows if row["precision"] is not None]
    if measured:
        precision_axis.plot(*zip(*measured), marker="^", color="#1a7f37", linestyle="--",
                            label="flags people changed (%)")
    precision_axis.set_ylim(0, 105)
    precision_axis.set_ylabel("flags changed, %")
    handles = bottom.get_legend_handles_labels()[0] + precision_axis.get_legend_handles_labels()[0]
    labels = bottom.get_legend_handles_labels()[1] + precision_axis.get_legend_handles_labels()[1]
    bottom.legend(handles, labels, loc="upper right", fontsize=8)
    bottom.set_xticks(rounds)
    figure.suptitle(f"Re-label rounds of project {report['project']['id']}", fontsize=12)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()
