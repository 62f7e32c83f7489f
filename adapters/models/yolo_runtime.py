"""Ultralytics YOLO, set up to run offline: shared by the image classification and detection adapters.

Ultralytics downloads a font, pretrained weights and missing packages on first use; the backend must
never reach the network for any of them. `load_yolo` sets the offline switches before ultralytics is
first imported, puts a font where it looks for Arial.ttf, and turns a weights name that is not on disk
into the matching model yaml (the same network, trained from scratch) instead of a download.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import ClassVar, Sequence

log = logging.getLogger(__name__)

_setup_lock = threading.Lock()


def _config_dir() -> Path:
    return Path(os.environ.get("YOLO_CONFIG_DIR") or Path(tempfile.gettempdir()) / "relabel-yolo-config")


def prepare_offline_ultralytics() -> None:
    """Offline switches and a font file, before ultralytics is imported (it reads them at import)."""
    with _setup_lock:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "False")
        os.environ.setdefault("YOLO_VERBOSE", "False")
        config_dir = _config_dir()
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
        font = config_dir / "Ultralytics" / "Arial.ttf"
        if not font.exists():
            # Ultralytics labels plots with Arial and downloads it when missing; any TrueType font will do,
            # and matplotlib (an ultralytics dependency) ships DejaVu Sans.
            import matplotlib

            font.parent.mkdir(parents=True, exist_ok=True)
            bundled = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
            shutil.copyfile(bundled, font)


def resolve_weights(weights: str) -> str:
    """What to build the model from: an existing .pt file, or a model yaml (trained from scratch).

    A .pt name that is not on disk (e.g. "yolo11n-cls.pt" on an offline machine) becomes its yaml
    ("yolo11n-cls.yaml"), with a warning, rather than a download.
    """
    if weights.endswith(".pt") and not os.path.exists(weights):
        from_scratch = os.path.basename(weights)[:-3] + ".yaml"
        log.warning("weights not found, training from scratch", extra={"weights": weights, "model": from_scratch})
        return from_scratch
    return weights


def ultralytics_device(device: str) -> str:
    """Our device names (auto, cpu, cuda, cuda:1) as ultralytics spells them (cpu, 0, 1)."""
    import torch

    resolved = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if resolved == "cpu":
        return "cpu"
    return resolved.split(":", 1)[1] if ":" in resolved else "0"


def load_yolo(weights: str):
    """An ultralytics YOLO model from a .pt file or a model yaml, without touching the network."""
    try:
        prepare_offline_ultralytics()
        from ultralytics import YOLO
    except ImportError as error:
        raise ImportError(f"image models need ultralytics ({error}): pip install 'relabel[image]'") from error

    return YOLO(resolve_weights(weights))


#: optimizer steps from which a YOLO fit is long enough to pay for a child process of its own (backend.fit_processes):
#: a child's start took about 10 s on 2 cores, 150 steps of the small classifier about 20 s; a detector fine-tuned
#: for 2 epochs (a few steps) was slower side by side (48 s against 33 s for 3 folds and the full model)
PARALLEL_FIT_STEPS = 150


def long_yolo_fit(model: "UltralyticsModel", n_images: int) -> bool:
    """Whether fitting `model` on `n_images` images takes at least PARALLEL_FIT_STEPS optimizer steps."""
    return model.epochs_for(n_images) * -(-n_images // model.batch_size) >= PARALLEL_FIT_STEPS


class UltralyticsModel:
    """What the YOLO image classifier and detector share: their options, how many epochs to train, training in
    a scratch folder with offline-safe settings, the trained weights kept in memory, save and load.

    Subclasses lay out the training data in ultralytics' form and call `train_in`, and say their weights file
    name and the ultralytics `train` options they change by default (`train_options` win over those).
    """

    weights_file: ClassVar[str]
    default_train_options: ClassVar[dict] = {}

    def __init__(self, classes: Sequence[str], weights: str, epochs: int, image_size: int, batch_size: int,
                 min_steps: int, device: str = "auto", seed: int = 0, train_options: dict | None = None):
        self.classes = list(classes)
        self.weights = weights
        self.epochs = epochs
        self.image_size = image_size
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.device = device
        self.seed = seed
        self.train_options = dict(train_options or {})
        self.weights_bytes_: bytes | None = None
        self.predict_lock_ = threading.Lock()  # an ultralytics predictor is not safe to share between threads

    def epochs_for(self, n_images: int) -> int:
        """`epochs`, or more when training from scratch on a small project (a network needs some hundred
        steps, `min_steps`); from trained weights, the epochs asked for."""
        if not self.weights.endswith((".yaml", ".yml")):
            return self.epochs
        steps_per_epoch = -(-n_images // self.batch_size)
        return max(self.epochs, -(-self.min_steps // max(steps_per_epoch, 1)))

    def train_in(self, scratch: Path, data: str, n_images: int) -> None:
        """Train on `data` (a dataset folder or yaml inside `scratch`) and keep the final weights."""
        model = load_yolo(self.weights)
        model.train(data=data, epochs=self.epochs_for(n_images), imgsz=self.image_size, batch=self.batch_size,
                    workers=0, device=ultralytics_device(self.device), seed=self.seed, deterministic=True,
                    # AMP's self-check downloads weights; offline it cannot, so AMP stays off unless asked for.
                    # save=False: the checkpoint is written once, after the last epoch, not after every epoch
                    # (on a small project trained from a yaml, the per-epoch copies were 40% of the training).
                    amp=False, plots=False, val=False, save=False, verbose=False, project=str(scratch / "runs"),
                    name="fit",
                    exist_ok=True, **{**self.default_train_options, **self.train_options})
        weights_file = scratch / "runs" / "fit" / "weights" / "last.pt"
        self.weights_bytes_ = weights_file.read_bytes()
        self.model_ = load_yolo(str(weights_file))

    def save(self, directory: str) -> None:
        if self.weights_bytes_ is not None:
            Path(directory, self.weights_file).write_bytes(self.weights_bytes_)

    def load_weights(self, directory: str) -> None:
        path = os.path.join(directory, self.weights_file)
        self.weights_bytes_ = Path(path).read_bytes()
        self.model_ = load_yolo(path)
