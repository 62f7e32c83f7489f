"""The task-type interface every adapter implements.

An adapter owns one kind of Label Studio labeling config (text classification, NER, detection, ...).
It turns Label Studio tasks into examples, builds the model that learns from them, turns model
outputs into Label Studio prediction JSON, and says where a human label and a model output disagree.

The backend and the round driver (relabel.rounds) only talk to adapters through this interface, so a
new task type is a new module in adapters/tasks/ and a line in the registry (adapters/__init__.py).
"""
from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from relabel.adapters.task_fields import ROUND_FIELD

log = logging.getLogger(__name__)


class InvalidTask(ValueError):
    """A task or annotation that cannot be used; names the task and the field at fault."""

    def __init__(self, task_id: Any, field_name: str, problem: str):
        self.task_id = task_id
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"task {task_id}: {field_name}: {problem}")


class UnsupportedLabelConfig(ValueError):
    """No adapter understands this labeling config."""


@dataclass
class Example:
    """One Label Studio task as a model sees it.

    `target` is the human label in the adapter's own form (a class name for classification), or
    None for a task nobody has labeled yet. `annotation_id` names the annotation it came from and
    `annotator` the Label Studio user who made it (its `completed_by`). `notes` say what of the
    annotation could not be used as given (e.g. a span cut through a word). `votes` holds, where two or
    more people labeled the task, each one's latest label ({annotator id: target}); `target` is then
    their consensus (TaskAdapter.consensus_of_votes).
    """

    task_id: int
    input: Any
    target: Any = None
    annotation_id: int | None = None
    notes: list[str] = field(default_factory=list)
    annotator: int | None = None
    votes: dict[int, Any] | None = None


class RoundPolicy(str, Enum):
    """What a round does with the labels it flags; each task type names its own (`TaskAdapter.round_policy`)."""

    #: flagged tasks go back to people, who re-label them (every task type but clicks)
    RELABEL = "relabel"
    #: flagged rows leave the training set and nobody re-labels them (clicks, as in the paper)
    DROP_ROWS = "drop_rows"


@dataclass(frozen=True)
class Disagreement:
    """How one human label compares with the model's output for the same task.

    `flagged` says the task should go back to a human. `label_quality` orders the flagged tasks:
    lower means the human label is more likely wrong (cleanlab's convention). `human` and `model`
    are short readable forms of both labels for reports; `facts` holds the numbers a report shows
    beside them (the model's confidence, chrF, the click error, ...).

    Where a label holds several classes (spans, boxes): `label_classes`, the classes in the human
    label, and `classes`, those the task is flagged for; None means the label is one class, `human`.
    `errors` counts how the label differs, {error kind: {class: count}}, the kinds being the adapter's
    `error_kinds` (None: the task type counts none). `model_key` is the `target_key` of the model's
    answer where a human may take it as the new label (text generation).
    """

    task_id: int
    flagged: bool
    label_quality: float
    human: str
    model: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    label_classes: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    errors: Mapping[str, Mapping[str, int]] | None = None
    model_key: str | None = None

    @property
    def held_classes(self) -> list[str]:
        """The classes the human label holds."""
        return list(self.label_classes) if self.label_classes is not None else [self.human]

    @property
    def flagged_classes(self) -> list[str]:
        """The classes the task is flagged for."""
        return list(self.classes) if self.classes is not None else [self.human]

    @property
    def detail(self) -> dict:
        """What the report lists for this task besides task, labels and quality, as plain JSON."""
        fields: dict[str, Any] = {}
        if self.classes is not None:
            fields["classes"] = list(self.classes)
        if self.label_classes is not None:
            fields["label_classes"] = list(self.label_classes)
        if self.errors is not None:
            fields["errors"] = {kind: dict(counts) for kind, counts in self.errors.items()}
        if self.model_key is not None:
            fields["model_key"] = self.model_key
        return {**fields, **self.facts}


