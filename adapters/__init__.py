"""Task-type adapters, grouped by role:

- `base`: the interface every task type implements (`TaskAdapter`, `Disagreement`, `RoundPolicy`, ...);
- `tasks/`: one module per task type (labeling config);
- `models/`: the models they train (torch, transformers, ultralytics: the heavy optional imports);
- `noise/`: pure label-noise functions with their array contracts, and the one flag dispatcher;
- `data/`: K-fold out-of-fold predictions and task media files;
- `task_fields`: the task data fields Re-Label writes.

`adapter_for_config` picks the adapter that understands a labeling config.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping

from relabel.adapters.base import (Disagreement, Example, InvalidTask, RoundPolicy, TaskAdapter,
                                   UnsupportedLabelConfig, latest_annotation)
from relabel.adapters.tasks.clicks import ClickAdapter
from relabel.adapters.tasks.image_classification import ImageClassificationAdapter
from relabel.adapters.tasks.multilabel import MultiLabelTextAdapter
from relabel.adapters.tasks.multilabel_image import MultiLabelImageAdapter
from relabel.adapters.tasks.ner import NerAdapter
from relabel.adapters.tasks.object_detection import ObjectDetectionAdapter
from relabel.adapters.tasks.regression import RegressionTextAdapter
from relabel.adapters.tasks.text_classification import TextClassificationAdapter
from relabel.adapters.tasks.text_generation import TextGenerationAdapter

#: every adapter, in the order they are tried: clicks and text generation (whose re-label config
#: holds a <Choices> of candidate texts) before text classification, which would take their <Choices>
ADAPTERS: list[type[TaskAdapter]] = [ClickAdapter, TextGenerationAdapter, TextClassificationAdapter,
                                       MultiLabelTextAdapter, RegressionTextAdapter, ImageClassificationAdapter,
                                       MultiLabelImageAdapter,
                                       NerAdapter, ObjectDetectionAdapter]

#: what the environment gives every adapter whose constructor takes it (not what a model learns)
RUNTIME_OPTIONS = ("device", "fetch_media", "feature_cache_dir")


def constructor_options(adapter_class: type[TaskAdapter]) -> list[str]:
    """The keyword options an adapter's constructor takes (after the labeling config)."""
    parameters = inspect.signature(adapter_class.__init__).parameters
    return [name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def check_adapter_options(options: Mapping[str, Mapping[str, Any]]) -> None:
    """ValueError naming the first task type or option in `options` that no adapter knows."""
    by_name = {a.name: a for a in ADAPTERS}
    for name, given in options.items():
        if name not in by_name:
            raise ValueError(f"unknown task type {name!r} in the adapter options (known: {', '.join(by_name)})")
        known = [o for o in constructor_options(by_name[name]) if o not in RUNTIME_OPTIONS]
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for {name} (it takes: {', '.join(known)})")


def adapter_class_for_config(label_config: str) -> type[TaskAdapter]:
    """The adapter class that understands a labeling config; UnsupportedLabelConfig, naming what is
    supported, when none does."""
    if not isinstance(label_config, str) or not label_config.strip():
        raise UnsupportedLabelConfig("the project has no labeling config")
    for adapter_class in ADAPTERS:
        if adapter_class.supports(label_config):
            return adapter_class
    supported = "; ".join(f"{a.name}: {a.description}" for a in ADAPTERS)
    raise UnsupportedLabelConfig(f"no Re-Label adapter understands this labeling config (supported: {supported})")


def adapter_for_config(label_config: str, options: Mapping[str, Mapping[str, Any]] | None = None,
                       **runtime: Any) -> TaskAdapter:
    """Build the adapter for a Label Studio labeling config.

    `options` maps task type names (`TaskAdapter.name`) to that adapter's constructor options (model
    names, epochs, ...), e.g. {"ner": {"epochs": 5}}: the backend's configuration for every task type,
    of which the chosen adapter takes its own. An unknown task type or option raises ValueError.
    `runtime` (RUNTIME_OPTIONS: device, fetch_media, feature_cache_dir) goes to every adapter whose constructor takes it.
    Raises UnsupportedLabelConfig, naming what is supported, when no adapter understands the config.
    """
    options = dict(options or {})
    check_adapter_options(options)
    unknown = sorted(set(runtime) - set(RUNTIME_OPTIONS))
    if unknown:
        raise ValueError(f"unknown runtime option(s) {unknown} (known: {', '.join(RUNTIME_OPTIONS)})")
    adapter_class = adapter_class_for_config(label_config)
    accepted = constructor_options(adapter_class)
    given = {name: value for name, value in runtime.items() if name in accepted and value is not None}
    return adapter_class(label_config, **given, **options.get(adapter_class.name, {}))


__all__ = ["ADAPTERS", "ClickAdapter", "Disagreement", "Example", "ImageClassificationAdapter", "InvalidTask",
           "MultiLabelImageAdapter", "MultiLabelTextAdapter", "NerAdapter", "ObjectDetectionAdapter", "RegressionTextAdapter", "RoundPolicy", "TaskAdapter", "TextClassificationAdapter",
           "TextGenerationAdapter", "UnsupportedLabelConfig", "adapter_class_for_config", "adapter_for_config",
           "check_adapter_options", "constructor_options", "latest_annotation"]
