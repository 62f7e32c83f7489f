"""Click / no-click rows (CTR): a single-choice `<Choices>` of two click-like values on a click-log row.

A task is one row of a click log: the data fields its object tags show (a `<Table value="$row"/>`'s
dict counts field by field) are the features, and the human label says whether the row is a click.
A factorization machine (adapters/models/click_model.py) predicts each row's click probability p; a row's
click error is |p - y| (y = 1 for click, 0 for no click), its label quality 1 - |p - y|.

How click errors become flags is in adapters/noise/clicks.py. As in the paper, a round drops the
flagged rows from training rather than have people re-label a click log (RoundPolicy.DROP_ROWS).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from relabel.adapters.base import (Disagreement, Example, InvalidTask, Progress, RoundPolicy, TaskAdapter,
                                   UnsupportedLabelConfig, annotator_of, latest_annotation, no_progress,
                                   task_data_value)
from relabel.adapters.models.click_model import ClickFeatures, ClickModel, dev_metrics_with_and_without, featurize_rows
from relabel.adapters.noise.clicks import click_errors, flag_click_errors
from relabel.adapters.noise.flags import FlagIngredients, FlagOptions, flag_labels
from relabel.adapters.noise.metrics import click_metrics
from relabel.adapters.noise.probabilities import estimate_noise_rate, find_confident_label_issues
from relabel.adapters.task_fields import is_relabel_field
from relabel.adapters.tasks.classification import SINGLE_CHOICE_MODES, single_choice

#: normalized (positive, negative) choice pairs a click config may use
CLICK_CHOICE_PAIRS = (("click", "no_click"), ("clicked", "not_clicked"), ("1", "0"))
SUPPORTED = "a single-choice <Choices> with the two choices click / no click (or clicked / not clicked, or 1 / 0)"


def normalized_choice(value: str) -> str:
    """A choice value lowercased, with spaces and hyphens as underscores ("No-Click" -> "no_click")."""
    return str(value).strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class ClickConfig:
    """What the adapter reads from a labeling config: the click Choices, its two values as written
    (positive = click), and the data fields the config's object tags read, in config order."""

    from_name: str
    to_name: str
    positive: str
    negative: str
    data_fields: tuple[str, ...]


def click_choice_pair(choices: Sequence[str]) -> tuple[str, str] | None:
    """(positive, negative) of two click-like choice values as written, or None when they are not."""
    if len(choices) != 2:
        return None
    normalized = [normalized_choice(c) for c in choices]
    for positive, negative in CLICK_CHOICE_PAIRS:
        if sorted(normalized) == sorted([positive, negative]):
            return choices[normalized.index(positive)], choices[normalized.index(negative)]
    return None


def parse_click_config(label_config: str) -> ClickConfig:
    """The first single-choice Choices with click-like values; UnsupportedLabelConfig saying why not."""
    from label_studio_sdk.label_interface import LabelInterface

    try:
        interface = LabelInterface(label_config)
    except Exception as error:  # the SDK raises its own XML and validation errors
        raise UnsupportedLabelConfig(f"ctr needs {SUPPORTED}; the config cannot be parsed: {error}") from None
    seen = []
    for control in interface.controls:
        if control.tag != "Choices":
            continue
        seen.append(f"<Choices name={control.name!r}> with {list(control.labels)}")
        pair = click_choice_pair(list(control.labels))
        if pair and control.attr.get("choice", "single") in SINGLE_CHOICE_MODES and control.to_name:
            data_fields = tuple(o.value[1:] for o in interface.objects
                                if isinstance(o.value, str) and o.value.startswith("$")
                                and not is_relabel_field(o.value[1:]))
            return ClickConfig(control.name, control.to_name[0], pair[0], pair[1], data_fields)
    found = "; ".join(seen) or "no <Choices>"
    raise UnsupportedLabelConfig(f"ctr needs {SUPPORTED}; the config has {found}")


