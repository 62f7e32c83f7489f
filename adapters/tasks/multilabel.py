"""Multi-label tags: a `<Choices choice="multiple">` on a `<Text>`, `<HyperText>` or `<Paragraphs>` (here)
or on an `<Image>` (adapters/tasks/multilabel_image.py), sharing `MultiLabelTags`.

A label is the set of tags a person chose (possibly none), kept in the config's order. The model gives
one probability per tag, out of fold (for text: the embedding + TF-IDF pair, one-vs-rest). A task is
flagged where its tag set is likely wrong (cleanlab's multi-label label quality and issue count,
adapters/noise/multilabel.py); the tab and the report say which tags are likely missing (the model sees
them, the person did not choose them) or extra (chosen, the model does not see them).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from relabel.adapters.base import ControlOnObject, Disagreement, InvalidTask, UnsupportedLabelConfig, first_control_on
from relabel.adapters.data.text_objects import TEXT_OBJECT_TAGS
from relabel.adapters.models.text_classifiers import OneVsRestEnsemble
from relabel.adapters.models.text_encoders import LAST_AND_MIDDLE
from relabel.adapters.noise.flags import FlagOptions, flag_labels
from relabel.adapters.noise.metrics import multilabel_metrics
from relabel.adapters.noise.multilabel import PRESENT, doubtful_tags, multilabel_flag_ingredients, tag_disagreements
from relabel.adapters.tasks.text_heads import TextHeadsAdapter

NO_TAGS = "(no tags)"
ERROR_MEANINGS = {"missing": "a tag the model sees that the person did not choose",
                  "extra": "a tag the person chose that the model does not see"}


def chosen_tags(task_id: Any, annotation: dict, from_name: str) -> list | None:
    """The values an annotation chose in the `<Choices name=from_name>` (an empty list when it chose none
    there: a submitted annotation with no tags says "no tag applies"); InvalidTask when malformed."""
    field_name = f"annotation {annotation.get('id')} {from_name}"
    results = annotation.get("result")
    if not isinstance(results, list):
        raise InvalidTask(task_id, field_name, "annotation result is not a list")
    chosen = []
    for item in results:
        if isinstance(item, dict) and item.get("from_name") == from_name:
            choices = (item.get("value") or {}).get("choices")
            if not isinstance(choices, list):
                raise InvalidTask(task_id, field_name, f"expected a list of choices, got {choices!r}")
            chosen += choices
    return chosen


class MultiLabelTags:
    """The tag logic of every multi-label adapter: labels, outputs (one probability per tag), flags,
    reasons and metrics. A subclass names its object tags and calls `_read_tags` with its control."""

    object_tags: tuple[str, ...] = TEXT_OBJECT_TAGS
    object_names = "a <Text>, <HyperText> or <Paragraphs>"
    default_quality_method = "self_confidence"  # cleanlab's multi-label score (the one method it has here)
    primary_metric = "micro_f1"
    error_kinds = ERROR_MEANINGS

    @classmethod
    def parse_config(cls, label_config: str) -> ControlOnObject:
        needs = f'{cls.name} needs a <Choices choice="multiple"> on {cls.object_names}'
        control = first_control_on(label_config, "Choices", cls.object_tags, needs)
        if control.attributes.get("choice") != "multiple":
            raise UnsupportedLabelConfig(needs)
        return control

    def _read_tags(self, control: ControlOnObject) -> None:
        self.classes = control.labels
        if len(self.classes) < 2:
            raise UnsupportedLabelConfig(f"<Choices name={control.from_name!r}> needs at least two choices")
        self.class_index = {name: i for i, name in enumerate(self.classes)}

    # --- tasks and labels ------------------------------------------------------------------------
    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[list, list[str]]:
        chosen = chosen_tags(task_id, annotation, self.from_name)
        unknown = [tag for tag in chosen if tag not in self.class_index]
        if unknown:
            raise InvalidTask(task_id, f"annotation {annotation.get('id')} {self.from_name}",
                              f"label(s) {unknown!r} not in the labeling config (choices: {', '.join(self.classes)})")
        return [tag for tag in self.classes if tag in chosen], []

    def target_key(self, target: Sequence[str]) -> str:
        return "|".join(target) if target else NO_TAGS

    def fold_strata(self, targets: Sequence[Sequence[str]]) -> list:
        # by the rarest tag of each label (tag sets themselves are mostly unique)
        counts = {tag: sum(tag in t for t in targets) for tag in self.classes}
        return [min(t, key=lambda tag: counts[tag]) if t else NO_TAGS for t in targets]

    def training_problem(self, targets: Sequence[Sequence[str]], n_folds: int) -> str | None:
        if len(targets) < n_folds:
            return f"{len(targets)} labeled task(s); training needs at least {n_folds} (RELABEL_FOLDS)"
        if not any(len(t) for t in targets):
            return "no labeled task holds a tag: training needs some"
        return None

    # --- the model's outputs -------------------------------------------------------------------------
    def output_to_json(self, output: Any) -> list[float]:
        return [round(float(p), 6) for p in output]

    def output_from_json(self, data: Any) -> np.ndarray:
        return np.asarray(data, dtype=float)

    def average_outputs(self, outputs: Sequence[Any]) -> np.ndarray:
        return np.mean([np.asarray(o, dtype=float) for o in outputs], axis=0)

    def output_target(self, output: Any) -> list[str]:
        return [tag for tag, p in zip(self.classes, output) if p >= PRESENT]

    def to_prediction(self, output: Any) -> dict:
        probabilities = np.asarray(output, dtype=float)
        return {"result": [{"from_name": self.from_name, "to_name": self.to_name, "type": "choices",
                            "value": {"choices": self.output_target(probabilities)}}],
                # how sure the model is of its tag set: its least sure tag decision
                "score": round(float(np.min(np.maximum(probabilities, 1 - probabilities))), 6)}

    # --- detection ---------------------------------------------------------------------------------
    def _arrays(self, targets: Sequence[Sequence[str]], outputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        tags = np.zeros((len(targets), len(self.classes)), dtype=bool)
        for row, target in enumerate(targets):
            tags[row, [self.class_index[tag] for tag in target]] = True
        pred_probs = np.vstack([np.asarray(o, dtype=float) for o in outputs]) if len(outputs) \
            else np.zeros((0, len(self.classes)))
        return tags, pred_probs

    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[Sequence[str]], outputs: Sequence[Any],
                           options: FlagOptions | None = None) -> list[Disagreement]:
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        tags, pred_probs = self._arrays(targets, outputs)
        ingredients = multilabel_flag_ingredients(tags, pred_probs, self.name)
        flagged = flag_labels(ingredients, options)
        missing, extra = tag_disagreements(tags, pred_probs)
        doubtful = doubtful_tags(tags, pred_probs)
        found = []
        for i, task_id in enumerate(task_ids):
            errors = {kind: {self.classes[k]: 1 for k in np.flatnonzero(mask[i])}
                      for kind, mask in (("missing", missing), ("extra", extra)) if mask[i].any()}
            found.append(Disagreement(
                task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(ingredients.quality[i]),
                human=self.target_key(targets[i]), model=self.target_key(self.output_target(pred_probs[i])),
                facts={"doubtful_tags": {self.classes[k]: round(float(pred_probs[i, k]), 3) for k in doubtful[i]}},
                label_classes=tuple(targets[i]), classes=tuple(self.classes[k] for k in doubtful[i]),
                errors=errors))
        return found

    def flag_reason(self, disagreement: Disagreement) -> str:
        probabilities = disagreement.facts.get("doubtful_tags", {})
        errors = disagreement.errors or {}
        parts = [f"{kind} {', '.join(f'{tag} {probabilities.get(tag, 0):.2f}' for tag in errors[kind])}"
                 for kind in ("missing", "extra") if kind in errors]
        if not parts:  # ranked in, no tag across the line: the most doubtful one
            parts = [f"doubtful {', '.join(f'{tag} {p:.2f}' for tag, p in probabilities.items())}"]
        return " · ".join(parts) + f" · human: {disagreement.human} · model: {disagreement.model}"

    def estimate_noise_rate(self, targets: Sequence[Sequence[str]], outputs: Sequence[Any]) -> float | None:
        if not len(targets):
            return None
        tags, pred_probs = self._arrays(targets, outputs)
        return float(multilabel_flag_ingredients(tags, pred_probs).confident_issues().mean())

    def evaluate(self, targets: Sequence[Sequence[str]], outputs: Sequence[Any]) -> dict:
        tags, pred_probs = self._arrays(targets, outputs)
        return multilabel_metrics(tags, pred_probs >= PRESENT)


class MultiLabelTextAdapter(MultiLabelTags, TextHeadsAdapter):
    name = "multi-label-text"
    description = 'multi-choice <Choices choice="multiple"> on a <Text>, <HyperText> or <Paragraphs>'

    def __init__(self, label_config: str, *, encoder: str | None = None, regularization: float = 1.0,
                 tfidf_regularization: float = 4.0, device: str = "auto", seed: int = 0,
                 feature_cache_dir: str | None = None, embedding_layers: Sequence[str] = LAST_AND_MIDDLE):
        control = self.parse_config(label_config)
        self._read_control(control)
        self._read_tags(control)
        self.regularization = regularization
        self.tfidf_regularization = tfidf_regularization
        self._use_encoder(encoder, device, seed, feature_cache_dir, embedding_layers)

    def settings(self) -> dict:
        return {**self.encoder_settings(), "regularization": self.regularization,
                "tfidf_regularization": self.tfidf_regularization, "seed": self.seed}

    def model_identity(self) -> dict:
        return {**super().model_identity(), "classes": self.classes}

    def new_model(self) -> OneVsRestEnsemble:
        return OneVsRestEnsemble(self.classes, self.regularization, self.tfidf_regularization, self.seed)
