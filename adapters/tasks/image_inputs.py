"""What the task types on an `<Image>` with a `<Choices>` share: the task's image, downloaded from Label
Studio with the backend's credentials (the `fetch_media` the backend passes in) and cached; a task whose
image cannot be read is an InvalidTask naming it; and small thumbnails as similarity vectors."""
from __future__ import annotations

from typing import Any, Sequence

from relabel.adapters.base import Progress, no_progress, task_data_value
from relabel.adapters.data.media import MediaFetcher, local_image, no_media_fetcher
from relabel.adapters.models.yolo_runtime import long_yolo_fit

#: side of the similarity thumbnails, in pixels
THUMBNAIL = 12


class ImageInputs:
    """Expects `data_key` on the adapter; `_use_image_classifier` keeps the image classifier's options
    (both image adapters train one) and the backend's media fetcher."""

    def _use_image_classifier(self, image_model: str, epochs: int, image_size: int, batch_size: int, device: str,
                              seed: int, train_options: dict | None, fetch_media: MediaFetcher | None) -> None:
        self.image_model = image_model
        self.epochs = epochs
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.seed = seed
        self.train_options = dict(train_options or {})
        self.fetch_media = fetch_media or no_media_fetcher

    def settings(self) -> dict:
        return {"image_model": self.image_model, "epochs": self.epochs, "image_size": self.image_size,
                "batch_size": self.batch_size, "seed": self.seed, "train_options": self.train_options}

    def _model_options(self) -> dict:
        return {"weights": self.image_model, "epochs": self.epochs, "image_size": self.image_size,
                "batch_size": self.batch_size, "device": self.device, "seed": self.seed,
                "train_options": self.train_options}

    def fits_in_parallel(self, n_labeled: int) -> bool:
        from relabel.adapters.models.image_classifier import YoloImageClassifier

        return long_yolo_fit(YoloImageClassifier(list(self.classes), **self._model_options()), n_labeled)

    def preview(self, task: dict) -> tuple[str, str]:
        return "image", str((task.get("data") or {}).get(self.data_key, ""))

    def read_input(self, task_id: Any, value: Any) -> str:
        return local_image(task_id, self.data_key, value, self.fetch_media)

    def input_from_task(self, task: dict) -> str:
        return self.read_input(*task_data_value(task, self.data_key))

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> list[str]:
        return list(inputs)  # image files; ultralytics reads and resizes them itself

    def similarity_vectors(self, features: Sequence[str]) -> Any:
        """Each image as a small colour thumbnail (12 x 12 RGB): near-duplicate and
        look-alike images lie close. The YOLO classifier is trained per fold from scratch, so it has no
        fixed features to share; the thumbnails are what the tab's order and carried fixes need."""
        import numpy as np
        from PIL import Image

        rows = []
        for path in features:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB").resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR),
                                    dtype=float) / 255
            rows.append(pixels.ravel())
        return np.vstack(rows) if rows else None
