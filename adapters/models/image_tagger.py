"""Multi-label tags on images: the image classifier over tag sets (the label powerset).

A YOLO classifier is softmax over one class per image, so it learns the tag *sets* the people chose (each
distinct set one class, "no tag" included); a tag's probability is the sum of the probabilities of the
sets that hold it. That keeps the product's one image model and its training as they are, and gives
per-tag probabilities that need not sum to one. The limit: a set nobody chose is never predicted as a
whole (its tags still get their share from the sets that hold them), and with many tags and few images
per set the sets are thinly learned; then start from trained weights (RELABEL_IMAGE_MODEL).
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np

from relabel.adapters.models.image_classifier import YoloImageClassifier

SETS_FILE = "tag_sets.json"


def set_key(tags: Sequence[str]) -> str:
    return json.dumps(list(tags))


class PowersetImageTagger:
    """`fit(paths, tag_sets)`: a YoloImageClassifier over the distinct tag sets of the training images;
    `predict(paths)`: an (n, K) matrix of per-tag probabilities, K = len(tags). `options` go to the
    classifier (weights, epochs, image_size, ...)."""

    def __init__(self, tags: Sequence[str], **options: Any):
        self.tags = list(tags)
        self.options = options

    def _membership(self) -> np.ndarray:
        """(number of sets, K): 1 where a set holds a tag."""
        index = {tag: k for k, tag in enumerate(self.tags)}
        membership = np.zeros((len(self.sets_), len(self.tags)))
        for row, key in enumerate(self.sets_):
            membership[row, [index[tag] for tag in json.loads(key)]] = 1.0
        return membership

    def fit(self, paths: Sequence[str], tag_sets: Sequence[Sequence[str]]) -> "PowersetImageTagger":
        keys = [set_key(t) for t in tag_sets]
        self.sets_ = sorted(set(keys))
        self.classifier_ = YoloImageClassifier(self.sets_, **self.options).fit(list(paths), keys)
        return self

    def predict(self, paths: Sequence[str]) -> np.ndarray:
        if not len(paths):
            return np.zeros((0, len(self.tags)))
        return np.clip(self.classifier_.predict(list(paths)) @ self._membership(), 0.0, 1.0)

    def save(self, directory: str) -> None:
        with open(os.path.join(directory, SETS_FILE), "w") as file:
            json.dump({"tags": self.tags, "sets": self.sets_, "only_class": self.classifier_.only_class_}, file)
        self.classifier_.save(directory)

    @classmethod
    def load(cls, directory: str, tags: Sequence[str], **options: Any) -> "PowersetImageTagger":
        with open(os.path.join(directory, SETS_FILE)) as file:
            saved = json.load(file)
        if saved["tags"] != list(tags):
            raise ValueError(f"model in {directory} predicts the tags {saved['tags']}, but the labeling config now "
                             f"has {list(tags)}: train a new model")
        model = cls(tags, **options)
        model.sets_ = saved["sets"]
        model.classifier_ = YoloImageClassifier.load(directory, model.sets_, saved["only_class"], **options)
        return model
