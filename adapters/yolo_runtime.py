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