def scalar_value(task_id: Any, field_name: str, value: Any) -> Any:
    """A feature value as the model takes it: text, number or true/false; None (missing) for null and NaN.
    InvalidTask naming the task and `field_name` for lists, objects and other non-scalars."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidTask(task_id, field_name, f"expected a number, text, true/false or null, got {type(value).__name__}")


def click_from_value(task_id: Any, field_name: str, value: Any) -> int | None:
    """1 / 0 from a logged click value (1/0, true/false, "1"/"0", "true"/"false"); None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return int(value.strip().lower() in ("1", "true"))
    raise InvalidTask(task_id, field_name, f"expected a click value 1/0 or true/false, got {value!r:.60}")


def click_outputs(click_probabilities: np.ndarray, segments: Sequence[dict]) -> list[dict]:
    """One model output per row: {"click_probability": p, "segments": {categorical field: raw value}}."""
    return [{"click_probability": float(p), "segments": dict(s)} for p, s in zip(click_probabilities, segments)]


class ClickOutputModel:
    """A ClickModel whose predictions are the adapter's outputs (click probability and segments)."""

    def __init__(self, click_model: ClickModel):
        self.click_model = click_model

    def fit(self, features: ClickFeatures, targets: Sequence[int]) -> "ClickOutputModel":
        self.click_model.fit(features, targets)
        return self

    def predict(self, features: ClickFeatures) -> list[dict]:
        return click_outputs(self.click_model.predict(features), features.segments())


