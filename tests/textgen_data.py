"""Generated text-generation data: numeric dates rewritten day-first -> ISO, with known wrong answers.

"07/10/2025" (DD/MM/YYYY) -> "2025-10-07", years 2020-2029 (one decade: fewer digits to learn to
copy). The default seq2seq model learns this rewrite in well under a minute of CPU and gets
held-out dates right once it trains on about 80 pairs or more (measured, 3 folds: 120 pairs gave
held-out exact match 0.95-1.0 per fold; 60 pairs, i.e. 40 per fold, only 0.75-0.9). So out-of-fold
answers match the true ones and a corrupted answer stands out. A corrupted answer is another date
whose year, month and day all differ from the true one's: it shares no token with the model's
answer, so it is flagged whatever the chrF threshold.

The configs read the task data field `text`, as the adapter's docstring does.
"""
from __future__ import annotations

import numpy as np

TEXTGEN_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="candidate" toName="text" value="$relabel_candidates" choice="single" showInline="false"/>
  <TextArea name="answer" toName="text" rows="2" maxSubmissions="1" editable="true"/>
</View>"""
#: the same project before re-labeling: the TextArea alone
TEXTAREA_ONLY_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <TextArea name="answer" toName="text"/>
</View>"""


def _date(rng: np.random.Generator) -> tuple[int, int, int]:
    return int(rng.integers(2020, 2030)), int(rng.integers(1, 13)), int(rng.integers(1, 29))


def _pair(year: int, month: int, day: int) -> tuple[str, str]:
    return f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}"


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` (input, answer) pairs of distinct dates: ("07/10/2025", "2025-10-07"); at most 3,360 exist."""
    rng = np.random.default_rng(seed)
    dates: dict[tuple[int, int, int], None] = {}
    while len(dates) < n:
        dates[_date(rng)] = None
    return [_pair(*date) for date in dates]


def corrupt_answers(answers: list[str], share: float, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(answers with round(share * n) of them replaced by a wrong date, mask of the replaced ones).

    A wrong date differs from the true one in year, month and day (no token in common).
    """
    rng = np.random.default_rng(seed)
    wrong = np.zeros(len(answers), dtype=bool)
    wrong[rng.choice(len(answers), round(share * len(answers)), replace=False)] = True
    noisy = list(answers)
    for index in np.flatnonzero(wrong):
        year, month, day = (int(part) for part in answers[index].split("-"))
        new_year, new_month, new_day = year, month, day
        while new_year == year or new_month == month or new_day == day:
            new_year, new_month, new_day = _date(rng)
        noisy[index] = _pair(new_year, new_month, new_day)[1]
    return noisy, wrong


def textarea_result(text: str, from_name: str = "answer", to_name: str = "text") -> list[dict]:
    """An annotation result typing `text` into the TextArea."""
    return [{"from_name": from_name, "to_name": to_name, "type": "textarea", "value": {"text": [text]}}]


def candidate_result(text: str, from_name: str = "candidate", to_name: str = "text") -> list[dict]:
    """An annotation result choosing the candidate `text` in the dynamic Choices."""
    return [{"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": [text]}}]


def as_label_studio_tasks(pairs: list[tuple[str, str]], answers: list[str] | None = None) -> list[dict]:
    """Tasks to import: data.text is the input; each gets an annotation with `answers[i]` when given."""
    tasks = [{"data": {"text": source}} for source, _ in pairs]
    for task, answer in zip(tasks, answers or []):
        task["annotations"] = [{"result": textarea_result(answer)}]
    return tasks
