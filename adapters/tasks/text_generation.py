"""Text generation: a `<TextArea>` answer for a `<Text>` (rewrites, normalisations, short answers).

A sequence-to-sequence model (adapters/models/seq2seq.py) learns to write the human answers from
the texts; out of fold, it writes its own answer for every labeled task. A human answer that the
model's answer does not support is flagged: its chrF against the model's answer is low, or the two
share no word at all (adapters/noise/texts.py). Label quality is chrF / 100.

The labeling config for re-labeling may also hold a single-choice `<Choices>` on the same `<Text>`
whose options come from the task data field `relabel_candidates` (Label Studio's dynamic
choices). The round driver writes [{"value": old answer}, {"value": model's answer}] there for the
flagged tasks, so an annotator picks one of the two, or types a new answer into the TextArea
(which wins when both are given):

    <View>
      <Text name="text" value="$text"/>
      <Choices name="candidate" toName="text" value="$relabel_candidates" choice="single" showInline="false"/>
      <TextArea name="answer" toName="text" rows="2" maxSubmissions="1" editable="true"/>
    </View>

(Do not call the data field `source`: Label Studio's editor shows the whole task JSON in its place.)

A `perRegion` TextArea (a note on a span or box) is not a text-generation answer and is ignored.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Sequence

import numpy as np

from relabel.adapters.base import (Disagreement, InvalidTask, Progress, TaskAdapter, UnsupportedLabelConfig, no_progress,
                                   non_empty_text, task_data_value)
from relabel.adapters.models.seq2seq import DEFAULT_GENERATION_MODEL
from relabel.adapters.noise.flags import FlagIngredients, FlagOptions, flag_labels, flag_lowest_quality
from relabel.adapters.noise.metrics import text_metrics
from relabel.adapters.noise.texts import text_scores
from relabel.adapters.task_fields import CANDIDATES_FIELD

#: A human answer whose chrF against the model's answer is below this (as a share, 0-1) is flagged
#: when FlagOptions.quality_threshold is not set. On the date benchmark (benchmarks/
#: RESULTS.md section 9) 0.9 flags nearly every answer that differs from the model's in any
#: character, which is what a short, exact answer calls for. Long free texts, where a correct
#: answer rarely matches the model's word for word, need a lower threshold or a budget.
DEFAULT_CHRF_THRESHOLD = 0.9
MODEL_FILE = "text_generation_model.json"


def _whole_text_control(control: Any, control_type: str) -> bool:
    """True for a control of `control_type` on a Text, answering for the whole text (not per region)."""
    return (control.tag.lower() == control_type.lower()
            and str(control.attr.get("perRegion", "false")).lower() != "true"
            and any(o.tag.lower() == "text" for o in control.objects))


def parse_text_generation_config(label_config: str) -> tuple[str, str, str, str | None]:
    """(TextArea name, Text name, data key, candidate Choices name or None) of the first whole-text TextArea.

    The candidate Choices is a single-choice Choices on the same Text whose options are the task
    data field CANDIDATES_FIELD. Raises UnsupportedLabelConfig when the config has no TextArea on a Text.
    """
    from label_studio_sdk.label_interface import LabelInterface

    needs = f"{TextGenerationAdapter.name} needs a <TextArea> on a <Text>"
    try:
        interface = LabelInterface(label_config)
    except Exception:  # the SDK raises its own XML and validation errors
        raise UnsupportedLabelConfig(needs) from None
    for control in interface.controls:
        if not _whole_text_control(control, "TextArea"):
            continue
        text = next(o for o in control.objects if o.tag.lower() == "text")
        candidates = [c.name for c in interface.controls
                      if _whole_text_control(c, "Choices") and text.name in c.to_name
                      and c.attr.get("value") == f"${CANDIDATES_FIELD}"
                      and c.attr.get("choice", "single") in ("single", "single-radio")]
        return control.name, text.name, text.value_name, (candidates[0] if candidates else None)
    raise UnsupportedLabelConfig(needs)


def relabel_outcome(old_text: str, model_text: str, new_text: str) -> str:
    """What a human did with a flagged answer: "kept" the old one, "replaced" it by the model's, or "rewritten".

    Texts are compared after stripping; an answer equal to both old and model text counts as kept.
    """
    new_text = new_text.strip()
    if new_text == old_text.strip():
        return "kept"
    if new_text == model_text.strip():
        return "replaced"
    return "rewritten"


class TextGenerationAdapter(TaskAdapter):
    name = "text-generation"
    description = "<TextArea> answers for a <Text>"
    default_folds = 5
    labels_are_classes = False  # free text: no per-class counts in the report
    primary_metric = "exact_match"
    relabel_field_names = (CANDIDATES_FIELD,)

    @classmethod
    def parse_config(cls, label_config: str) -> tuple[str, str, str, str | None]:
        return parse_text_generation_config(label_config)

    def __init__(self, label_config: str, *, generation_model: str = DEFAULT_GENERATION_MODEL, epochs: int = 10,
                 batch_size: int = 32, learning_rate: float | None = None, min_steps: int = 700,
                 device: str = "auto", seed: int = 0):
        self.from_name, self.to_name, self.data_key, self.candidate_name = self.parse_config(label_config)
        self.generation_model = generation_model or DEFAULT_GENERATION_MODEL
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_steps = min_steps
        self.device = device
        self.seed = seed

    def fits_in_parallel(self, n_labeled: int) -> bool:
        # One torch thread fits the small default BART as fast as two, at least 700 steps a fit. A pretrained model
        # named in RELABEL_GENERATION_MODEL is not measured: in turn, as the fine-tuned encoders.
        return self.generation_model == DEFAULT_GENERATION_MODEL

    def settings(self) -> dict:
        return {"generation_model": self.generation_model, "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.new_model().peak_learning_rate(), "min_steps": self.min_steps,
                "seed": self.seed}

    # ---- reading tasks

    def input_from_task(self, task: dict) -> str:
        task_id, value = task_data_value(task, self.data_key)
        return non_empty_text(task_id, self.data_key, value)

    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[str | None, list[str]]:
        """The answer typed into the TextArea (several lines joined), else the candidate chosen, else None."""
        results = annotation.get("result")
        if not isinstance(results, list):
            raise InvalidTask(task_id, f"annotation {annotation.get('id')} {self.from_name}",
                              "annotation result is not a list")
        typed = self._typed_answer(task_id, annotation, results)
        if typed:
            return typed, []
        if self.candidate_name is not None:
            return self._chosen_candidate(task_id, annotation, results), []
        return None, []

    def _items(self, results: list, control_name: str) -> list[dict]:
        return [r for r in results if isinstance(r, dict) and r.get("from_name") == control_name]

    def _typed_answer(self, task_id: Any, annotation: dict, results: list) -> str:
        lines = []
        for item in self._items(results, self.from_name):
            texts = (item.get("value") or {}).get("text")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise InvalidTask(task_id, f"annotation {annotation.get('id')} {self.from_name}",
                                  f"expected a list of texts, got {texts!r:.60}")
            lines += texts
        return "\n".join(lines).strip()

    def _chosen_candidate(self, task_id: Any, annotation: dict, results: list) -> str | None:
        items = self._items(results, self.candidate_name)
        if not items:
            return None
        choices = (items[0].get("value") or {}).get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
            raise InvalidTask(task_id, f"annotation {annotation.get('id')} {self.candidate_name}",
                              f"expected exactly one chosen text, got {choices!r:.60}")
        return choices[0].strip() or None

    # ---- model

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> list[str]:
        return list(inputs)  # the model reads the texts themselves

    def new_model(self):
        from relabel.adapters.models.seq2seq import Seq2SeqGenerator

        return Seq2SeqGenerator(self.generation_model, epochs=self.epochs, batch_size=self.batch_size,
                                learning_rate=self.learning_rate, min_steps=self.min_steps, device=self.device,
                                seed=self.seed)

    def fold_strata(self, targets: Sequence[str]) -> list[str]:
        # Answers are not classes: one stratum, so the folds are a plain seeded shuffle.
        return [""] * len(targets)

    def average_outputs(self, outputs: Sequence[str]) -> str:
        """The answer most of the repeated fold splits gave (ties: the first split's)."""
        return Counter(outputs).most_common(1)[0][0]

    def to_prediction(self, output: str) -> dict:
        # No score: greedy decoding gives no calibrated confidence for a whole answer.
        return {"result": [{"from_name": self.from_name, "to_name": self.to_name, "type": "textarea",
                            "value": {"text": [output]}}]}

    # ---- disagreement

    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[str], outputs: Sequence[str],
                           options: FlagOptions | None = None) -> list[Disagreement]:
        """Uses options.flag_rule, budget, quality_threshold (the chrF threshold) and bleu_threshold.

        disagreement, and budget without a budget: flagged below the chrF threshold (`quality_threshold`,
        default DEFAULT_CHRF_THRESHOLD) or the BLEU threshold, or sharing no word with the model's
        answer. A `budget`: that many answers of lowest chrF among those that differ from the model's.
        `human` and `model` are the texts as they are: a Markdown report must escape "|" and newlines.
        """
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        scores = text_scores(targets, outputs)
        quality, differing = scores.quality, scores.quality < 1.0
        disagrees = scores.flags(DEFAULT_CHRF_THRESHOLD if options.quality_threshold is None
                                 else options.quality_threshold, options.bleu_threshold)
        flagged = flag_labels(FlagIngredients(
            quality=quality, disagrees=disagrees, default_flags=lambda: disagrees,
            below_threshold=lambda threshold: scores.flags(threshold, options.bleu_threshold),
            spend_budget=lambda k: flag_lowest_quality(np.where(differing, quality, np.inf), k) & differing,
            task_type="text generation"), options)
        return [Disagreement(task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(quality[i]),
                             human=targets[i], model=outputs[i], model_key=outputs[i],
                             facts={"chrf": round(float(quality[i]) * 100, 2), "bleu": round(float(scores.bleu[i]), 2),
                                    "shares_token": bool(scores.shares_token[i])})
                for i, task_id in enumerate(task_ids)]

    def output_target(self, output: str) -> str:
        return output

    def evaluate(self, targets: Sequence[str], outputs: Sequence[str]) -> dict:
        return text_metrics(targets, outputs)

    def flag_reason(self, disagreement: Disagreement) -> str:
        model = " ".join(disagreement.model.split())
        return f"chrF {disagreement.facts.get('chrf', 0):.0f} · model: {model[:120]}"

    def relabel_fields(self, disagreement: Disagreement) -> dict:
        """The old answer and the model's, as the candidate Choices' options (the module docstring's config)."""
        texts = [text for text in (disagreement.human, disagreement.model) if text and text.strip()]
        return {CANDIDATES_FIELD: [{"value": text} for text in dict.fromkeys(texts)]}

    # ---- storage

    def save_model(self, model, directory: str) -> None:
        model.save(directory)
        with open(os.path.join(directory, MODEL_FILE), "w") as file:
            json.dump({"generation_model": self.generation_model}, file)

    def load_model(self, directory: str):
        from relabel.adapters.models.seq2seq import Seq2SeqGenerator

        with open(os.path.join(directory, MODEL_FILE)) as file:
            saved = json.load(file)
        if saved["generation_model"] != self.generation_model:
            raise ValueError(f"model in {directory} was fine-tuned from generation_model="
                             f"{saved['generation_model']!r}, but the backend is configured for "
                             f"{self.generation_model!r}: train a new model")
        return Seq2SeqGenerator.load(directory, device=self.device)
