"""The task data fields Re-Label writes into Label Studio tasks, in one place.

A round tags each flagged task's data (Label Studio's Data Manager filters and orders a tab on task
data; filters on ids or `meta` do not render), and some task types add what their re-label config
shows. Every such field starts with FIELD_PREFIX, so nothing mistakes one for the task's own data.
"""
from __future__ import annotations

FIELD_PREFIX = "relabel_"
#: the round that flagged the task (its tab filters on it)
ROUND_FIELD = "relabel_round"
#: the task's place in its round's tab, "1" (or "0001") = most suspicious: zero-padded text, ordered as text
RANK_FIELD = "relabel_rank"
#: the label-quality score the rank comes from (lower = label more likely wrong): written by rounds before
#: 2026-12-02 (the report holds it now), still removed with the tags
QUALITY_FIELD = "relabel_quality"
#: the classes the task is flagged for, as "|PER|LOC|" (a per-class tab filters on "contains |PER|")
CLASSES_FIELD = "relabel_classes"
#: why the task is flagged, in words a re-labeler reads in the tab's list ("human: sports · model: food 0.91")
REASON_FIELD = "relabel_reason"
#: the tab's group the task is in: one human -> model confusion ("sports → food"), or the tasks like an
#: earlier fix ("like task #123 (sports → food)")
GROUP_FIELD = "relabel_group"
#: text generation: the old and the model's text, as the options of the re-label config's <Choices>
CANDIDATES_FIELD = "relabel_candidates"

#: a task drawn for human evaluation: the round that drew it (its "Human evaluation round N" tab filters on it)
HUMAN_EVAL_FIELD = "relabel_human_eval"

#: the fields every flagged task gets
TAG_FIELDS = (ROUND_FIELD, RANK_FIELD, QUALITY_FIELD, CLASSES_FIELD, REASON_FIELD, GROUP_FIELD)


def is_relabel_field(name: str) -> bool:
    """True for a field Re-Label wrote (never a feature, left out of exports)."""
    return str(name).startswith(FIELD_PREFIX)
