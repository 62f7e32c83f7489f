"""Single-choice classification (`<Choices>` on one object tag): the logic every classifier shares.

Labels, examples, predictions and disagreement live here; subclasses only say which object tag
they read (Text, Image) and which model learns from it.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from adapters.base import Disagreement, InvalidTask, TaskAdapter, UnsupportedLabelConfig, task_data_value
from adapters.noise import DetectionOptions, estimate_noise_rate, flag_label_issues


def parse_choices_config(label_config: str, object_tag: str) -> tuple[str, str, str, list[str], str]:
    """(from_name, to_name, data key, class names, choice mode) of the first Choices on `object_tag`."""
    from label_studio_sdk.label_interface import LabelInterface

    interface = LabelInterface(label_config)
    from_name, to_name, value = interface.get_first_tag_occurence("Choices", object_tag)
    control = interface.get_tag(from_name)
    data_key = str(value).lstrip("$")
    return from_name, to_name, data_key, list(control.labels), control.attr.get("choice", "single")


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


def _matrix(features):
    """Features as a 2-D matrix: sparse ones (TF-IDF) stay sparse."""
    from scipy.sparse import issparse

    return features if issparse(features) else np.asarray(features)


class LinearHead:
    """Multinomial logistic regression over fixed features (dense or sparse), predicting all `classes`.

    A fold whose training part lacks some class still yields probabilities over every class
    (zero for the missing ones), so outputs of different folds line up.
    """

    def __init__(self, classes: Sequence[str], regularization: float = 1.0, seed: int = 0):
        self.classes = list(classes)
        self.regularization = regularization
        self.seed = seed

    def fit(self, features: np.ndarray, targets: Sequence[str]) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        index = {name: i for i, name in enumerate(self.classes)}
        y = np.array([index[t] for t in targets])
        self.seen_classes_ = np.unique(y)
        if len(self.seen_classes_) == 1:
            self.model_ = None
        else:
            self.model_ = LogisticRegression(C=self.regularization, max_iter=2000, random_state=self.seed)
            self.model_.fit(_matrix(features), y)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        features = _matrix(features)
        probabilities = np.zeros((features.shape[0], len(self.classes)))
        if self.model_ is None:
            probabilities[:, self.seen_classes_[0]] = 1.0
        elif features.shape[0]:
            probabilities[:, self.model_.classes_] = self.model_.predict_proba(features)
        return probabilities


class ClassificationAdapter(TaskAdapter):
    """Shared base of text and image classification adapters."""

    #: the Label Studio object tag the Choices annotate ("Text", "Image")
    object_tag: ClassVar[str]
    description: ClassVar[str]

    @classmethod
    def supports(cls, label_config: str) -> bool:
        try:
            choice_mode = parse_choices_config(label_config, cls.object_tag)[4]
        except Exception:  # not parseable, or no Choices on this object tag
            return False
        return choice_mode in ("single", "single-radio")

    def __init__(self, label_config: str):
        try:
            self.from_name, self.to_name, self.data_key, self.classes, choice_mode = parse_choices_config(
                label_config, self.object_tag)
        except Exception:  # not parseable, or no Choices on this object tag
            choice_mode = None
        if choice_mode not in ("single", "single-radio"):
            raise UnsupportedLabelConfig(f"{self.name} needs a single-choice <Choices> on a <{self.object_tag}>")
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
                           options: DetectionOptions | None = None) -> list[Disagreement]:
        if not len(task_ids):
            return []
        labels, pred_probs = self._arrays(targets, outputs)
        flagged, quality = flag_label_issues(labels, pred_probs, options or DetectionOptions())
        predicted = pred_probs.argmax(axis=1)
        return [
            Disagreement(task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(quality[i]),
                         human=self.classes[labels[i]], model=self.classes[predicted[i]],
                         detail={"model_confidence": round(float(pred_probs[i, predicted[i]]), 6),
                                 "probability_of_human_label": round(float(pred_probs[i, labels[i]]), 6)})
            for i, task_id in enumerate(task_ids)
        ]

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