class ClickAdapter(TaskAdapter):
    """Click / no-click labels of click-log rows; targets are 1 (click) and 0 (no click).

    `features`: the data fields the model reads (None: every field the config's object tags read,
    a dict-valued one (a Table's row) key by key; a named feature not among the task's data fields
    is looked up in those dicts). `label_field`: a data field holding the logged click (1/0,
    true/false), the label of a task without an annotation; an annotation wins. It is never a
    feature unless named in `features`. `categorical_fields`: fields always encoded as categories,
    e.g. numeric ids, which the default rule would standardize as numbers.
    """

    name = "ctr"
    description = "click / no-click rows (<Choices> click/no_click)"
    default_folds = 5
    # the paper drops noisy click rows rather than have humans re-label a click log
    round_policy = RoundPolicy.DROP_ROWS
    primary_metric = "auc"

    @classmethod
    def parse_config(cls, label_config: str) -> ClickConfig:
        return parse_click_config(label_config)

    def __init__(self, label_config: str, *, features: Sequence[str] | None = None, label_field: str | None = None,
                 categorical_fields: Sequence[str] = (), epochs: int = 10, device: str = "auto", seed: int = 0):
        self.config = self.parse_config(label_config)
        self.from_name, self.to_name = self.config.from_name, self.config.to_name
        self.choices = {1: self.config.positive, 0: self.config.negative}
        self.features = list(features) if features is not None else None
        self.label_field = label_field
        self.categorical_fields = list(categorical_fields)
        self.epochs = epochs
        self.device = device
        self.seed = seed
        if self.features is None and not self.config.data_fields:
            raise UnsupportedLabelConfig("ctr: the config's object tags read no data field ($field); "
                                         "name the features to use")

    def settings(self) -> dict:
        return {"features": self.features, "label_field": self.label_field,
                "categorical_fields": self.categorical_fields, "epochs": self.epochs, "seed": self.seed,
                "model": self.new_click_model().hyper_parameters()}

    @property
    def label_column(self) -> str:
        """The label's column in the cleaned CSV export: the logged click's field, else the Choices name."""
        return self.label_field or self.from_name

    # --- reading tasks ------------------------------------------------------------------------------
    def input_from_task(self, task: dict) -> dict:
        """{feature name: scalar or None} of one task."""
        if self.features is not None:
            return {name: self._named_feature(task, name) for name in self.features}
        row = {}
        for data_field in self.config.data_fields:
            task_id, value = task_data_value(task, data_field)
            if isinstance(value, dict):  # a Table's row: its keys are the features
                row.update({key: scalar_value(task_id, f"data.{data_field}.{key}", v) for key, v in value.items()
                            if key != self.label_field and not is_relabel_field(key)})
            elif data_field != self.label_field:
                row[data_field] = scalar_value(task_id, f"data.{data_field}", value)
        return row

    def _named_feature(self, task: dict, name: str) -> Any:
        """A feature named in `features`: a data field, else a key of a dict-valued (Table) field."""
        data = task.get("data") if isinstance(task, dict) else None
        if isinstance(data, dict) and name not in data:
            for data_field in self.config.data_fields:
                if isinstance(data.get(data_field), dict) and name in data[data_field]:
                    return scalar_value(task.get("id"), f"data.{data_field}.{name}", data[data_field][name])
            raise InvalidTask(task.get("id"), f"data.{name}", f"missing (a ctr feature; the task has {sorted(data)})")
        task_id, value = task_data_value(task, name)
        return scalar_value(task_id, f"data.{name}", value)

    def example_from_task(self, task: dict) -> Example:
        """The annotation's label when there is one, else the logged click in `label_field` (if set;
        a task without that field, or with null in it, is unlabeled)."""
        value = self.input_from_task(task)
        task_id = task.get("id")
        annotation = latest_annotation(task)
        if annotation is not None:
            target, _ = self.label_from_annotation(task_id, value, annotation)
            if target is not None:
                return Example(task_id=task_id, input=value, target=target, annotation_id=annotation.get("id"),
                               annotator=annotator_of(annotation))
        logged = self._logged_click(task) if self.label_field is not None else None
        return Example(task_id=task_id, input=value, target=logged)

    def _logged_click(self, task: dict) -> int | None:
        """The click in data.<label_field> (or in a Table's row); None when neither has it."""
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        if self.label_field in data:
            return click_from_value(task.get("id"), f"data.{self.label_field}", data[self.label_field])
        for data_field in self.config.data_fields:
            if isinstance(data.get(data_field), dict) and self.label_field in data[data_field]:
                return click_from_value(task.get("id"), f"data.{data_field}.{self.label_field}",
                                        data[data_field][self.label_field])
        return None

    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[int | None, list[str]]:
        chosen = single_choice(task_id, annotation, self.from_name)
        if chosen is None:
            return None, []
        for target, choice in self.choices.items():
            if chosen == choice:
                return target, []
        raise InvalidTask(task_id, f"annotation {annotation.get('id')} {self.from_name}",
                          f"label {chosen!r} is not in the labeling config "
                                               f"(choices: {self.choices[1]}, {self.choices[0]})")

    def target_key(self, target: int) -> str:
        return self.choices[int(target)]

    def training_problem(self, targets: Sequence[int], n_folds: int) -> str | None:
        n_classes = len(set(targets))
        if len(targets) < n_folds or n_classes < 2:
            return (f"{len(targets)} labeled row(s) in {n_classes} class(es); training needs at least {n_folds} "
                    f"labeled rows (RELABEL_FOLDS), clicks and no-clicks")
        return None

    # --- the model ------------------------------------------------------------------------------------
    def featurize(self, inputs: Sequence[dict], progress: Progress = no_progress) -> ClickFeatures:
        progress("encoding rows", 0, len(inputs))
        features = featurize_rows(list(inputs), self.categorical_fields)
        progress("encoding rows", len(inputs), len(inputs))
        return features

    def new_click_model(self) -> ClickModel:
        """A fresh ClickModel (predict -> click probabilities) with this adapter's settings."""
        return ClickModel(epochs=self.epochs, device=self.device, seed=self.seed)

    def new_model(self) -> ClickOutputModel:
        return ClickOutputModel(self.new_click_model())

    def save_model(self, model: ClickOutputModel, directory: str) -> None:
        model.click_model.save(directory)

    def load_model(self, directory: str) -> ClickOutputModel:
        return ClickOutputModel(ClickModel.load(directory, device=self.device))

    def evaluate_dropping(self, inputs: Sequence[dict], targets: Sequence[int], dropped_mask: np.ndarray,
                          dev_fraction: float = 0.2, seed: int | None = None, dev_from: str = "kept") -> dict:
        """`dev_metrics_with_and_without` for these rows (seed: the adapter's when None)."""
        return dev_metrics_with_and_without(self.new_click_model, self.featurize(inputs), targets, dropped_mask,
                                            dev_fraction, self.seed if seed is None else seed, dev_from)

    # --- outputs ----------------------------------------------------------------------------------------
    def to_prediction(self, output: dict) -> dict:
        probability = float(output["click_probability"])
        return {"result": [{"from_name": self.from_name, "to_name": self.to_name, "type": "choices",
                            "value": {"choices": [self.choices[int(probability >= 0.5)]]}}],
                "score": round(probability, 6)}

    def output_to_json(self, output: dict) -> dict:
        return {"click_probability": round(float(output["click_probability"]), 6),
                "segments": dict(output.get("segments") or {})}

    def output_from_json(self, data: dict) -> dict:
        return {"click_probability": float(data["click_probability"]), "segments": dict(data.get("segments") or {})}

    def average_outputs(self, outputs: Sequence[dict]) -> dict:
        return {"click_probability": float(np.mean([o["click_probability"] for o in outputs])),
                "segments": dict(outputs[0].get("segments") or {})}

    # --- disagreement -----------------------------------------------------------------------------------
    def _arrays(self, targets: Sequence[int], outputs: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        labels = np.asarray([int(t) for t in targets], dtype=int)
        probabilities = np.asarray([float(o["click_probability"]) for o in outputs], dtype=float)
        return labels, probabilities

    def _segments(self, outputs: Sequence[dict], segment_field: str) -> list:
        known = sorted({name for o in outputs for name in (o.get("segments") or {})})
        if segment_field not in known:
            raise ValueError(f"segment_field {segment_field!r} is not a categorical feature of these rows "
                             f"(known: {', '.join(known) or 'none'})")
        return [(o.get("segments") or {}).get(segment_field) for o in outputs]

    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[int], outputs: Sequence[dict],
                           options: FlagOptions | None = None) -> list[Disagreement]:
        """Flags per `options`: flag_rule "disagreement": errors > 0.5 (the model's likelier class is not
        the label); "confident_learning": cleanlab's find_label_issues on [[1 - p, p]]; "budget" (the
        default): rows with quality < quality_threshold if set, else the `budget` largest errors if set,
        else errors > drop_threshold if set, else errors above the drop_quantile (within each value of
        segment_field, when set)."""
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        labels, probabilities = self._arrays(targets, outputs)
        errors = click_errors(labels, probabilities)
        quality = 1.0 - errors
        segments = None  # the segment of each row, where the rule that ran reads them

        def default_flags() -> np.ndarray:
            nonlocal segments
            if options.drop_threshold is not None:
                return flag_click_errors(errors, threshold=options.drop_threshold)
            if options.segment_field is not None:
                segments = self._segments(outputs, options.segment_field)
            return flag_click_errors(errors, quantile=options.drop_quantile, segments=segments)
        flagged = flag_labels(FlagIngredients(
            quality=quality, disagrees=errors > 0.5, default_flags=default_flags,
            confident_issues=lambda: find_confident_label_issues(
                labels, np.column_stack([1 - probabilities, probabilities]), options.confident_learning_filter),
            task_type=self.name), options)
        found = []
        for i, task_id in enumerate(task_ids):
            facts = {"click_probability": round(float(probabilities[i]), 6), "click_error": round(float(errors[i]), 6)}
            if segments is not None:
                facts["segment"] = segments[i]
            found.append(Disagreement(task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(quality[i]),
                                      human=self.choices[int(labels[i])],
                                      model=self.choices[int(probabilities[i] >= 0.5)], facts=facts))
        return found

    def output_target(self, output: dict) -> int:
        return int(float(output["click_probability"]) >= 0.5)

    def preview(self, task: dict) -> tuple[str, str]:
        row = self.input_from_task(task)
        return "text", ", ".join(f"{name}={value}" for name, value in row.items())[:300]

    def flag_reason(self, disagreement: Disagreement) -> str:
        return f"label: {disagreement.human} · click probability {disagreement.facts['click_probability']:.2f}"

    def evaluate(self, targets: Sequence[int], outputs: Sequence[dict]) -> dict:
        return click_metrics(*self._arrays(targets, outputs))

    def estimate_noise_rate(self, targets: Sequence[int], outputs: Sequence[dict]) -> float | None:
        if not len(targets):
            return None
        labels, probabilities = self._arrays(targets, outputs)
        return estimate_noise_rate(labels, np.column_stack([1 - probabilities, probabilities]))
