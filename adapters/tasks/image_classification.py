"""Image classification: a single-choice `<Choices>` on an `<Image>`.

Everything but the model is the shared classification logic (adapters/tasks/classification.py): labels,
folds, predictions, flags and ranking are those of text classification. The model is an ultralytics
YOLO classifier (adapters/models/image_classifier.py), from a user's .pt weights or trained from the model yaml.
The images come as in every image task (adapters/tasks/image_inputs.py).
"""
from __future__ import annotations

import json
import os

from relabel.adapters.tasks.classification import ClassificationAdapter
from relabel.adapters.tasks.image_inputs import ImageInputs
from relabel.adapters.models.image_classifier import DEFAULT_IMAGE_MODEL, YoloImageClassifier
from relabel.adapters.data.media import MediaFetcher

MODEL_FILE = "image_model.json"


class ImageClassificationAdapter(ImageInputs, ClassificationAdapter):
    name = "image-classification"
    description = "single-choice <Choices> on an <Image>"
    object_tag = "Image"

    def __init__(self, label_config: str, *, image_model: str = DEFAULT_IMAGE_MODEL, epochs: int = 20,
                 image_size: int = 128, batch_size: int = 32, device: str = "auto", seed: int = 0,
                 train_options: dict | None = None, fetch_media: MediaFetcher | None = None):
        super().__init__(label_config)
        self._use_image_classifier(image_model, epochs, image_size, batch_size, device, seed, train_options,
                                   fetch_media)

    def new_model(self) -> YoloImageClassifier:
        return YoloImageClassifier(self.classes, **self._model_options())

    def save_model(self, model: YoloImageClassifier, directory: str) -> None:
        with open(os.path.join(directory, MODEL_FILE), "w") as file:
            json.dump({"image_model": self.image_model, "classes": self.classes, "only_class": model.only_class_},
                      file)
        model.save(directory)

    def load_model(self, directory: str) -> YoloImageClassifier:
        with open(os.path.join(directory, MODEL_FILE)) as file:
            saved = json.load(file)
        if saved["classes"] != self.classes:
            raise ValueError(f"model in {directory} predicts the labels {saved['classes']}, but the labeling config "
                             f"<Choices name={self.from_name!r}> now has {self.classes}: train a new model")
        return YoloImageClassifier.load(directory, self.classes, saved["only_class"], **self._model_options())
