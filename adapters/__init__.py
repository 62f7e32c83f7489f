"""Task-type adapters. `adapter_for_config` picks the one that understands a labeling config."""
from __future__ import annotations

from typing import Any

from adapters.base import (Disagreement, Example, InvalidTask, TaskAdapter, UnsupportedLabelConfig,
                           latest_annotation)
from adapters.text_classification import TextClassificationAdapter

#: every adapter, in the order they are tried
ADAPTERS: list[type[TaskAdapter]] = [TextClassificationAdapter]


def adapter_for_config(label_config: str, **options: Any) -> TaskAdapter:
    """Build the adapter for a Label Studio labeling config.

    `options` are passed to the adapter's constructor (model names, folds, ...). Raises
    UnsupportedLabelConfig, naming what is supported, when no adapter understands the config.
    """
    if not isinstance(label_config, str) or not label_config.strip():
        raise UnsupportedLabelConfig("the project has no labeling config")
    for adapter_class in ADAPTERS:
        if adapter_class.supports(label_config):
            return adapter_class(label_config, **options)
    supported = "; ".join(f"{a.name}: {a.description}" for a in ADAPTERS)
    raise UnsupportedLabelConfig(f"no Re-Label adapter understands this labeling config (supported: {supported})")


__all__ = ["ADAPTERS", "Disagreement", "Example", "InvalidTask", "TaskAdapter", "TextClassificationAdapter",
           "UnsupportedLabelConfig",
           "adapter_for_config", "latest_annotation"]
