"""Object detection: `<RectangleLabels>` (axis-aligned boxes) on an `<Image>`.

The human boxes of an image are its target: a list of [x_center, y_center, width, height, class] in YOLO's
normalized form (adapters/noise/boxes.py converts from Label Studio's percent rectangles). An ultralytics YOLO
detector (adapters/models/object_detector.py) predicts boxes with a confidence each. Disagreement is per image
and class: predicted and human boxes are matched by IoU, and what does not agree is an error of one of
four kinds (overlooked, spurious, swapped, badly located; see `adapters.noise.boxes.compare_boxes`). An image's
label quality is its worst error's.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Sequence

import numpy as np

from relabel.adapters.base import (ControlOnObject, Disagreement, InvalidTask, Progress, TaskAdapter,
                                   UnsupportedLabelConfig, first_control_on, no_progress, task_data_value)
from relabel.adapters.data.media import MediaFetcher, local_image, no_media_fetcher
from relabel.adapters.models.object_detector import DEFAULT_DETECTION_MODEL, BoxSet, YoloDetector
from relabel.adapters.models.yolo_runtime import long_yolo_fit
from relabel.adapters.noise.boxes import (ERROR_MEANINGS, BoxErrorOptions, as_boxes, box_corners, compare_boxes,
                                          errors_per_class, image_quality, label_studio_to_yolo, yolo_to_label_studio)
from relabel.adapters.noise.flags import FlagIngredients, FlagOptions, flag_labels, flag_lowest_quality
from relabel.adapters.noise.metrics import detection_metrics

MODEL_FILE = "detection_model.json"


class ObjectDetectionAdapter(TaskAdapter):
    name = "object-detection"
    description = "<RectangleLabels> on an <Image>"
    default_folds = 3  # a detector per fold is costly
    primary_metric = "map50"

    error_kinds = ERROR_MEANINGS

    @classmethod
    def parse_config(cls, label_config: str) -> ControlOnObject:
        return first_control_on(label_config, "RectangleLabels", "Image",
                                f"{cls.name} needs a <RectangleLabels> on an <Image>")

    def __init__(self, label_config: str, *, detection_model: str = DEFAULT_DETECTION_MODEL, epochs: int = 50,
                 image_size: int = 640, batch_size: int = 16, min_steps: int = 300, device: str = "auto",
                 seed: int = 0, train_options: dict | None = None, box_errors: BoxErrorOptions | None = None,
                 prediction_confidence: float = 0.25, fetch_media: MediaFetcher | None = None):
        control = self.parse_config(label_config)
        self.from_name, self.to_name, self.data_key, self.classes = (control.from_name, control.to_name,
                                                                     control.data_key, control.labels)
        if not self.classes:
            raise UnsupportedLabelConfig(f"<RectangleLabels name={self.from_name!r}> has no labels")
        self.class_index = {name: i for i, name in enumerate(self.classes)}
        self.detection_model = detection_model
        self.epochs = epochs
        self.image_size = image_size
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.device = device
        self.seed = seed
        self.train_options = dict(train_options or {})
        self.box_errors = box_errors or BoxErrorOptions()
        #: boxes below this confidence are kept for scoring but not shown to annotators as pre-annotations
        self.prediction_confidence = prediction_confidence
        self.fetch_media = fetch_media or no_media_fetcher

    def settings(self) -> dict:
        return {"detection_model": self.detection_model, "epochs": self.epochs, "image_size": self.image_size,
                "batch_size": self.batch_size, "min_steps": self.min_steps, "seed": self.seed,
                "train_options": self.train_options}

    # --- reading tasks ------------------------------------------------------------------------------
    def input_from_task(self, task: dict) -> str:
        task_id, value = task_data_value(task, self.data_key)
        return local_image(task_id, self.data_key, value, self.fetch_media)

    def label_from_annotation(self, task_id: Any, value: Any, annotation: dict) -> tuple[list, list[str]]:
        """The annotation's boxes; an annotation without boxes says the image shows no object."""
        field_name = f"annotation {annotation.get('id')} {self.from_name}"
        results = annotation.get("result")
        if not isinstance(results, list):
            raise InvalidTask(task_id, field_name, "annotation result is not a list")
        boxes = []
        for number, item in enumerate(r for r in results if isinstance(r, dict) and r.get("from_name") == self.from_name):
            box_value = item.get("value") or {}
            labels = box_value.get("rectanglelabels")
            if not isinstance(labels, list) or len(labels) != 1:
                raise InvalidTask(task_id, f"{field_name} box {number}", f"expected exactly one label, got {labels!r}")
            if labels[0] not in self.class_index:
                raise InvalidTask(task_id, f"{field_name} box {number}", f"label {labels[0]!r} is not in the "
                                  f"labeling config (labels: {', '.join(self.classes)})")
            try:
                box = label_studio_to_yolo(box_value)
            except ValueError as error:
                raise InvalidTask(task_id, f"{field_name} box {number}", str(error)) from None
            boxes.append([round(v, 6) for v in box] + [labels[0]])
        return sorted(boxes, key=lambda b: (b[4], b[:4])), []

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> list[str]:
        return list(inputs)  # image files; ultralytics reads and resizes them itself

    def fold_strata(self, targets: Sequence[list]) -> list:
        # Folds share out images by the classes they show (and empty images), not by exact boxes.
        return [tuple(sorted({b[4] for b in target})) for target in targets]

    def training_problem(self, targets: Sequence[list], n_folds: int) -> str | None:
        n_boxes = sum(len(t) for t in targets)
        if len(targets) < n_folds or n_boxes == 0:
            return (f"{len(targets)} labeled image(s) with {n_boxes} box(es); training needs at least {n_folds} "
                    f"labeled images (RELABEL_FOLDS) and at least one box")
        return None

    def target_key(self, target: list) -> str:
        return json.dumps([[round(v, 3) for v in b[:4]] + [b[4]] for b in target])

    # --- the model ------------------------------------------------------------------------------------
    def _model_options(self) -> dict:
        return {"weights": self.detection_model, "epochs": self.epochs, "image_size": self.image_size,
                "batch_size": self.batch_size, "min_steps": self.min_steps, "device": self.device, "seed": self.seed,
                "train_options": self.train_options}

    def fits_in_parallel(self, n_labeled: int) -> bool:
        return long_yolo_fit(self.new_model(), n_labeled)

    def new_model(self) -> YoloDetector:
        return YoloDetector(self.classes, **self._model_options())

    def save_model(self, model: YoloDetector, directory: str) -> None:
        with open(os.path.join(directory, MODEL_FILE), "w") as file:
            json.dump({"detection_model": self.detection_model, "classes": self.classes}, file)
        model.save(directory)

    def load_model(self, directory: str) -> YoloDetector:
        with open(os.path.join(directory, MODEL_FILE)) as file:
            saved = json.load(file)
        if saved["classes"] != self.classes:
            raise ValueError(f"model in {directory} predicts the labels {saved['classes']}, but the labeling config "
                             f"<RectangleLabels name={self.from_name!r}> now has {self.classes}: train a new model")
        return YoloDetector.load(directory, self.classes, **self._model_options())

    def to_prediction(self, output: BoxSet) -> dict:
        shown = [i for i in range(len(output)) if output.scores[i] >= self.prediction_confidence]
        results = [{"from_name": self.from_name, "to_name": self.to_name, "type": "rectanglelabels",
                    "value": {**yolo_to_label_studio(output.boxes[i]),
                              "rectanglelabels": [self.classes[int(output.classes[i])]]},
                    "score": round(float(output.scores[i]), 6)} for i in shown]
        score = float(np.mean([output.scores[i] for i in shown])) if shown else 0.0
        return {"result": results, "score": round(score, 6)}

    def output_to_json(self, output: BoxSet) -> dict:
        return output.to_json()

    def output_from_json(self, data: dict) -> BoxSet:
        return BoxSet.from_json(data)

    # --- disagreement -----------------------------------------------------------------------------------
    def human_boxes(self, target: list) -> BoxSet:
        return BoxSet([b[:4] for b in target], [self.class_index[b[4]] for b in target])

    def _readable(self, boxes: BoxSet) -> str:
        counts = Counter(self.classes[int(c)] for c in boxes.classes)
        return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "(no boxes)"

    def find_disagreements(self, task_ids: Sequence[int], targets: Sequence[list], outputs: Sequence[BoxSet],
                           options: FlagOptions | None = None) -> list[Disagreement]:
        """Flags per `options`: disagreement (the paper's rule), any box error; budget, the lowest image
        scores (under a threshold, `budget` of them, or as many images as have a box error);
        confident_learning, cleanlab's object-detection `find_label_issues` on the same boxes."""
        options = options or FlagOptions()
        if not len(task_ids):
            return []
        humans = [self.human_boxes(t) for t in targets]
        errors = [compare_boxes(h.boxes, h.classes, o.boxes, o.classes, o.scores, self.box_errors)
                  for h, o in zip(humans, outputs)]
        quality = np.array([image_quality(e) for e in errors])
        any_error = np.array([bool(e) for e in errors])
        flagged = flag_labels(FlagIngredients(
            quality=quality, disagrees=any_error,
            default_flags=lambda: flag_lowest_quality(quality, int(any_error.sum())),
            confident_issues=lambda: self._cleanlab_issues(humans, outputs), task_type=self.name), options)
        return [Disagreement(task_id=int(task_id), flagged=bool(flagged[i]), label_quality=float(quality[i]),
                             human=self._readable(humans[i]), model=self._readable(self._shown(outputs[i])),
                             classes=tuple(sorted({self.classes[e["class"]] for e in errors[i]})),
                             label_classes=tuple(sorted({b[4] for b in targets[i]})),
                             errors=_errors_by_kind(errors[i], self.classes))
                for i, task_id in enumerate(task_ids)]

    def output_target(self, output: BoxSet) -> list:
        shown = self._shown(output)
        return sorted(([round(float(v), 6) for v in box] + [self.classes[int(c)]] for box, c in
                       zip(shown.boxes, shown.classes)), key=lambda b: (b[4], b[:4]))

    def preview(self, task: dict) -> tuple[str, str]:
        return "image", str((task.get("data") or {}).get(self.data_key, ""))

    def flag_reason(self, disagreement: Disagreement) -> str:
        kinds = [f"{kind.replace('_', ' ')} {count} {name}" for kind, counts in (disagreement.errors or {}).items()
                 for name, count in counts.items()]
        return f"{'; '.join(kinds) or 'boxes differ'} · human: {disagreement.human} · model: {disagreement.model}"

    def evaluate(self, targets: Sequence[list], outputs: Sequence[BoxSet]) -> dict:
        humans = [self.human_boxes(t) for t in targets]
        return detection_metrics([(h.boxes, h.classes) for h in humans],
                                 [(o.boxes, o.classes, o.scores) for o in outputs], len(self.classes))

    def _shown(self, output: BoxSet) -> BoxSet:
        keep = output.scores >= self.prediction_confidence
        return BoxSet(output.boxes[keep], output.classes[keep], output.scores[keep])

    def _cleanlab_issues(self, humans: Sequence[BoxSet], outputs: Sequence[BoxSet]) -> np.ndarray:
        from multiprocessing.pool import ThreadPool

        import cleanlab.object_detection.filter as cleanlab_boxes
        from cleanlab.object_detection.filter import find_label_issues

        # cleanlab forks a process pool (of one process) for each of its ten IoU thresholds; a fork of a process with
        # threads (the backend's, torch's) can leave the child waiting forever on a lock another thread held. The
        # pool's work is light numpy: threads do it, and no process is forked.
        cleanlab_boxes.Pool = ThreadPool

        labels = [{"bboxes": _pixel_corners(h.boxes), "labels": h.classes} for h in humans]
        predictions = [np.array([np.hstack([_pixel_corners(o.boxes[o.classes == c]), o.scores[o.classes == c][:, None]])
                                 .reshape(-1, 5) for c in range(len(self.classes))], dtype=object)
                       for o in outputs]
        return np.asarray(find_label_issues(labels, predictions), dtype=bool)


#: cleanlab's box similarity decays with the distance between boxes in pixels (its EUC_FACTOR is per
#: pixel), so normalized boxes are given to it as if on an image of this many pixels (YOLO's default size)
CLEANLAB_PIXELS = 640


def _pixel_corners(boxes: np.ndarray) -> np.ndarray:
    """YOLO (x_center, y_center, width, height) as pixel-scale (x1, y1, x2, y2) rows, the form cleanlab takes."""
    return np.column_stack(box_corners(as_boxes(boxes))).reshape(-1, 4) * CLEANLAB_PIXELS


def _errors_by_kind(errors: list[dict], classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """{kind: {class: count}}, the shape the round report sums (as NER's span errors)."""
    by_kind: dict[str, dict[str, int]] = {}
    for name, counts in errors_per_class(errors, classes).items():
        for kind, count in counts.items():
            by_kind.setdefault(kind, {})[name] = count
    return by_kind
