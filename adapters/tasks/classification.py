"""Single-choice classification (`<Choices>` on one object tag): the logic every classifier shares.

Labels, examples, predictions and disagreement live here; subclasses only say which object tag
they read (Text, Image) and which model learns from it.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from relabel.adapters.base import (ControlOnObject, Disagreement, InvalidTask, TaskAdapter, UnsupportedLabelConfig,
                                   first_control_on, task_data_value)
from relabel.adapters.noise.flags import FlagOptions, flag_labels
from relabel.adapters.noise.metrics import classification_metrics
from relabel.adapters.noise.probabilities import class_flag_ingredients, estimate_noise_rate

SINGLE_CHOICE_MODES = ("single", "single-radio")


def single_choice(task_id: Any, annotation: dict, from_name: str) -> Any:
    """The one value an annotation chose in the `<Choices name=from_name>`, or None when it chose
    nothing there; InvalidTask naming the task and annotation when the result is malformed."""
    field_name = f"annotation {annotation.get('id')} {from_name}"
    results = annotation.get("result")
    if not isinstance(results, list):
        raise InvalidTask(task_id, field_name, "annotation result is not a list")
    items = [r for r in results if isinstance(r, dict) and r.get("from_name") == from_name]
    if not items:
        return None
    choices = (items[0].get("value") or {}).get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        raise InvalidTask(task_id, field_name, f"expected exactly one choice, got {choices!r}")
    return choices[0]


class ClassificationAdapter(TaskAdapter):
    """Shared base of text and image classification adapters."""

    #: the Label Studio object tag(s) the Choices annotate ("Image"; text: Text, HyperText, Paragraphs)
    object_tag: ClassVar[str | tuple[str, ...]]
    description: ClassVar[str]
    consensus_of_votes = True
    #: the margin after weighing each class by how often the estimated noise turns it into this label: on the
    #: text and digits benchmarks within 0.008 F1 of the plain margin where the noise depends on the item, better
    #: elsewhere, much better where classes are confused in pairs or by class (benchmarks/RESULTS.md section 35)
    default_quality_method = "noise_adjusted_margin"

    @classmethod
    def object_tag_names(cls) -> str:
        """"<Image>", or "<Text>, <HyperText> or <Paragraphs>"."""
        tags = [f"<{tag}>" for tag in ((cls.object_tag,) if isinstance(cls.object_tag, str) else cls.object_tag)]
        return tags[0] if len(tags) == 1 else ", ".join(tags[:-1]) + " or " + tags[-1]

    @classmethod
    def parse_config(cls, label_config: str) -> ControlOnObject:
        needs = f"{cls.name} needs a single-choice <Choices> on a {cls.object_tag_names()}"
        control = first_control_on(label_config, "Choices", cls.object_tag, needs)
        if control.attributes.get("choice", "single") not in SINGLE_CHOICE_MODES:
            raise UnsupportedLabelConfig(needs)
        return control

    def __init__(self, label_config: str):
        control = self.parse_config(label_config)
        self.from_name, self.to_name, self.data_key, self.classes = (control.from_name, control.to_name,
                                                                     control.data_key, control.labels)
        self.object_type, self.object_attributes = control.object_tag, control.object_attributes or {}
        if len(self.classes) < 2:
            raise UnsupportedLabelConfig(f"<Choices name={self.from_name!r}> needs at least two choices")
        self.class_index = {name: i for i, name in enumerate(self.classes)}

    def read_input(self, task_id: Any, value: Any) -> Any:
        """Check and return the object tag's data value; subclasses say what a valid one is."""
        return value

    def input_from_task(self, task: dict) -> Any:
        return self.read_input(*task_data_value(task, self.data_key))

    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[str | None, list[str]]:
        return self.target_from_annotation(task_id, annotation), []

    def target_from_annotation(self, task_id: Any, annotation: dict) -> str | None:
        """The class an annotation chose, or None when it chose nothing for this control."""
        choice = single_choice(task_id, annotation, self.from_name)
        if choice is None:
            return None
        if choice not in self.class_index:
            raise InvalidTask(task_id, f"annotation {annotation.get('id')} {self.from_name}",
                              f"label {choice!r} is not in the labeling config (choices: {', '.join(self.classes)})")
        return choice

    #: neighbours in the vote (relabel.adapters.noise.knn)
    vote_neighbours: ClassVar[int] = 10

    def neighbour_vote(self, vectors: Any, targets: Sequence[str]) -> np.ndarray | None:
        if vectors is None or len(targets) < 2:
            return None
        from relabel.adapters.noise.knn import neighbour_label_probabilities

        labels = np.array([self.class_index[t] for t in targets], dtype=int)
        return neighbour_label_probabilities(np.asarray(vectors), labels, len(self.classes), k=self.vote_neighbours)

    def training_problem(self, targets: Sequence[str], n_folds: int) -> str | None:
        n_classes = len(set(targets))
        if len(targets) < n_folds or n_classes < 2:
            return (f"{len(targets)} labeled task(s) in {n_classes} class(es); training needs at least {n_folds} "
                    f"labeled tasks (RELABEL_FOLDS) and two classes")
        return None

    def to_prediction(self, output: np.ndarray) -> dict:
        probabilities = np.asarray(output, dtype=float)
        best = int(probabilities.argmax())
        return {
            "result": [{"from_name": self.from_name, "to_name": self.to_name, "type": "choices",
                        "value": {"choices": [self.classes[best]]}}],
            "score": round(float(probabilities[best]), 6),
        }

    def _arrays(self, targets: Sequence[str], outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array([self.class_index[t] for t in targets], dtype=int)
        pred_probs = np.vstack([np.asarray(o, dtype=float) for o in outputs]) if len(outputs) \
            else np.zeros((0, len(self.classes)))
        return labels, pred_probs

    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[str], outputs: Sequence[np.ndarray],
                           options: FlagOptions | None = None) -> list[Disagreement]:
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        labels, pred_probs = self._arrays(targets, outputs)
        ingredients = class_flag_ingredients(labels, pred_probs, options.quality_method or self.default_quality_method,
                                             options.per_class, options.confident_learning_filter, self.name)
        flagged, quality = flag_labels(ingredients, options), ingredients.quality
        predicted = pred_probs.argmax(axis=1)
        return [
            Disagreement(task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(quality[i]),
                         human=self.classes[labels[i]], model=self.classes[predicted[i]],
                         facts={"model_confidence": round(float(pred_probs[i, predicted[i]]), 6),
                                "probability_of_human_label": round(float(pred_probs[i, labels[i]]), 6)})
            for i, task_id in enumerate(task_ids)
        ]

    def in_sample_weight_for(self, n_labeled: int) -> float | None:
        return 0.0  # class probabilities mix, but not by default: no share won in every setting (RESULTS.md 32)

    def output_target(self, output: np.ndarray) -> str:
        return self.classes[int(np.asarray(output, dtype=float).argmax())]

    def evaluate(self, targets: Sequence[str], outputs: Sequence[np.ndarray]) -> dict:
        labels, pred_probs = self._arrays(targets, outputs)
        return classification_metrics(labels, pred_probs.argmax(axis=1), len(self.classes))

    def average_outputs(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        return np.mean([np.asarray(o, dtype=float) for o in outputs], axis=0)

    def estimate_noise_rate(self, targets: Sequence[str], outputs: Sequence[np.ndarray]) -> float | None:
        if not len(targets):
            return None
        return estimate_noise_rate(*self._arrays(targets, outputs))

    def output_to_json(self, output: np.ndarray) -> list[float]:
        return [round(float(p), 6) for p in output]

    def output_from_json(self, data: list[float]) -> np.ndarray:
        return np.asarray(data, dtype=float)
