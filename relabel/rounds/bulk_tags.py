"""Round tags written in a handful of requests instead of one PATCH per task.

Label Studio has no bulk update of task data with a value per task (PATCH replaces one task's data and
costs ~0.1-0.5 s; benchmarks/RESULTS.md section 10). Its Data Manager action `add_data_field` does set
one data field to one value in every selected task in one request, and only that field changes (a
person's edit of another field meanwhile is kept); its expression `replace("old", "new")` replaces text in
that field. So a field is written as:

- numbers: one request per distinct value (a round number: one request for the whole tab);
- text: one request per distinct *shape*, the text with its i-th digit replaced by placeholder i, then
  per digit position one request per digit value, filling that placeholder in. The zero-padded rank
  "0042" and the reason "human: sports · model: food 0.91" cost a few dozen requests for any number of
  tasks, because their shapes repeat.

What does not fit (a list, a text holding a placeholder character) is left for the per-task path, and so
is removing tags (a re-run that no longer flags a task).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

#: placeholder i stands for a text's i-th digit until its replace request (Unicode private use area,
#: which no label or reason contains)
PLACEHOLDER_BASE = 0xE000
PLACEHOLDER_COUNT = 0x1900


def placeholder(position: int) -> str:
    return chr(PLACEHOLDER_BASE + position)


def digit_shape(text: str) -> tuple[str, list[str]] | None:
    """(text with its i-th digit replaced by placeholder(i), the digits in order), or None when the text
    holds a placeholder already or has more digits than there are placeholders."""
    if any(PLACEHOLDER_BASE <= ord(c) < PLACEHOLDER_BASE + PLACEHOLDER_COUNT for c in text):
        return None
    shape, digits = [], []
    for character in text:
        if "0" <= character <= "9":
            if len(digits) == PLACEHOLDER_COUNT:
                return None
            shape.append(placeholder(len(digits)))
            digits.append(character)
        else:
            shape.append(character)
    return "".join(shape), digits


@dataclass(frozen=True)
class FieldWrite:
    """One add_data_field request: `name` := `value` in `task_ids` (value_type "Number" or "String"), or,
    value_type "Expression", the expression `value` applied to `name` there. Writes of one `phase` touch
    disjoint tasks, so they may run at once (Label Studio writes a replace's whole `data` back: two at
    once on one task would lose one); phases run in order."""
    name: str
    value_type: str
    value: object
    task_ids: tuple[int, ...]
    phase: int = 0


def plan_bulk_writes(wanted: dict[int, dict], current: dict[int, dict]) -> tuple[list[FieldWrite], dict[int, dict]]:
    """The requests that give each task `wanted[task]`'s fields (where `current[task]`, its data, differs),
    in the order to send them, and the fields left for the per-task path: {task: {field: value}}."""
    numbers: dict[tuple, list[int]] = defaultdict(list)
    shapes: dict[tuple, list[int]] = defaultdict(list)
    digits: dict[tuple, list[int]] = defaultdict(list)
    leftovers: dict[int, dict] = defaultdict(dict)
    for task_id, fields in wanted.items():
        data = current.get(task_id) or {}
        for name, value in fields.items():
            if name in data and data[name] == value and isinstance(data[name], bool) == isinstance(value, bool):
                continue  # (a number Label Studio stored as 3.0 is the 3 wanted)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers[(name, value)].append(task_id)
                continue
            shaped = digit_shape(value) if isinstance(value, str) else None
            if shaped is None:
                leftovers[task_id][name] = value
                continue
            shape, task_digits = shaped
            shapes[(name, shape)].append(task_id)
            for position, digit in enumerate(task_digits):
                digits[(name, position, digit)].append(task_id)
    phases: dict[tuple, int] = {}  # one per field's numbers, per field's shapes, per field and digit position
    phase = lambda *key: phases.setdefault(key, len(phases))  # noqa: E731
    writes = [FieldWrite(name, "Number", value, tuple(ids), phase("number", name))
              for (name, value), ids in numbers.items()]
    writes += [FieldWrite(name, "String", shape, tuple(ids), phase("shape", name))
               for (name, shape), ids in shapes.items()]
    writes += [FieldWrite(name, "Expression", f'replace("{placeholder(position)}", "{digit}")', tuple(ids),
                          phase("digit", name, position))
               for (name, position, digit), ids in sorted(digits.items())]
    return writes, dict(leftovers)


def write_phases(writes: list[FieldWrite]) -> list[list[FieldWrite]]:
    """The writes grouped by phase, in phase order."""
    grouped: dict[int, list[FieldWrite]] = {}
    for write in writes:
        grouped.setdefault(write.phase, []).append(write)
    return [grouped[phase] for phase in sorted(grouped)]
