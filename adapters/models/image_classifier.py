"""Image classifiers for the image classification adapter.

`YoloImageClassifier` trains an ultralytics YOLO classification model (yolo11n-cls by default) on image
files. Ultralytics learns from a folder per class, so `fit` lays out the training images as links in a
scratch folder named by class index (class names may hold any character), trains, and keeps the final
weights in memory; the scratch folder is removed.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from relabel.adapters.data.media import link_image_for_yolo, open_rgb
from relabel.adapters.models.yolo_runtime import UltralyticsModel, ultralytics_device

DEFAULT_IMAGE_MODEL = "yolo11n-cls.yaml"
PREDICT_BATCH = 64
#: ultralytics' RandAugment and random erasing suit long training on large sets; on a project of some
#: hundred images trained from scratch they keep the model from learning (on generated shapes: 75% accuracy
#: with them, 95% without, same 50 epochs), so they are off unless `train_options` turns them on
LIGHT_AUGMENTATION = {"auto_augment": None, "erasing": 0.0}
WEIGHTS_FILE = "image_classifier.pt"


def _class_folder(index: int) -> str:
    return f"class{index:04d}"


class YoloImageClassifier(UltralyticsModel):
    """Ultralytics YOLO image classification over image files, predicting probabilities for all `classes`.

    `weights`: a .pt file (e.g. a user's fine-tuned yolo11n-cls.pt) or a model yaml trained from scratch.
    A fold whose training part lacks some class still predicts every class (zero for the missing ones),
    so outputs of different folds line up. From a yaml, at least `min_steps` optimizer steps. `train_options`
    go to ultralytics' `train` as they are (e.g. {"fliplr": 0.0} for images that must not be mirrored, such
    as digits).
    """

    weights_file = WEIGHTS_FILE
    default_train_options = LIGHT_AUGMENTATION

    def __init__(self, classes: Sequence[str], weights: str = DEFAULT_IMAGE_MODEL, epochs: int = 20,
                 image_size: int = 128, batch_size: int = 32, min_steps: int = 150, device: str = "auto",
                 seed: int = 0, train_options: dict | None = None):
        super().__init__(classes, weights, epochs, image_size, batch_size, min_steps, device, seed, train_options)
        self.only_class_: int | None = None

    def fit(self, paths: Sequence[str], targets: Sequence[str]) -> "YoloImageClassifier":
        index = {name: i for i, name in enumerate(self.classes)}
        seen = sorted({index[t] for t in targets})
        self.weights_bytes_ = None
        self.only_class_ = seen[0] if len(seen) == 1 else None
        if self.only_class_ is not None:
            return self  # nothing to tell apart: every image is that class
        with tempfile.TemporaryDirectory(prefix="relabel-image-classifier-") as scratch:
            dataset = Path(scratch) / "data"
            for class_index in seen:
                (dataset / "train" / _class_folder(class_index)).mkdir(parents=True)
            for number, (path, target) in enumerate(zip(paths, targets)):
                link_image_for_yolo(path, dataset / "train" / _class_folder(index[target]) / f"{number:06d}")
            # Ultralytics validates after the last epoch; on the training images, as there are no others.
            os.symlink(dataset / "train", dataset / "val")
            self.train_in(Path(scratch), str(dataset), len(paths))
        self._read_class_order()
        return self

    def _read_class_order(self) -> None:
        # The model's own class order (folder names sorted) -> our class indices.
        names = self.model_.names
        self.model_classes_ = np.array([int(names[i][len("class"):]) for i in range(len(names))])

    def predict(self, paths: Sequence[str]) -> np.ndarray:
        probabilities = np.zeros((len(paths), len(self.classes)))
        if self.only_class_ is not None:
            probabilities[:, self.only_class_] = 1.0
            return probabilities
        device = ultralytics_device(self.device)
        with self.predict_lock_:
            for start in range(0, len(paths), PREDICT_BATCH):
                images = [open_rgb(p) for p in paths[start:start + PREDICT_BATCH]]
                results = self.model_.predict(images, imgsz=self.image_size, device=device, verbose=False)
                for offset, result in enumerate(results):
                    probabilities[start + offset, self.model_classes_] = result.probs.data.float().cpu().numpy()
        return probabilities

    @classmethod
    def load(cls, directory: str, classes: Sequence[str], only_class: int | None = None, **options: Any
             ) -> "YoloImageClassifier":
        model = cls(classes, **options)
        model.only_class_ = only_class
        if only_class is None:
            model.load_weights(directory)
            model._read_class_order()
        return model
