"""Named-entity recognition: `<Labels>` (character spans) on a `<Text>`.

Each text is split into words (adapters/noise/spans.py); the human spans become BIO tags per word and a
fine-tuned transformers token classifier predicts a tag distribution per word. A sentence's label
quality is its worst word's score (cleanlab's token-classification "min"), computed on entity
classes (B- and I- merged). Disagreement is per entity class: the class's spans in the human
label against the model's (exact match; overlap with other bounds is a boundary error).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from relabel.adapters.base import (ControlOnObject, Disagreement, InvalidTask, Progress, TaskAdapter,
                                   UnsupportedLabelConfig, first_control_on, no_progress, non_empty_text,
                                   task_data_value)
from relabel.adapters.models.token_classifier import training_passes
from relabel.adapters.models.text_encoders import DEFAULT_ENCODER
from relabel.adapters.noise.flags import FlagIngredients, FlagOptions, flag_labels, flag_lowest_quality
from relabel.adapters.noise.metrics import entity_metrics
from relabel.adapters.noise.probabilities import find_confident_label_issues, label_quality_scores
from relabel.adapters.noise.spans import (ERROR_MEANINGS, Span, class_probabilities, compare_spans, differing_classes,
                                          locate_span, sentence_scores, spans_to_tags, tag_names, tags_to_spans,
                                          token_classes, tokenize, worst_token)


@dataclass
class TokenizedText:
    """A text and its words as code-point offsets."""

    text: str
    offsets: list[tuple[int, int]]

    @property
    def words(self) -> list[str]:
        return [self.text[start:end] for start, end in self.offsets]


@dataclass
class TagProbabilities:
    """A model output: the text, its words, and a tag distribution per word, shape (n_words, 1 + 2C).

    `sources`: where `probabilities` is the average of two prediction sources (blended: out of fold and in
    sample), each one's own tag distributions, so that each model's verdict on the sentence counts apart."""

    text: str
    offsets: list[tuple[int, int]]
    probabilities: np.ndarray
    sources: list[np.ndarray] | None = None


class TokenTagger:
    """fit(texts, span lists) / predict(texts) over TokenizedText, wrapping a word-level tag classifier."""

    def __init__(self, classes: Sequence[str], classifier: Any):
        self.classes = list(classes)
        self.classifier = classifier

    def fit(self, texts: Sequence[TokenizedText], targets: Sequence[Sequence[Span]]) -> "TokenTagger":
        tags = [spans_to_tags(t.offsets, [tuple(s) for s in spans], self.classes)[0]
                for t, spans in zip(texts, targets)]
        self.classifier.fit([t.words for t in texts], tags)
        return self

    def predict(self, texts: Sequence[TokenizedText]) -> list[TagProbabilities]:
        probabilities = self.classifier.predict([t.words for t in texts])
        return [TagProbabilities(t.text, t.offsets, p) for t, p in zip(texts, probabilities)]


def _readable(text: str, spans: Sequence[Span]) -> str:
    return "; ".join(f"{label} '{text[start:end]}'" for start, end, label in spans) or "(no entities)"


class NerAdapter(TaskAdapter):
    name = "ner"
    description = "<Labels> (spans) on a <Text>"
    # Per word, then the sentence's worst word: it ranks corrupted sentences best on CoNLL-2003
    # (AUPRC 0.91 against 0.81 for normalized_margin; benchmarks/RESULTS.md section 5).
    default_quality_method = "confidence_weighted_entropy"
    primary_metric = "entity_f1"
    # Out-of-fold and the full model's in-sample outputs averaged: a few epochs of fine-tuning barely
    # memorise the wrong spans, so the full model (all sentences, not 4/5) is the better tagger, and the
    # average ranks wrong sentences as well as in-sample alone with a better flag count (RESULTS.md 16).
    # Only where the full model trains its few epochs: see prediction_source_for.
    default_prediction_source = "blended"

    error_kinds = ERROR_MEANINGS

    @classmethod
    def parse_config(cls, label_config: str) -> ControlOnObject:
        return first_control_on(label_config, "Labels", "Text", f"{cls.name} needs a <Labels> on a <Text>")

    def prediction_source_for(self, n_labeled: int) -> str:
        # A small project's full model trains many more passes than `epochs` (at least MIN_STEPS steps)
        # and learns its wrong spans by heart: its in-sample outputs would hide them. Out of fold there.
        passes = training_passes(n_labeled, self.epochs, self.batch_size)
        return self.default_prediction_source if passes <= self.epochs else "out_of_fold"

    def __init__(self, label_config: str, *, encoder: str | None = None, epochs: int = 3, batch_size: int = 16,
                 learning_rate: float = 1e-4, device: str = "auto", seed: int = 0):
        control = self.parse_config(label_config)
        self.from_name, self.to_name, self.data_key, self.classes = (control.from_name, control.to_name,
                                                                     control.data_key, control.labels)
        if not self.classes:
            raise UnsupportedLabelConfig(f"<Labels name={self.from_name!r}> needs at least one label")
        self.tags = tag_names(self.classes)
        self.encoder = encoder or DEFAULT_ENCODER
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.seed = seed

    def settings(self) -> dict:
        return {"encoder": self.encoder, "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "seed": self.seed}

    # ---- reading tasks

    def input_from_task(self, task: dict) -> str:
        task_id, value = task_data_value(task, self.data_key)
        return non_empty_text(task_id, self.data_key, value)

    def label_from_annotation(self, task_id: Any, text: str, annotation: dict) -> tuple[list[list], list[str]]:
        """The annotation's spans snapped to words, as sorted [start, end, label] lists, and notes on any it changed."""
        field_name = f"annotation {annotation.get('id')} {self.from_name}"
        results = annotation.get("result")
        if not isinstance(results, list):
            raise InvalidTask(task_id, field_name, "annotation result is not a list")
        spans, notes = [], []
        for result in results:
            if not isinstance(result, dict) or result.get("from_name") != self.from_name:
                continue
            value = result.get("value") or {}
            labels, start, end = value.get("labels"), value.get("start"), value.get("end")
            if not isinstance(labels, list) or len(labels) != 1:
                raise InvalidTask(task_id, field_name, f"expected exactly one label per span, got {labels!r}")
            if labels[0] not in self.classes:
                raise InvalidTask(task_id, field_name, f"label {labels[0]!r} is not in the labeling config "
                                                       f"(labels: {', '.join(self.classes)})")
            if isinstance(start, bool) or not isinstance(start, int) or isinstance(end, bool) or not isinstance(end, int):
                raise InvalidTask(task_id, field_name, f"span start/end must be whole numbers, got {start!r}/{end!r}")
            located = locate_span(text, start, end, value.get("text"))
            if located is None:
                notes.append(f"{labels[0]} span {start}-{end} {value.get('text')!r} is not in the text: left out")
                continue
            spans.append((*located, labels[0]))
        _, snapped, problems = spans_to_tags(tokenize(text), spans, self.classes)
        notes += [f"{p.kind} {p.span[2]} span {p.span[0]}-{p.span[1]} {text[p.span[0]:p.span[1]]!r}: {p.detail}"
                  for p in problems]
        return [list(s) for s in snapped], notes

    # ---- model

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> list[TokenizedText]:
        return [TokenizedText(text, tokenize(text)) for text in inputs]

    def new_model(self) -> TokenTagger:
        from relabel.adapters.models.token_classifier import FineTunedTokenClassifier

        return TokenTagger(self.classes, FineTunedTokenClassifier(
            self.tags, encoder=self.encoder, epochs=self.epochs, batch_size=self.batch_size,
            learning_rate=self.learning_rate, device=self.device, seed=self.seed))

    def fold_strata(self, targets: Sequence[Any]) -> list[str]:
        # Folds stratified by which entity classes a sentence holds.
        return ["+".join(sorted({span[2] for span in spans})) for spans in targets]

    def training_problem(self, targets: Sequence[Any], n_folds: int) -> str | None:
        if len(targets) < n_folds:
            return f"{len(targets)} labeled task(s); training needs at least {n_folds} (RELABEL_FOLDS)"
        if not any(len(spans) for spans in targets):
            return "no labeled task holds an entity span"
        return None

    def predicted_spans(self, output: TagProbabilities) -> list[Span]:
        return tags_to_spans(output.offsets, np.asarray(output.probabilities).argmax(axis=1), self.classes) \
            if len(output.offsets) else []

    def to_prediction(self, output: TagProbabilities) -> dict:
        probabilities = np.asarray(output.probabilities, dtype=float)
        confidence = probabilities.max(axis=1) if len(probabilities) else np.ones(1)
        result = []
        for start, end, label in self.predicted_spans(output):
            words = [i for i, (s, e) in enumerate(output.offsets) if s >= start and e <= end]
            result.append({"from_name": self.from_name, "to_name": self.to_name, "type": "labels",
                           "value": {"start": start, "end": end, "text": output.text[start:end], "labels": [label]},
                           "score": round(float(confidence[words].min()), 6)})
        return {"result": result, "score": round(float(confidence.min()), 6)}

    # ---- disagreement

    def _token_arrays(self, targets: Sequence[Any], outputs: Sequence[TagProbabilities]):
        """(token class labels, token class probabilities, tokens per sentence), all sentences concatenated."""
        labels, lengths = [], []
        for spans, output in zip(targets, outputs):
            tags = spans_to_tags(output.offsets, [tuple(s) for s in spans], self.classes)[0]
            labels.append(token_classes(tags))
            lengths.append(len(tags))
        return (np.concatenate(labels) if labels else np.zeros(0, dtype=int),
                self._class_probabilities([o.probabilities for o in outputs]), np.array(lengths, dtype=int))

    def _class_probabilities(self, tag_probabilities: Sequence[np.ndarray]) -> np.ndarray:
        """Per-word tag distributions, all sentences concatenated, as entity-class distributions (B- and I- merged)."""
        if not len(tag_probabilities):
            return np.zeros((0, 1 + len(self.classes)))
        return np.vstack([class_probabilities(np.asarray(p).reshape(-1, len(self.tags))) for p in tag_probabilities])

    def _sentences_with_confident_issues(self, labels: np.ndarray, probabilities: np.ndarray, lengths: np.ndarray,
                                         filter_by: str) -> np.ndarray:
        token_issues = find_confident_label_issues(labels, probabilities, filter_by)
        return sentence_scores(~token_issues, lengths) == 0  # a sentence's min is 0 when any token is an issue

    def _sentence_quality(self, labels: np.ndarray, token_quality: np.ndarray, lengths: np.ndarray,
                          outputs: Sequence[TagProbabilities], method: str) -> np.ndarray:
        """Each sentence's label quality: its worst word's score; for blended outputs, the mean of each source's
        worst-word score. The out-of-fold models and the full model each judge the sentence, and a sentence both
        doubt comes before one that only the average of their probabilities doubts (benchmarks/RESULTS.md 24: the
        ranking's AUPRC 0.843 -> 0.847 and 0.914 -> 0.917 on corrupted CoNLL sentences, 0.316 -> 0.326 on real
        annotation errors)."""
        if not outputs or any(o.sources is None or len(o.sources) != len(outputs[0].sources) for o in outputs):
            return sentence_scores(token_quality, lengths)
        per_source = []
        for source in range(len(outputs[0].sources)):
            source_probabilities = self._class_probabilities([o.sources[source] for o in outputs])
            per_source.append(sentence_scores(label_quality_scores(labels, source_probabilities, method=method),
                                              lengths))
        return np.mean(per_source, axis=0)

    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[Any],
                           outputs: Sequence[TagProbabilities], options: FlagOptions | None = None
                           ) -> list[Disagreement]:
        """Flags per `options`: disagreement, any class's spans differ; confident_learning, a word is one of
        cleanlab's confident label issues; budget, the lowest sentence scores (under a threshold, `budget`
        of them, or as many as hold a confident issue)."""
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        labels, probabilities, lengths = self._token_arrays(targets, outputs)
        method = options.quality_method or self.default_quality_method
        token_quality = label_quality_scores(labels, probabilities, method=method)
        quality = self._sentence_quality(labels, token_quality, lengths, outputs, method)
        worst = worst_token(token_quality, lengths)
        human_spans = [[tuple(s) for s in spans] for spans in targets]
        model_spans = [self.predicted_spans(o) for o in outputs]
        errors = [compare_spans(h, m) for h, m in zip(human_spans, model_spans)]

        def confident_issues() -> np.ndarray:
            return self._sentences_with_confident_issues(labels, probabilities, lengths,
                                                         options.confident_learning_filter)
        flagged = flag_labels(FlagIngredients(
            quality=quality,
            disagrees=np.array([bool(differing_classes(h, m)) for h, m in zip(human_spans, model_spans)]),
            default_flags=lambda: flag_lowest_quality(quality, int(confident_issues().sum())),
            confident_issues=confident_issues, task_type=self.name), options)

        disagreements = []
        starts = np.cumsum(lengths) - lengths
        for i, task_id in enumerate(task_ids):
            output = outputs[i]
            classes = differing_classes(human_spans[i], model_spans[i])
            worst_word = None
            if worst[i] >= 0:
                token = starts[i] + worst[i]
                start, end = output.offsets[worst[i]]
                worst_word = output.text[start:end]
                if not classes:  # flagged on a doubtful word alone: file it under the classes that word involves
                    involved = {int(labels[token]), int(probabilities[token].argmax())} - {0}
                    classes = sorted(self.classes[c - 1] for c in involved)
            disagreements.append(Disagreement(
                task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(quality[i]),
                human=_readable(output.text, human_spans[i]), model=_readable(output.text, model_spans[i]),
                classes=tuple(classes), label_classes=tuple(sorted({s[2] for s in human_spans[i]})),
                errors={kind: dict(counts) for kind, counts in errors[i].items() if counts},
                facts={"worst_word": worst_word}))
        return disagreements

    def output_target(self, output: TagProbabilities) -> list[list]:
        return [list(span) for span in self.predicted_spans(output)]

    def flag_reason(self, disagreement: Disagreement) -> str:
        kinds = [f"{kind} {name}" for kind, counts in (disagreement.errors or {}).items() for name in counts]
        word = disagreement.facts.get("worst_word")
        what = "; ".join(kinds) or ("doubtful word '" + word + "'" if word else "spans differ")
        return f"{what} · human: {disagreement.human} · model: {disagreement.model}"[:300]

    def evaluate(self, targets: Sequence[Any], outputs: Sequence[TagProbabilities]) -> dict:
        return entity_metrics([[tuple(s) for s in spans] for spans in targets],
                              [self.predicted_spans(o) for o in outputs])

    def estimate_noise_rate(self, targets: Sequence[Any], outputs: Sequence[TagProbabilities]) -> float | None:
        if not len(targets):
            return None
        labels, probabilities, lengths = self._token_arrays(targets, outputs)
        return float(self._sentences_with_confident_issues(labels, probabilities, lengths, "both").mean())

    def average_outputs(self, outputs: Sequence[TagProbabilities]) -> TagProbabilities:
        return TagProbabilities(outputs[0].text, outputs[0].offsets,
                                np.mean([np.asarray(o.probabilities, dtype=float) for o in outputs], axis=0))

    def blend_outputs(self, out_of_fold: TagProbabilities, in_sample: TagProbabilities) -> TagProbabilities:
        """The average, keeping both sources: a sentence's quality is each source's, averaged (_sentence_quality)."""
        blended = self.average_outputs([out_of_fold, in_sample])
        blended.sources = [np.asarray(o.probabilities, dtype=float) for o in (out_of_fold, in_sample)]
        return blended

    def target_key(self, target: Any) -> str:
        return json.dumps([list(s) for s in target])

    # ---- storage

    def save_model(self, model: TokenTagger, directory: str) -> None:
        model.classifier.save(directory)
        with open(os.path.join(directory, "ner_model.json"), "w") as file:
            json.dump({"encoder": self.encoder, "classes": self.classes}, file)

    def load_model(self, directory: str) -> TokenTagger:
        from relabel.adapters.models.token_classifier import FineTunedTokenClassifier

        with open(os.path.join(directory, "ner_model.json")) as file:
            saved = json.load(file)
        if saved["classes"] != self.classes:
            raise ValueError(f"model in {directory} predicts the labels {saved['classes']}, but the labeling config "
                             f"<Labels name={self.from_name!r}> now has {self.classes}: train a new model")
        return TokenTagger(self.classes, FineTunedTokenClassifier.load(directory, device=self.device))

    def output_to_json(self, output: TagProbabilities) -> dict:
        def rounded(probabilities) -> list:
            return np.round(np.asarray(probabilities, dtype=float), 5).tolist()

        if output.sources is not None:  # the average is theirs: stored once, as its sources
            return {"text": output.text, "offsets": [list(o) for o in output.offsets],
                    "sources": [rounded(source) for source in output.sources]}
        return {"text": output.text, "offsets": [list(o) for o in output.offsets],
                "probabilities": rounded(output.probabilities)}

    def output_from_json(self, data: dict) -> TagProbabilities:
        def matrix(probabilities) -> np.ndarray:
            return np.asarray(probabilities, dtype=float).reshape(-1, len(self.tags))

        offsets = [tuple(o) for o in data["offsets"]]
        if "sources" in data:
            sources = [matrix(source) for source in data["sources"]]
            return TagProbabilities(data["text"], offsets, np.mean(sources, axis=0), sources)
        return TagProbabilities(data["text"], offsets, matrix(data["probabilities"]))
