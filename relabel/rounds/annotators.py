"""Who labeled what: per annotator, the labels that re-label rounds reviewed and the ones humans overturned.

Pure: the current labels (the model's stored items, each with its annotation and annotator) and the
earlier rounds' flagged tasks (each with the annotation and annotator it had when flagged) in, one
row per annotator out. A lead reads it to see whose labels are overturned, and of which class: the
rule a person applies wrongly is where retraining that person pays (the paper's "summarise the
corrected rule"). Names are the people's Label Studio e-mails: they go into the report, never a log.
"""
from __future__ import annotations

from collections import Counter, defaultdict


def annotator_summary(items: list[dict], earlier_reports: list[dict], people: dict[int, str],
                      labels_are_classes: bool = True, label_keys: dict[int, str] | None = None) -> list[dict]:
    """One row per annotator: labels (current labels they made, or voted for), reviewed (flagged labels they re-labeled
    in a later annotation), flagged (their labels earlier rounds flagged and people reviewed since),
    overturned (of those, changed), overturn_rate, and overturned per class (labels that are classes)."""
    label_keys = label_keys or {item["task"]: str(item["target"]) for item in items}
    now = {item["task"]: item for item in items}
    rows: dict = defaultdict(lambda: {"labels": 0, "reviewed": 0, "flagged_reviewed": 0, "overturned": 0,
                                      "overturned_per_class": Counter()})
    for item in items:  # a task several people labeled counts for each of them
        for who in [who for who, _ in item["votes"]] if item.get("votes") else [item.get("annotator")]:
            rows[who]["labels"] += 1
    seen: set = set()
    for report in earlier_reports:
        for flag in report.get("flagged_tasks") or []:
            if (flag["task"], flag.get("annotation")) in seen:
                continue
            seen.add((flag["task"], flag.get("annotation")))
            current = now.get(flag["task"])
            if current is None or current.get("annotation") == flag.get("annotation"):
                continue  # gone, or nobody reviewed it yet
            rows[current.get("annotator")]["reviewed"] += 1
            author = rows[flag.get("annotator")]
            author["flagged_reviewed"] += 1
            if label_keys[flag["task"]] != flag.get("label_key", flag["human"]):
                author["overturned"] += 1
                if labels_are_classes:
                    author["overturned_per_class"][flag["human"]] += 1
    summary = []
    for who, row in rows.items():
        name = people.get(who, f"user {who}") if who is not None else "(unknown)"
        rate = row["overturned"] / row["flagged_reviewed"] if row["flagged_reviewed"] else None
        summary.append({"annotator": who, "name": name, "labels": row["labels"], "reviewed": row["reviewed"],
                        "flagged_reviewed": row["flagged_reviewed"], "overturned": row["overturned"],
                        "overturn_rate": None if rate is None else round(rate, 4),
                        "overturned_per_class": dict(row["overturned_per_class"].most_common())})
    return sorted(summary, key=lambda row: (-row["overturned"], -(row["overturn_rate"] or 0), -row["labels"]))
