"""Ratings and numbers: a `<Rating>` or `<Number>` on a `<Text>`, `<HyperText>` or `<Paragraphs>`.

A label is the number a person gave (stars 1..maxRating, or a number within the tag's min/max). The
model is the text model's embedding + TF-IDF pair as ridge regressions (adapters/models/text_regressors.py),
out of fold. A task is flagged where its number is far from the model's (a robust outlier among the
residuals; adapters/noise/regression.py), ranked by cleanlab's regression label quality. The tab shows
the person's value and the model's; the report counts, per human value, labels well above and well
below the model's, and scores the model by R² and mean absolute error.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from relabel.adapters.base import ControlOnObject, Disagreement, InvalidTask, UnsupportedLabelConfig, first_control_on
from relabel.adapters.data.text_objects import TEXT_OBJECT_TAGS
from relabel.adapters.models.text_encoders import LAST_AND_MIDDLE
from relabel.adapters.models.text_regressors import RidgeEnsemble
from relabel.adapters.noise.flags import FlagOptions, flag_labels
from relabel.adapters.noise.regression import regression_flag_ingredients, regression_metrics, robust_residual_z
from relabel.adapters.tasks.text_heads import TextHeadsAdapter

ERROR_MEANINGS = {"above": "the person's value is well above the model's",
                  "below": "the person's value is well below the model's"}


def _number(attributes: dict, name: str) -> float | None:
    try:
        return float(attributes[name]) if name in attributes else None
    except ValueError:
        raise UnsupportedLabelConfig(f"{name}={attributes[name]!r} of <{attributes.get('name')}> is not a number") from None


class RegressionTextAdapter(TextHeadsAdapter):
    name = "text-regression"
    description = "<Rating> or <Number> on a <Text>, <HyperText> or <Paragraphs>"
    primary_metric = "r2"
    labels_are_classes = False
    error_kinds = ERROR_MEANINGS

    @classmethod
    def parse_config(cls, label_config: str) -> ControlOnObject:
        return first_control_on(label_config, ("Rating", "Number"), TEXT_OBJECT_TAGS,
                                f"{cls.name} needs a <Rating> or <Number> on a <Text>, <HyperText> or <Paragraphs>")

    def __init__(self, label_config: str, *, encoder: str | None = None, alpha: float = 1.0, device: str = "auto",
                 seed: int = 0, feature_cache_dir: str | None = None,
                 embedding_layers: Sequence[str] = LAST_AND_MIDDLE):
        control = self.parse_config(label_config)
        self._read_control(control)
        attributes = control.attributes
        self.is_rating = _control_tag(label_config, self.from_name) == "Rating"
        if self.is_rating:
            self.lowest, self.highest, self.step = 1.0, _number(attributes, "maxRating") or 5.0, 1.0
        else:
            self.lowest, self.highest = _number(attributes, "min"), _number(attributes, "max")
            self.step = _number(attributes, "step")
        self.result_type = "rating" if self.is_rating else "number"
        self.alpha = alpha
        self._use_encoder(encoder, device, seed, feature_cache_dir, embedding_layers)

    def settings(self) -> dict:
        return {**self.encoder_settings(), "alpha": self.alpha, "kind": self.result_type,
                "range": [self.lowest, self.highest]}

    def model_identity(self) -> dict:
        return {**super().model_identity(), "kind": self.result_type}

    # --- tasks and labels ------------------------------------------------------------------------
    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[float | None, list[str]]:
        field_name = f"annotation {annotation.get('id')} {self.from_name}"
        results = annotation.get("result")
        if not isinstance(results, list):
            raise InvalidTask(task_id, field_name, "annotation result is not a list")
        items = [r for r in results if isinstance(r, dict) and r.get("from_name") == self.from_name]
        if not items:
            return None, []
        number = (items[0].get("value") or {}).get(self.result_type)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise InvalidTask(task_id, field_name, f"expected a {self.result_type}, got {number!r}")
        if (self.lowest is not None and number < self.lowest) or (self.highest is not None and number > self.highest):
            raise InvalidTask(task_id, field_name, f"{number!r} is outside the labeling config's range "
                                                   f"[{self.lowest}, {self.highest}]")
        return float(number), []

    def target_key(self, target: float) -> str:
        return f"{target:g}"

    def fold_strata(self, targets: Sequence[float]) -> list:
        # by quintile of the value, so every fold sees the whole range
        edges = np.quantile(np.asarray(targets, dtype=float), [0.2, 0.4, 0.6, 0.8]) if len(targets) else []
        return [int(np.searchsorted(edges, t, side="right")) for t in targets]

    def training_problem(self, targets: Sequence[float], n_folds: int) -> str | None:
        if len(targets) < n_folds:
            return f"{len(targets)} labeled task(s); training needs at least {n_folds} (RELABEL_FOLDS)"
        if len(set(targets)) < 2:
            return "every labeled task holds the same value: training needs at least two"
        return None

    # --- the model ---------------------------------------------------------------------------------
    def new_model(self) -> RidgeEnsemble:
        return RidgeEnsemble(self.lowest, self.highest, self.alpha, self.alpha)

    def output_to_json(self, output: Any) -> float:
        return round(float(output), 6)

    def output_from_json(self, data: Any) -> float:
        return float(data)

    def average_outputs(self, outputs: Sequence[Any]) -> float:
        return float(np.mean([float(o) for o in outputs]))

    def output_target(self, output: Any) -> float:
        """The model's value as a person would give it: whole stars, or the number on the tag's step."""
        value = float(output)
        if self.step:
            value = round(value / self.step) * self.step
        return float(np.clip(value, self.lowest if self.lowest is not None else -np.inf,
                             self.highest if self.highest is not None else np.inf))

    def to_prediction(self, output: Any) -> dict:
        value = self.output_target(output)
        return {"result": [{"from_name": self.from_name, "to_name": self.to_name, "type": self.result_type,
                            "value": {self.result_type: int(value) if self.is_rating else round(value, 6)}}]}

    # --- detection ---------------------------------------------------------------------------------
    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[float], outputs: Sequence[Any],
                           options: FlagOptions | None = None) -> list[Disagreement]:
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        labels, predictions = np.asarray(targets, dtype=float), np.asarray([float(o) for o in outputs])
        ingredients = regression_flag_ingredients(labels, predictions, self.step if self.is_rating else None,
                                                  self.name)
        flagged = flag_labels(ingredients, options)
        z = robust_residual_z(labels, predictions)
        return [Disagreement(task_id=int(task_id), flagged=bool(flagged[i]),
                             label_quality=float(ingredients.quality[i]), human=self.target_key(labels[i]),
                             model=f"{predictions[i]:.2f}",
                             facts={"model_value": round(float(predictions[i]), 4), "residual_z": round(float(z[i]), 3)},
                             errors={"above" if z[i] > 0 else "below": {self.target_key(labels[i]): 1}}
                             if abs(z[i]) > 2 else {})
                for i, task_id in enumerate(task_ids)]

    def flag_reason(self, disagreement: Disagreement) -> str:
        z = disagreement.facts.get("residual_z", 0.0)
        side = "above" if z > 0 else "below"
        return f"human: {disagreement.human} · model: {disagreement.model} ({side} it by {abs(z):.1f} robust sd)"

    def evaluate(self, targets: Sequence[float], outputs: Sequence[Any]) -> dict:
        return regression_metrics(np.asarray(targets, dtype=float), np.asarray([float(o) for o in outputs]))


def _control_tag(label_config: str, name: str) -> str:
    """The tag name ("Rating", "Number") of the control called `name`."""
    from label_studio_sdk.label_interface import LabelInterface

    return LabelInterface(label_config).get_tag(name).tag
