"""Tasks that several people labeled: their consensus, its doubt, and how well each annotator labels.

Where two or more people labeled a task (the model's stored items then carry `votes`, each annotator's
latest label, and the majority as the target), the round estimates with cleanlab's multi-annotator
functions (relabel.adapters.noise.multiannotator) how sure each consensus is and how good each
annotator is, from their agreement with each other and with the out-of-fold model. Tasks whose
consensus is doubtful go to the tab beside the model's disagreements; the report says which
annotator labels least reliably, which classes people agree on least, and which tasks would gain
most from one more annotation. A project where each task has one annotation gets none of this.
Names are Label Studio e-mails: they go into the report, never a log.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from typing import Sequence

import numpy as np

from relabel.adapters.base import Disagreement
from relabel.adapters.noise.multiannotator import (DOUBTFUL_CONSENSUS, agreement_per_class, doubtful_consensus,
                                                   estimate_consensus)

log = logging.getLogger(__name__)

#: how many tasks the report lists as gaining most from one more annotation
MORE_VOTES_LISTED = 10


def votes_text(votes: Sequence, classes: Sequence[str]) -> str:
    """"sports 2 · food 1": the labels people gave a task, most votes first."""
    counts = Counter(str(label) for _, label in votes)
    return " · ".join(f"{label} {n}" for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def several_annotators(items: list[dict], disagreements: list[Disagreement], classes: Sequence[str],
                       pred_probs: np.ndarray, people: dict[int, str] | None = None,
                       doubtful_below: float = DOUBTFUL_CONSENSUS) -> tuple[list[Disagreement], dict | None]:
    """(the disagreements, with each voted task's votes among its facts and the doubtful consensuses
    flagged; the report's "several_annotators" section), or (disagreements, None) when no task has
    two or more votes. `items` and `disagreements` are in the same order, `pred_probs` their outputs."""
    if not any(item.get("votes") for item in items) or not len(classes):
        return disagreements, None
    people = people or {}
    index = {name: k for k, name in enumerate(classes)}
    voters: dict = {}
    rows: list[list[tuple]] = []
    for item in items:
        votes = item.get("votes") or [[item.get("annotator"), item["target"]]]
        rows.append([(voters.setdefault(who, len(voters)), index[label]) for who, label in votes if label in index])
    matrix = np.full((len(items), len(voters)), np.nan)
    for i, row in enumerate(rows):
        for column, label in row:
            matrix[i, column] = label
    try:
        consensus = estimate_consensus(matrix, pred_probs)
    except ValueError as error:  # cleanlab's own checks, e.g. an annotator whose only task nobody else labeled
        log.warning("several annotators: not estimated", extra={"problem": str(error)})
        return disagreements, {"problem": f"not estimated: {error}", "tasks_with_votes":
                               sum(1 for item in items if item.get("votes"))}
    doubtful = doubtful_consensus(consensus, doubtful_below)
    updated = []
    for i, (item, flag) in enumerate(zip(items, disagreements)):
        if item.get("votes"):
            facts = {**flag.facts, "votes": votes_text(item["votes"], classes),
                     "consensus_quality": round(float(consensus.quality[i]), 4)}
            flag = replace(flag, facts=facts, flagged=flag.flagged or bool(doubtful[i]))
        updated.append(flag)
    name_of = {column: (people.get(who, f"user {who}") if isinstance(who, int) and who >= 0 else "(unknown)")
               for who, column in voters.items()}
    annotators = sorted(({
        "annotator": who if isinstance(who, int) and who >= 0 else None, "name": name_of[column],
        "labels": int(consensus.n_labeled[column]),
        "quality": round(float(consensus.annotator_quality[column]), 4),
        "agreement_with_consensus": None if np.isnan(consensus.agreement_with_consensus[column])
        else round(float(consensus.agreement_with_consensus[column]), 4),
        "worst_class": classes[int(consensus.worst_class[column])]} for who, column in voters.items()),
        key=lambda row: (row["quality"], row["name"]))
    voted = np.flatnonzero(consensus.n_votes >= 2)
    more = sorted(range(len(items)), key=lambda i: (consensus.more_votes_value[i], items[i]["task"]))
    return updated, {
        "tasks_with_votes": int(len(voted)),
        "votes_per_task": round(float(consensus.n_votes[voted].mean()), 2) if len(voted) else 0,
        "doubtful_below": doubtful_below,
        "doubtful_tasks": [items[i]["task"] for i in np.flatnonzero(doubtful)],
        "annotators": annotators,
        "least_reliable": annotators[0]["name"] if len(annotators) >= 2 else None,
        "agreement_per_class": [{**row, "class": classes[row["class"]],
                                 "agreement": None if row["agreement"] is None else round(row["agreement"], 4)}
                                for row in agreement_per_class(matrix, consensus.consensus, len(classes))
                                if row["tasks"]],
        "one_more_annotation": [{"task": items[i]["task"], "votes": len(rows[i]),
                                 "value": round(float(consensus.more_votes_value[i]), 4)}
                                for i in more[:MORE_VOTES_LISTED]],
    }


def several_annotators_view(section: dict) -> tuple[list[str], list[tuple[str, list[str], list[list], set[int]]]]:
    """What the report shows of the section, for Markdown and HTML alike: (sentences, [(title, head, rows,
    the columns that hold numbers)])."""
    if section.get("problem"):
        return [f"{section['tasks_with_votes']} tasks have two or more annotations; consensus {section['problem']}"], []
    sentences = [f"{section['tasks_with_votes']} tasks have two or more annotations ({section['votes_per_task']} per "
                 f"task on average); their label is the majority's. {len(section['doubtful_tasks'])} consensus "
                 f"labels are doubtful (quality below {section['doubtful_below']}: people split and the model does "
                 "not settle it) and are in the tab."]
    least = next((row for row in section["annotators"] if row["name"] == section.get("least_reliable")), None)
    if least is not None:
        agreement = least["agreement_with_consensus"]
        sentences.append(f"Least reliable annotator: {least['name']} (quality {least['quality']:.2f}"
                         + ("" if agreement is None else f"; agrees with the consensus on {agreement:.0%} of shared "
                                                         "tasks") + f"; least reliable on {least['worst_class']}).")
    tables = [
        ("Annotators, least reliable first", ["annotator", "labels", "quality", "agreement with the consensus",
                                              "least reliable on"],
         [[row["name"], row["labels"], f"{row['quality']:.3f}",
           "-" if row["agreement_with_consensus"] is None else f"{row['agreement_with_consensus']:.1%}",
           row["worst_class"]] for row in section["annotators"]], {1, 2, 3}),
        ("Agreement per class (tasks with two or more annotations)", ["consensus class", "tasks", "votes agreeing"],
         [[row["class"], row["tasks"], "-" if row["agreement"] is None else f"{row['agreement']:.1%}"]
          for row in sorted(section["agreement_per_class"], key=lambda r: (r["agreement"] or 0, r["class"]))], {1, 2}),
        ("One more annotation would tell most on", ["task", "annotations so far", "value (lower: more to gain)"],
         [[row["task"], row["votes"], f"{row['value']:.3f}"] for row in section["one_more_annotation"]], {0, 1, 2}),
    ]
    return sentences, tables
