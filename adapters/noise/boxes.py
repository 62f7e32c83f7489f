"""Pure functions over object-detection boxes: Label Studio <-> YOLO, IoU, matching, box errors (no I/O).

Conventions:
- a box is YOLO-normalized (x_center, y_center, width, height), each in [0, 1] of the image size.
- boxes: float array of shape (n, 4); classes: int array of shape (n,) indexing a class-name list;
  scores: float array of shape (n,) in [0, 1], the model's confidence in each of its boxes.
- Label Studio's `<RectangleLabels>` value holds x, y (top-left corner), width, height in percent
  of the image and a rotation in degrees.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

#: the kinds of box disagreement, seen from the human label (see `compare_boxes`)
ERROR_KINDS = ("overlooked", "spurious", "swapped", "badly_located")
#: what each kind means, seen from the human label (the report prints it beside the counts)
ERROR_MEANINGS = {"overlooked": "the model sees an object the human did not box",
                  "spurious": "a human box the model does not support",
                  "swapped": "a human box the model sees as another class",
                  "badly_located": "same object and class, boxes overlap too little (IoU < 0.5)"}

#: rotations up to this many degrees are taken as rounding noise of an axis-aligned box
MAX_ROTATION = 0.5

Box = tuple[float, float, float, float]


def _number(value: dict, key: str) -> float:
    """value[key] as a finite float, or a ValueError naming the key."""
    number = value.get(key)
    # bool is an int subclass, but True is no coordinate
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ValueError(f"rectangle {key!r} must be a finite number, got {number!r}")
    return float(number)


def label_studio_to_yolo(value: dict) -> Box:
    """The YOLO box of a Label Studio rectangle `value`, clipped to the image.

    Raises ValueError when x, y, width or height is missing or not a number, when width or height
    is not positive, when the box lies wholly outside the image, or when it is rotated (only
    axis-aligned boxes are supported).
    """
    x, y, width, height = (_number(value, key) for key in ("x", "y", "width", "height"))
    if width <= 0 or height <= 0:
        raise ValueError(f"rectangle width and height must be positive, got {width} x {height}")
    rotation = 0.0 if value.get("rotation") is None else _number(value, "rotation")
    # Label Studio may store a box turned back to upright as e.g. 359.9 degrees
    rotation = (rotation + 180.0) % 360.0 - 180.0
    if abs(rotation) > MAX_ROTATION:
        raise ValueError(f"rotated rectangles are not supported (rotation {value['rotation']} degrees); "
                         "only axis-aligned boxes can be checked")
    left, right = np.clip([x, x + width], 0.0, 100.0) / 100.0
    top, bottom = np.clip([y, y + height], 0.0, 100.0) / 100.0
    if right <= left or bottom <= top:
        raise ValueError(f"rectangle at ({x}, {y}) of size {width} x {height} percent lies outside the image")
    return (float(left + right) / 2, float(top + bottom) / 2, float(right - left), float(bottom - top))


def yolo_to_label_studio(box: Sequence[float]) -> dict:
    """The Label Studio rectangle value (percent, top-left corner, 4 decimals) of a YOLO box, clipped to the image."""
    x_center, y_center, width, height = np.asarray(box, dtype=float).reshape(4)
    left, right = np.clip([x_center - width / 2, x_center + width / 2], 0.0, 1.0) * 100.0
    top, bottom = np.clip([y_center - height / 2, y_center + height / 2], 0.0, 1.0) * 100.0
    return {"x": round(float(left), 4), "y": round(float(top), 4),
            "width": round(float(right - left), 4), "height": round(float(bottom - top), 4), "rotation": 0}


def as_boxes(boxes) -> np.ndarray:
    """`boxes` as a float array of shape (n, 4); an empty sequence gives shape (0, 4)."""
    boxes = np.asarray(boxes, dtype=float)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {boxes.shape}")
    return boxes


def box_corners(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """(left, top, right, bottom), each of shape (n,)."""
    half_width, half_height = boxes[:, 2] / 2, boxes[:, 3] / 2
    return (boxes[:, 0] - half_width, boxes[:, 1] - half_height,
            boxes[:, 0] + half_width, boxes[:, 1] + half_height)


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
    """(n, m) intersection over union of every box of `boxes_a` (n, 4) with every box of `boxes_b` (m, 4)."""
    boxes_a, boxes_b = as_boxes(boxes_a), as_boxes(boxes_b)
    left_a, top_a, right_a, bottom_a = (c[:, None] for c in box_corners(boxes_a))
    left_b, top_b, right_b, bottom_b = (c[None, :] for c in box_corners(boxes_b))
    overlap_width = np.clip(np.minimum(right_a, right_b) - np.maximum(left_a, left_b), 0.0, None)
    overlap_height = np.clip(np.minimum(bottom_a, bottom_b) - np.maximum(top_a, top_b), 0.0, None)
    intersection = overlap_width * overlap_height
    area_a = (boxes_a[:, 2] * boxes_a[:, 3])[:, None]
    area_b = (boxes_b[:, 2] * boxes_b[:, 3])[None, :]
    union = area_a + area_b - intersection
    # two degenerate (zero-area) boxes have no union; call them disjoint rather than divide by 0
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def match_boxes(iou: np.ndarray, min_iou: float, weights: np.ndarray | None = None) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs of an (n, m) IoU matrix maximizing the total of IoU times the column's
    weight (`weights`, shape (m,), e.g. the model's confidence per box; all 1 when None), sorted by row.

    Only pairs with IoU >= `min_iou` that overlap at all are kept. Pairs below `min_iou` are zeroed
    before assigning, so the assignment never spends a box on a pair it will then throw away.
    Class-agnostic on purpose: a box of the wrong class must still find its partner to be seen as swapped.
    Weighing by confidence keeps a faint duplicate that overlaps a human box a little better from taking
    it from the model's confident box (which would then look like an object the human overlooked).
    """
    iou = np.asarray(iou, dtype=float)
    if iou.size == 0:
        return []
    eligible = np.where(iou >= min_iou, iou, 0.0)
    if weights is not None:
        eligible = eligible * np.asarray(weights, dtype=float).reshape(1, -1)
    rows, columns = linear_sum_assignment(eligible, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, columns) if eligible[r, c] > 0]


