"""Object detectors for the detection adapter.

`YoloDetector` trains an ultralytics YOLO detector (yolo11n by default) on image files and their boxes.
Ultralytics learns from an images/ + labels/ folder pair and a data yaml, so `fit` lays the training
images out as links in a scratch folder with one label file per image, trains, and keeps the final
weights in memory; the scratch folder is removed.

A target (human label) is a list of [x_center, y_center, width, height, class name] (YOLO-normalized,
JSON as it is stored); an output (prediction) is a `BoxSet`: boxes, class indices into the adapter's
class list, and the model's confidence per box.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from relabel.adapters.data.media import link_image_for_yolo, open_rgb
from relabel.adapters.models.yolo_runtime import UltralyticsModel, ultralytics_device

DEFAULT_DETECTION_MODEL = "yolo11n.yaml"
PREDICT_BATCH = 32
WEIGHTS_FILE = "detector.pt"


@dataclass
class BoxSet:
    """Boxes of one image: `boxes` (n, 4) YOLO-normalized (x_center, y_center, width, height), `classes` (n,)
    class indices, `scores` (n,) confidences (1.0 for human boxes)."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=float).reshape(-1, 4)
        self.classes = np.asarray(self.classes, dtype=int).reshape(-1)
        self.scores = np.ones(len(self.classes)) if self.scores is None else np.asarray(self.scores, float).reshape(-1)

    def __len__(self) -> int:
        return len(self.classes)

    def to_json(self) -> dict:
        return {"boxes": np.round(self.boxes, 6).tolist(), "classes": self.classes.tolist(),
                "scores": np.round(self.scores, 6).tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "BoxSet":
        return cls(data["boxes"], data["classes"], data.get("scores"))


class YoloDetector(UltralyticsModel):
    """Ultralytics YOLO detection over image files, predicting boxes of `classes` with a confidence each.

    `weights`: a .pt file (e.g. a user's yolo11n.pt) or a model yaml trained from scratch (then at least
    `min_steps` optimizer steps). Predictions keep boxes down to `confidence` (low on purpose: a weak box
    still tells whether the model supports a human box). `train_options` go to ultralytics' `train` as they are.
    """

    weights_file = WEIGHTS_FILE

    def __init__(self, classes: Sequence[str], weights: str = DEFAULT_DETECTION_MODEL, epochs: int = 50,
                 image_size: int = 640, batch_size: int = 16, min_steps: int = 300, confidence: float = 0.05,
                 device: str = "auto", seed: int = 0, train_options: dict | None = None):
        super().__init__(classes, weights, epochs, image_size, batch_size, min_steps, device, seed, train_options)
        self.confidence = confidence

    def fit(self, paths: Sequence[str], targets: Sequence[Sequence[Sequence]]) -> "YoloDetector":
        """`targets`: per image, its human boxes as [x_center, y_center, width, height, class name] lists."""
        index = {name: i for i, name in enumerate(self.classes)}
        with tempfile.TemporaryDirectory(prefix="relabel-detector-") as scratch:
            root = Path(scratch) / "data"
            (root / "images").mkdir(parents=True)
            (root / "labels").mkdir()
            for number, (path, target) in enumerate(zip(paths, targets)):
                link_image_for_yolo(path, root / "images" / f"{number:06d}")
                lines = [f"{index[name]} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for x, y, w, h, name in target]
                (root / "labels" / f"{number:06d}.txt").write_text("\n".join(lines))
            names = "".join(f"  {i}: {name!r}\n" for i, name in enumerate(self.classes))
            # Ultralytics validates after the last epoch; on the training images, as there are no others.
            (root / "data.yaml").write_text(f"path: {root}\ntrain: images\nval: images\nnames:\n{names}")
            self.train_in(Path(scratch), str(root / "data.yaml"), len(paths))
        return self

    def predict(self, paths: Sequence[str]) -> list[BoxSet]:
        outputs = []
        device = ultralytics_device(self.device)
        with self.predict_lock_:
            for start in range(0, len(paths), PREDICT_BATCH):
                images = [open_rgb(p) for p in paths[start:start + PREDICT_BATCH]]
                for result in self.model_.predict(images, imgsz=self.image_size, conf=self.confidence,
                                                  device=device, verbose=False):
                    boxes = result.boxes
                    outputs.append(BoxSet(boxes.xywhn.float().cpu().numpy(), boxes.cls.int().cpu().numpy(),
                                          boxes.conf.float().cpu().numpy()))
        return outputs

    @classmethod
    def load(cls, directory: str, classes: Sequence[str], **options: Any) -> "YoloDetector":
        model = cls(classes, **options)
        model.load_weights(directory)
        return model
