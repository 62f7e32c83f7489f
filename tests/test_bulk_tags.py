"""Round tags in bulk: the plan of add_data_field requests gives every task exactly its tags."""
from __future__ import annotations

import json
import random

from relabel.adapters.base import Disagreement
from relabel.rounds.bulk_tags import digit_shape, placeholder, plan_bulk_writes
from relabel.rounds.tabs import round_tags


def apply_like_label_studio(data: dict[int, dict], writes) -> None:
    """What Label Studio 1.23's add_data_field action does with each request (data_manager/actions/
    experimental.py): a Number or String value set in every selected task; an expression
    replace("old", "new") applied to the field where the task has it."""
    for write in writes:
        for task_id in write.task_ids:
            fields = data.setdefault(task_id, {})
            if write.value_type == "Number":
                fields[write.name] = float(write.value)
            elif write.value_type == "String":
                fields[write.name] = str(write.value)
            else:
                command, arguments = write.value.split("(")
                assert command == "replace"
                old, new = (json.loads(a) for a in arguments.replace(")", "").split(","))
                if write.name in fields:
                    fields[write.name] = fields[write.name].replace(old, new)


def test_digit_shape_replaces_each_digit_by_its_own_placeholder():
    assert digit_shape("model: food 0.91") == (f"model: food {placeholder(0)}.{placeholder(1)}{placeholder(2)}",
                                               ["0", "9", "1"])
    assert digit_shape("no digits") == ("no digits", [])
    assert digit_shape(f"odd {placeholder(3)}") is None  # would be mistaken for a digit to fill in


def test_a_tab_of_many_tasks_costs_a_few_dozen_requests_and_every_task_gets_its_tags():
    rng = random.Random(0)
    classes = ["sports", "food", "tech", "travel"]
    flags = [Disagreement(task_id, True, rng.random(), rng.choice(classes), rng.choice(classes),
                          facts={"model_confidence": rng.random()}) for task_id in range(1, 2001)]
    tags = round_tags(flags, 3, groups={d.task_id: f"{d.human} → {d.model}" for d in flags})
    current = {task_id: {"text": f"item {task_id}"} for task_id in tags}
    writes, leftovers = plan_bulk_writes(tags, current)
    assert leftovers == {}
    # 93: the round, 4 class sets, 16 groups, 16 reason shapes, and the digits of ranks and confidences,
    # against 2,000 PATCHes
    assert len(writes) < 100, len(writes)
    apply_like_label_studio(current, writes)
    for task_id, wanted in tags.items():
        assert current[task_id] == {"text": f"item {task_id}", **wanted}, task_id
    assert tags[flags[41].task_id]["relabel_rank"] == "0042"  # zero-padded: text order is rank order
    assert sorted(tags, key=lambda t: current[t]["relabel_rank"]) == [d.task_id for d in flags]


def test_only_what_changed_is_written_and_what_bulk_cannot_write_is_left_per_task():
    wanted = {1: {"relabel_round": 2, "relabel_reason": "human: a · model: b 0.50"},
              2: {"relabel_round": 2, "relabel_candidates": ["old text", "model text"]},
              3: {"relabel_round": 2, "relabel_reason": f"odd {placeholder(0)}"}}
    current = {1: {"relabel_round": 2.0, "relabel_reason": "human: a · model: b 0.50"}, 2: {}, 3: {}}
    writes, leftovers = plan_bulk_writes(wanted, current)
    assert leftovers == {2: {"relabel_candidates": ["old text", "model text"]},
                         3: {"relabel_reason": f"odd {placeholder(0)}"}}
    assert [(w.name, w.value_type, w.value, w.task_ids) for w in writes] == [("relabel_round", "Number", 2, (2, 3))]
    assert plan_bulk_writes({1: {"flag": True}}, {1: {"flag": 1}})[1] == {1: {"flag": True}}  # True is not 1


def test_writes_that_may_run_at_once_touch_disjoint_tasks_and_keep_the_order_that_matters():
    from relabel.rounds.bulk_tags import write_phases

    flags = [Disagreement(task_id, True, 0.5, "a", "b", facts={"model_confidence": task_id / 100})
             for task_id in range(1, 40)]
    writes, _ = plan_bulk_writes(round_tags(flags, 1), {})
    phases = write_phases(writes)
    seen_shapes = set()
    for phase in phases:
        touched = [task for write in phase for task in write.task_ids]
        assert len(touched) == len(set(touched))  # disjoint within a phase
        for write in phase:
            if write.value_type == "String":
                seen_shapes.add(write.name)
            if write.value_type == "Expression":
                assert write.name in seen_shapes  # a digit is filled in only after its shape is written
    assert len(phases) < len(writes)


class RefusingBulkLabelStudio:
    """A Label Studio whose bulk action fails as given; task reads and writes work (in memory)."""

    def __init__(self, error):
        self.error, self.data = error, {1: {"text": "a"}, 2: {"text": "b"}}

    def set_data_field(self, *args):
        raise self.error

    def task_data(self, task_id):
        return dict(self.data[task_id])

    def update_task_data(self, task_id, data):
        self.data[task_id] = data


def test_a_refused_bulk_write_falls_back_to_task_by_task_but_an_unreachable_label_studio_stops_the_round():
    import pytest

    from relabel.clients.label_studio import LabelStudioError
    from relabel.rounds.tabs import tag_tasks

    tasks = [{"id": 1, "data": {"text": "a"}}, {"id": 2, "data": {"text": "b"}}]
    tags = round_tags([Disagreement(task_id=1, flagged=True, label_quality=0.1, human="a", model="b")], 1)
    refusing = RefusingBulkLabelStudio(LabelStudioError("Label Studio refused an action: HTTP 400", status=400))
    assert tag_tasks(refusing, tasks, 1, tags, True, project_id=7) == 1
    assert refusing.data[1]["relabel_round"] == 1 and "relabel_round" not in refusing.data[2]
    down = RefusingBulkLabelStudio(LabelStudioError("Label Studio at http://ls is not reachable (an action)"))
    with pytest.raises(LabelStudioError, match="not reachable"):
        tag_tasks(down, tasks, 1, tags, True, project_id=7)