def readable_reason(disagreement: Disagreement) -> str:
    """Both labels, and the model's confidence where it has one: "human: sports · model: food 0.91"; where
    several people labeled the task, their votes: "human: sports (annotators: sports 2 · food 1) · ..."."""
    confidence, votes = disagreement.facts.get("model_confidence"), disagreement.facts.get("votes")
    return f"human: {disagreement.human}" + ("" if votes is None else f" (annotators: {votes})") + \
        f" · model: {disagreement.model}" + ("" if confidence is None else f" {confidence:.2f}")


# A progress callback: (stage name, units done, units in total).
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    return None


def task_data_value(task: Any, data_key: str) -> tuple[Any, Any]:
    """(task id, task["data"][data_key]); InvalidTask naming the task and field when it is missing."""
    task_id = task.get("id") if isinstance(task, dict) else None
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict):
        raise InvalidTask(task_id, "data", "missing or not a JSON object")
    if data_key not in data:
        raise InvalidTask(task_id, f"data.{data_key}",
                          f"missing (the labeling config reads ${data_key}; the task has {sorted(data)})")
    return task_id, data[data_key]


def non_empty_text(task_id: Any, data_key: str, value: Any) -> str:
    """`value` when it is a text with something in it, else InvalidTask naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidTask(task_id, f"data.{data_key}", f"expected non-empty text, got {value!r:.60}")
    return value


@dataclass(frozen=True)
class ControlOnObject:
    """A control tag of a labeling config (Choices, Labels, ...) and the object tag (Text, Image) it labels."""

    from_name: str
    to_name: str
    #: the task data field the object tag shows ($text -> "text")
    data_key: str
    labels: list[str]
    attributes: dict
    #: the object tag it labels ("Text", "HyperText", ...) and that tag's attributes (nameKey, ...)
    object_tag: str = ""
    object_attributes: dict | None = None


def first_control_on(label_config: str, control_tag: str, object_tag: str | tuple[str, ...],
                     needs: str) -> ControlOnObject:
    """The config's first `<control_tag>` labeling an `<object_tag>` (or any of a tuple of them), read with
    label-studio-sdk.

    UnsupportedLabelConfig(needs) when there is none, or when the config cannot be parsed at all.
    """
    from label_studio_sdk.label_interface import LabelInterface

    try:
        interface = LabelInterface(label_config)
        from_name, to_name, value = interface.get_first_tag_occurence(control_tag, object_tag)
        control = interface.get_tag(from_name)
        labeled = interface.get_object(to_name)
    except Exception:  # the SDK raises its own XML and validation errors, and ValueError when there is none
        raise UnsupportedLabelConfig(needs) from None
    return ControlOnObject(from_name, to_name, str(value).lstrip("$"), list(control.labels), dict(control.attr),
                           labeled.tag, dict(labeled.attr))


def annotator_of(annotation: dict | None) -> int | None:
    """The Label Studio user id who made an annotation (`completed_by` is an id, or a user object)."""
    who = (annotation or {}).get("completed_by")
    if isinstance(who, dict):
        who = who.get("id")
    return who if isinstance(who, int) and not isinstance(who, bool) else None


def latest_annotation(task: dict) -> dict | None:
    """The task's most recent annotation that was not cancelled (skipped), or None.

    Label Studio keeps every annotation; the newest one is the current human label, so a re-labeled
    task trains the next model with its new label while the old annotation stays untouched.
    """
    votes = annotator_votes(task)
    return votes[0] if votes else None


def annotator_votes(task: dict) -> list[dict]:
    """Each annotator's latest annotation that was not cancelled, latest first (an annotation of an
    unknown author counts as its own annotator)."""
    annotations = sorted((a for a in task.get("annotations") or [] if not a.get("was_cancelled")),
                         key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0),
                         reverse=True)
    seen, votes = set(), []
    for annotation in annotations:
        who = annotator_of(annotation)
        key = who if who is not None else ("annotation", annotation.get("id"))
        if key not in seen:
            seen.add(key)
            votes.append(annotation)
    return votes


def majority_vote(labels: Sequence[Any]) -> Any:
    """The most frequent label; a tie goes to the one that comes first (the latest)."""
    counts: dict = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return max(counts, key=lambda label: (counts[label], -labels.index(label)))


class TaskAdapter(ABC):
    """Base class of all task-type adapters.

    Constructing an adapter only parses the label config: it must stay cheap, because the round
    driver builds one just to score disagreements. Heavy libraries are imported by the methods
    that train or predict.
    """

    #: short name used in model versions, reports and logs
    name: ClassVar[str]
    #: the labeling configs it understands, in words (listed when no adapter understands a config)
    description: ClassVar[str]
    #: the label-quality score (adapters.noise.QUALITY_METHODS) that ranks this task type's labels
    #: best in the benchmarks, used when FlagOptions.quality_method is None
    default_quality_method: ClassVar[str] = "normalized_margin"
    #: the share of the neighbour vote mixed into the model's probabilities when FlagOptions leaves it open
    #: (0: the model alone; benchmarks/RESULTS.md section 14)
    default_neighbour_weight: ClassVar[float] = 0.0
    #: K of the K-fold out-of-fold predictions when the backend's RELABEL_FOLDS leaves it open
    default_folds: ClassVar[int] = 5
    #: where the labeled tasks' outputs come from when RELABEL_PREDICTION_SOURCE leaves it open
    #: (relabel.adapters.data.folds.PREDICTION_SOURCES; see `prediction_source_for`)
    default_prediction_source: ClassVar[str] = "out_of_fold"
    #: what a round does with the flagged labels: re-label them, or drop the rows from training (clicks)
    round_policy: ClassVar[RoundPolicy] = RoundPolicy.RELABEL
    #: the task data fields `relabel_fields` writes (removed again when a re-run no longer flags a task)
    relabel_field_names: ClassVar[tuple[str, ...]] = ()
    #: False for free-text labels (text generation): reports then count no classes or label pairs
    labels_are_classes: ClassVar[bool] = True
    #: the kinds of `Disagreement.errors` this task type counts, with what each means seen from the
    #: human label (spans: missed, added, ...; boxes: overlooked, spurious, ...); empty: none
    error_kinds: ClassVar[Mapping[str, str]] = {}
    #: the class names the model predicts (empty for free-text labels)
    classes: Sequence[str] = ()
    #: True where one label is one class (single-choice classification): a task several people labeled
    #: then takes their majority, and the round reports their agreement (relabel.rounds.several_annotators).
    #: Once a task has been in a re-label tab, its latest annotation wins: the re-labeler saw the others.
    consensus_of_votes: ClassVar[bool] = False
    #: the metric of `evaluate` that says how good a model is (the round report's chart plots it)
    primary_metric: ClassVar[str] = "accuracy"
    #: the control tag whose answers are the labels, and the object tag it labels (`name`/`toName`)
    from_name: str
    to_name: str

    @classmethod
    def supports(cls, label_config: str) -> bool:
        """True when this adapter understands the labeling config."""
        try:
            cls.parse_config(label_config)
        except UnsupportedLabelConfig:
            return False
        return True

    @classmethod
    @abstractmethod
    def parse_config(cls, label_config: str) -> Any:
        """What this adapter reads from a labeling config (tag names, data key, classes, ...).

        Raises UnsupportedLabelConfig, saying what it needs, for a config it does not understand.
        """

    @abstractmethod
    def input_from_task(self, task: dict) -> Any:
        """What the model reads from a task (its text, image, ...); annotations are not looked at.

        Raises InvalidTask naming the task and field when the data is unusable.
        """

    def example_from_task(self, task: dict) -> Example:
        """Read one Label Studio task (with its latest annotation) into an Example.

        Raises InvalidTask naming the task and field when the data or the label is unusable; what
        of a label had to be changed to be usable is logged and kept in `Example.notes`.
        """
        value = self.input_from_task(task)
        task_id = task.get("id")
        annotation = latest_annotation(task)
        if annotation is None:
            return Example(task_id=task_id, input=value)
        votes = annotator_votes(task) if self.consensus_of_votes and ROUND_FIELD not in (task.get("data") or {}) \
            else []
        if len(votes) >= 2:
            return self._consensus_example(task_id, value, votes)
        target, notes = self.label_from_annotation(task_id, value, annotation)
        for note in notes:
            log.warning("label not used as given", extra={"task": task_id, "annotation": annotation.get("id"),
                                                          "problem": note})
        return Example(task_id=task_id, input=value, target=target, annotation_id=annotation.get("id"), notes=notes,
                       annotator=annotator_of(annotation))

    def _consensus_example(self, task_id: Any, value: Any, votes: list[dict]) -> Example:
        """Several people's latest labels (latest first): the target is their majority, its annotation
        the latest that chose it; a vote that labels nothing for this control does not count."""
        labeled = [(annotation, self.label_from_annotation(task_id, value, annotation)[0]) for annotation in votes]
        labeled = [(annotation, target) for annotation, target in labeled if target is not None]
        if not labeled:
            return Example(task_id=task_id, input=value)
        target = majority_vote([t for _, t in labeled])
        chosen = next(annotation for annotation, t in labeled if t == target)
        by_annotator = {annotator_of(a) if annotator_of(a) is not None else -int(a.get("id") or 0): t
                        for a, t in labeled}
        return Example(task_id=task_id, input=value, target=target, annotation_id=chosen.get("id"),
                       annotator=annotator_of(chosen), votes=by_annotator if len(by_annotator) >= 2 else None)

    @abstractmethod
    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[Any, list[str]]:
        """(target, notes): the annotation's label in this adapter's form, for the task input `value`
        (None when the annotation labels nothing for this control), and notes on what of it was
        changed to be usable. Raises InvalidTask naming the task and field when it is unusable.
        """

    @abstractmethod
    def featurize(self, inputs: Sequence[Any], progress: Progress = no_progress) -> Any:
        """Turn example inputs into what `new_model().fit` reads; computed once for all folds."""

    @abstractmethod
    def new_model(self) -> Any:
        """A fresh, unfitted model with `fit(features, targets)` and `predict(features)`."""

    @abstractmethod
    def to_prediction(self, output: Any) -> dict:
        """A model output as Label Studio prediction JSON: {"result": [...], "score": confidence}."""

    @abstractmethod
    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[Any], outputs: Sequence[Any],
                           options: Any = None) -> list[Disagreement]:
        """Compare each human target with the model's output for the same task (pure, no I/O).

        `options` is an `adapters.noise.FlagOptions` (None: its defaults); `adapters.noise.flag_labels`
        applies its rules to what the adapter hands it.
        """

    def fold_strata(self, targets: Sequence[Any]) -> list:
        """What the K folds are stratified by, one hashable per target (default: the target itself)."""
        return list(targets)

    def training_problem(self, targets: Sequence[Any], n_folds: int) -> str | None:
        """Why these labeled targets are too few to train on, or None when they will do."""
        if len(targets) < n_folds:
            return f"{len(targets)} labeled task(s); training needs at least {n_folds} (RELABEL_FOLDS)"
        return None

    def target_key(self, target: Any) -> str:
        """A target as a string that is equal for equal labels (to tell whether humans changed a label)."""
        return target if isinstance(target, str) else json.dumps(target, sort_keys=True)

    def suspect_labels(self, targets: Sequence[Any], outputs: Sequence[Any]) -> np.ndarray:
        """Bool mask of the labels the default flag rule flags on these outputs."""
        found = self.find_disagreements(list(range(len(targets))), targets, outputs)
        return np.array([d.flagged for d in found], dtype=bool)

    def second_pass_for(self, n_labeled: int) -> bool:
        """Whether, when the settings leave it open, the out-of-fold outputs of `n_labeled` labeled tasks are
        averaged with a second set from fold models that never learned the suspect labels
        (adapters.data.folds.outputs_without_suspects). Default: no (benchmarked for text classification only)."""
        return False

    def in_sample_weight_for(self, n_labeled: int) -> float | None:
        """The share of the full-data model's own (in-sample) outputs mixed into the out-of-fold ones to rank
        `n_labeled` labels when FlagOptions.in_sample_weight leaves it open (0: not mixed); None where the outputs
        are no class probabilities to mix (the default)."""
        return None

    def fits_in_parallel(self, n_labeled: int) -> bool:
        """Whether, on a multi-core CPU, its models for `n_labeled` labeled tasks are fitted sooner two at a time,
        one process each, than one after the other (backend.fit_processes): networks that use the cores poorly,
        with fits long enough to pay for a child process's start (about 10 s on 2 cores). Default: no."""
        return False

    def average_outputs(self, outputs: Sequence[Any]) -> Any:
        """One output from several models' outputs for the same item (repeated K-fold)."""
        raise NotImplementedError(f"{self.name} outputs cannot be averaged: use one fold split (n_repeats=1)")

    def blend_outputs(self, out_of_fold: Any, in_sample: Any) -> Any:
        """One output from an item's out-of-fold and in-sample outputs (prediction source "blended"): their
        average (a task type may keep both, to score each apart)."""
        return self.average_outputs([out_of_fold, in_sample])

    def flag_reason(self, disagreement: Disagreement) -> str:
        """Why a task is flagged, in words a re-labeler reads in the tab's list (default: `readable_reason`)."""
        return readable_reason(disagreement)

    def relabel_fields(self, disagreement: Disagreement) -> dict:
        """Task data fields the round driver writes into a flagged task besides its round tags, for
        the re-label config to show (text generation: the old and the model's text as choices)."""
        return {}

    def estimate_noise_rate(self, targets: Sequence[Any], outputs: Sequence[Any]) -> float | None:
        """Estimated share of wrong human labels, or None when the adapter has no estimate."""
        return None

    @property
    def label_column(self) -> str:
        """The label's column in a CSV export of the tasks: the control tag's name."""
        return self.from_name

    @abstractmethod
    def output_target(self, output: Any) -> Any:
        """The model's output as a label in the form of `Example.target` (its most likely class, spans, ...)."""

    def prediction_source_for(self, n_labeled: int) -> str:
        """Where the outputs of a project's `n_labeled` labeled tasks come from when the settings leave it
        open: `default_prediction_source`, whatever the size (a task type may say otherwise)."""
        return self.default_prediction_source

    def task_text(self, task: dict) -> str:
        """A task's text as a person reads it (word patterns, report excerpts): its data value as text."""
        return str((task.get("data") or {}).get(getattr(self, "data_key", ""), ""))

    def preview(self, task: dict) -> tuple[str, str]:
        """What a report shows a person of a task: ("text", an excerpt) or ("image", its URL)."""
        return "text", self.task_text(task)[:300]

    @abstractmethod
    def evaluate(self, targets: Sequence[Any], outputs: Sequence[Any]) -> dict:
        """How good the model's outputs are against these human targets, in the task type's own metrics
        ({name: value}, with `n` and `primary_metric` among them; adapters.noise.metrics)."""

    def similarity_vectors(self, features: Any) -> Any:
        """Vectors (n, d) of the featurized items in which similar items lie close (the model's own features,
        e.g. sentence embeddings), for ordering tabs and carrying fixes to similar tasks; None if none."""
        return None

    def neighbour_vote(self, vectors: Any, targets: Sequence[Any]) -> Any:
        """(n, n_classes) probabilities from each labeled item's nearest labeled items' labels, from the
        `similarity_vectors` of those items; None where the task type has no such vote."""
        return None

    def evaluate_dropping(self, inputs: Sequence[Any], targets: Sequence[Any], dropped_mask: Any,
                          dev_fraction: float = 0.2, seed: int | None = None) -> dict:
        """Task types whose round drops the flagged rows (RoundPolicy.DROP_ROWS): held-out scores of a
        model trained with and without the dropped rows. Runs in the backend, which has the models."""
        raise NotImplementedError(f"{self.name} re-labels its flagged tasks: it drops no rows")

    @abstractmethod
    def save_model(self, model: Any, directory: str) -> None:
        """Write a fitted model into an existing directory."""

    @abstractmethod
    def load_model(self, directory: str) -> Any:
        """Read back what `save_model` wrote."""

    def settings(self) -> dict:
        """The options that change what the model learns; part of the model's fingerprint."""
        return {}

    # Outputs travel from the backend to the round driver as JSON.
    def output_to_json(self, output: Any) -> Any:
        return output

    def output_from_json(self, data: Any) -> Any:
        return data
