"""Task-type adapters. `adapter_for_config` picks the one that understands a labeling config."""
from __future__ import annotations

import inspect
from typing import Any

from adapters.base import (Disagreement, Example, InvalidTask, TaskAdapter, UnsupportedLabelConfig,
                           latest_annotation)
from adapters.ctr import ClickAdapter
from adapters.detection import DetectionAdapter
from adapters.image_classification import ImageClassificationAdapter
from adapters.ner import NerAdapter
from adapters.text_classification import TextClassificationAdapter
from adapters.text_generation import TextGenerationAdapter

#: every adapter, in the order they are tried: clicks and text generation (whose re-label config
#: holds a <Choices> of candidate texts) before text classification, which would take their <Choices>
ADAPTERS: list[type[TaskAdapter]] = [ClickAdapter, TextGenerationAdapter, TextClassificationAdapter,
                                       ImageClassificationAdapter, NerAdapter, DetectionAdapter]


def adapter_for_config(label_config: str, **options: Any) -> TaskAdapter:
    """Build the adapter for a Label Studio labeling config.

    `options` are the backend's configuration (model names, epochs, ...); each adapter's constructor
    gets those it names, with `options[adapter.name]` (a dict, if given) overriding them for that
    adapter alone. Raises UnsupportedLabelConfig, naming what is supported, when no adapter
    understands the config.
    """
    if not isinstance(label_config, str) or not label_config.strip():
        raise UnsupportedLabelConfig("the project has no labeling config")
    for adapter_class in ADAPTERS:
        if adapter_class.supports(label_config):
            merged = {**options, **(options.get(adapter_class.name) or {})}
            accepted = inspect.signature(adapter_class.__init__).parameters
            return adapter_class(label_config, **{k: v for k, v in merged.items() if k in accepted and k != "self"})
    supported = "; ".join(f"{a.name}: {a.description}" for a in ADAPTERS)
    raise UnsupportedLabelConfig(f"no Re-Label adapter understands this labeling config (supported: {supported})")


__all__ = ["ADAPTERS", "ClickAdapter", "DetectionAdapter", "Disagreement", "Example", "ImageClassificationAdapter", "InvalidTask",
           "NerAdapter", "TaskAdapter", "TextClassificationAdapter", "TextGenerationAdapter", "UnsupportedLabelConfig", "adapter_for_config",
           "latest_annotation"]