@dataclass(frozen=True)
class BoxErrorOptions:
    """Thresholds of `compare_boxes`."""

    #: a model box matches a human box from this IoU on; looser than `location_iou` so that a box
    #: shifted by half its size still matches (and is reported as badly located, not as two errors)
    match_iou: float = 0.1
    #: a matched pair of one class with IoU below this is badly located
    location_iou: float = 0.5
    #: an unmatched model box at least this confident is an object the human overlooked
    overlook_confidence: float = 0.5
    #: model boxes below this confidence are ignored entirely, as if the model had not proposed them
    support_confidence: float = 0.1


def compare_boxes(human_boxes, human_classes, model_boxes, model_classes, model_scores,
                  options: BoxErrorOptions = BoxErrorOptions()) -> list[dict]:
    """The errors of one image's human boxes, judged against the model's boxes.

    Each error is a dict: kind (one of ERROR_KINDS), class (int), human_box and model_box (indices
    into the given arrays, or None), iou and confidence (float or None) and quality in [0, 1], lower
    meaning more certainly an error. Kinds, in the order they are listed (then by index):
    - overlooked: an unmatched model box with confidence >= overlook_confidence; model class;
      quality 1 - confidence.
    - spurious: a human box no model box matches; human class; quality its highest IoU with a model
      box left unmatched (so below match_iou), as a human box duplicating a matched one is still an error.
    - swapped: matched boxes of different classes; human class; quality 1 - model confidence.
    - badly_located: matched boxes of one class with IoU < location_iou; quality the IoU.
    Model boxes below support_confidence are dropped first.
    """
    human_boxes, model_boxes = as_boxes(human_boxes), as_boxes(model_boxes)
    human_classes = np.asarray(human_classes, dtype=int).reshape(-1)
    model_classes = np.asarray(model_classes, dtype=int).reshape(-1)
    model_scores = np.asarray(model_scores, dtype=float).reshape(-1)
    if not (len(human_boxes) == len(human_classes) and len(model_boxes) == len(model_classes) == len(model_scores)):
        raise ValueError("each box needs one class (and each model box one score)")

    kept = np.flatnonzero(model_scores >= options.support_confidence)  # model indices still in play
    iou = iou_matrix(human_boxes, model_boxes[kept])
    pairs = match_boxes(iou, options.match_iou, model_scores[kept])

    def error(kind, cls, human=None, model=None, pair_iou=None, quality=0.0) -> dict:
        confidence = None if model is None else float(model_scores[model])
        return {"kind": kind, "class": int(cls), "human_box": human, "model_box": model,
                "iou": None if pair_iou is None else float(pair_iou), "confidence": confidence,
                "quality": float(np.clip(quality, 0.0, 1.0))}

    swapped, badly_located = [], []
    for h, k in pairs:
        m = int(kept[k])
        if human_classes[h] != model_classes[m]:
            swapped.append(error("swapped", human_classes[h], h, m, iou[h, k], 1.0 - model_scores[m]))
        elif iou[h, k] < options.location_iou:
            badly_located.append(error("badly_located", human_classes[h], h, m, iou[h, k], iou[h, k]))

    matched_humans = {h for h, _ in pairs}
    unmatched_kept = np.setdiff1d(np.arange(len(kept)), np.array([k for _, k in pairs], dtype=int))
    spurious = [error("spurious", human_classes[h], h,
                      quality=iou[h, unmatched_kept].max() if len(unmatched_kept) else 0.0)
                for h in range(len(human_boxes)) if h not in matched_humans]
    overlooked = [error("overlooked", model_classes[m], model=int(m), quality=1.0 - model_scores[m])
                  for m in kept[unmatched_kept] if model_scores[m] >= options.overlook_confidence]
    return overlooked + spurious + swapped + badly_located


def image_quality(errors: Sequence[dict]) -> float:
    """An image's label quality: its worst error's quality ("min", as cleanlab scores), 1.0 without errors."""
    return min((float(e["quality"]) for e in errors), default=1.0)


def errors_per_class(errors: Sequence[dict], class_names: Sequence[str]) -> dict[str, dict[str, int]]:
    """Error counts per class name and kind, e.g. {"raccoon": {"overlooked": 1}}; only what occurs.

    Classes come in `class_names` order and kinds in ERROR_KINDS order.
    """
    counts = Counter((int(e["class"]), e["kind"]) for e in errors)
    unknown = {c for c, _ in counts if not 0 <= c < len(class_names)}
    if unknown:
        raise ValueError(f"class ids {sorted(unknown)} are not in the {len(class_names)} class names")
    per_class: dict[str, dict[str, int]] = {}
    for c, name in enumerate(class_names):
        kinds = {kind: counts[c, kind] for kind in ERROR_KINDS if counts[c, kind]}
        if kinds:
            per_class[name] = kinds
    return per_class
