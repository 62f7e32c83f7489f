#!/usr/bin/env python3
"""How well the detection adapter finds wrongly boxed images (run by hand): the raccoon set with injected box noise.

The 200 raccoon photos (../shared/data/raccoon, Pascal VOC boxes) get a second, synthetic class: the
images whose number is even are turned grey and their boxes become "grey raccoon", so a class swap is
something a detector can see. Then 20% of the images get one box error each, in equal shares: a box
dropped, a box shifted by 30-50% of its size, a spurious box added where there is no raccoon, or the
class swapped. The adapter's own model (ultralytics YOLO, yolo11n from its yaml, no pretrained weights)
predicts every image in sample and out of fold; each rule flags images through the product's code
(`ObjectDetectionAdapter.find_disagreements`). Prints image-level precision/recall/F1/AUPRC per rule, the
recall per kind of injected error, and wall time.

    .venv/bin/python -m benchmarks.detection_boxes                     # 120 epochs at 128 px, 3 folds (~23 min)
    .venv/bin/python -m benchmarks.detection_boxes --epochs 5 --image-size 96    # a quick look
"""
from __future__ import annotations

import argparse
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from relabel.adapters import adapter_for_config
from relabel.adapters.data.folds import in_sample_outputs, repeated_out_of_fold_outputs
from relabel.adapters.noise.flags import FlagOptions
from benchmarks.detection_quality import scores

DEFAULT_RACCOON = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "raccoon"
CLASSES = ["raccoon", "grey raccoon"]
NOISE_KINDS = ("dropped", "shifted", "spurious", "swapped")
CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="objects" toName="image">'
          '<Label value="raccoon"/><Label value="grey raccoon"/></RectangleLabels></View>')


def read_voc(path: Path) -> list[list]:
    """A VOC annotation's boxes as [x_center, y_center, width, height, "raccoon"] (YOLO-normalized)."""
    root = ElementTree.parse(path).getroot()
    width, height = (float(root.find(f"size/{k}").text) for k in ("width", "height"))
    boxes = []
    for item in root.iter("object"):
        x1, y1, x2, y2 = (float(item.find(f"bndbox/{k}").text) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height, "raccoon"])
    return boxes


def load_raccoons(folder: Path, scratch: Path) -> tuple[list[str], list[list[list]]]:
    """Image paths and clean boxes; even-numbered images saved grey with "grey raccoon" boxes."""
    from PIL import Image

    paths, targets = [], []
    for xml_path in sorted(folder.glob("annotations/raccoon-*.xml"), key=lambda p: int(p.stem.split("-")[1])):
        number = int(xml_path.stem.split("-")[1])
        image_path = folder / "images" / f"{xml_path.stem}.jpg"
        boxes = read_voc(xml_path)
        if number % 2 == 0:
            grey_path = scratch / f"{xml_path.stem}-grey.jpg"
            Image.open(image_path).convert("L").convert("RGB").save(grey_path, quality=95)
            image_path = grey_path
            boxes = [b[:4] + ["grey raccoon"] for b in boxes]
        paths.append(str(image_path))
        targets.append(boxes)
    return paths, targets


def inject_box_noise(targets: list[list[list]], share: float, seed: int) -> tuple[list[list[list]], list[str | None]]:
    """`share` of the images get one error each (kinds in turn); returns the noisy targets and each image's kind."""
    rng = np.random.default_rng(seed)
    noisy = [[list(b) for b in boxes] for boxes in targets]
    kinds: list[str | None] = [None] * len(targets)
    chosen = rng.choice(len(targets), round(share * len(targets)), replace=False)
    for turn, index in enumerate(chosen):
        kind = NOISE_KINDS[turn % len(NOISE_KINDS)]
        boxes = noisy[index]
        box = boxes[rng.integers(len(boxes))]
        if kind == "dropped":
            boxes.remove(box)
        elif kind == "shifted":
            fraction, sign = rng.uniform(0.3, 0.5), rng.choice([-1, 1])
            axis = rng.integers(2)
            box[axis] = float(np.clip(box[axis] + sign * fraction * box[axis + 2], box[axis + 2] / 2,
                                      1 - box[axis + 2] / 2))
        elif kind == "spurious":  # a raccoon-sized box in the image's emptiest corner
            w, h = min(box[2], 0.3), min(box[3], 0.3)
            corners = [(w / 2, h / 2), (1 - w / 2, h / 2), (w / 2, 1 - h / 2), (1 - w / 2, 1 - h / 2)]
            far = max(corners, key=lambda c: min(abs(c[0] - b[0]) + abs(c[1] - b[1]) for b in boxes))
            boxes.append([far[0], far[1], w, h, box[4]])
        else:
            box[4] = CLASSES[1 - CLASSES.index(box[4])]
        kinds[index] = kind
    return noisy, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_RACCOON)
    parser.add_argument("--share", type=float, default=0.2, help="share of images given one box error")
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--model", default="yolo11n.yaml", help="ultralytics .pt file or model yaml")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    options = parser.parse_args()

    adapter = adapter_for_config(CONFIG, {"object-detection": {
        "detection_model": options.model, "epochs": options.epochs, "image_size": options.image_size,
        "seed": options.seed}}, device=options.device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relabel-raccoons-") as scratch:
        paths, clean = load_raccoons(options.data, Path(scratch))
        noisy, kinds = inject_box_noise(clean, options.share, options.seed)
        truth = np.array([k is not None for k in kinds])
        ids = list(range(len(paths)))
        timings = {}
        t = time.perf_counter()
        in_sample = in_sample_outputs(adapter.new_model().fit(paths, noisy), paths)
        timings["in_sample"] = time.perf_counter() - t
        t = time.perf_counter()
        oof = repeated_out_of_fold_outputs(adapter.new_model, paths, noisy, options.folds, 1, adapter.average_outputs,
                                           options.seed, strata=adapter.fold_strata(noisy))
        timings["oof"] = time.perf_counter() - t

    rows = [("paper: in-sample, any box error", in_sample, FlagOptions(flag_rule="disagreement"), "in_sample"),
            ("OOF, any box error (our default)", oof, FlagOptions(), "oof"),
            ("OOF, cleanlab object_detection find_label_issues", oof,
             FlagOptions(flag_rule="confident_learning"), "oof")]
    lines = ["| detector | flagged | precision | recall | F1 | AUPRC | " + " | ".join(f"recall {k}" for k in NOISE_KINDS)
             + " | model seconds |", "|---|" + "---:|" * (6 + len(NOISE_KINDS))]
    flagged_default = 0
    for name, outputs, rule, timing in rows:
        found = adapter.find_disagreements(ids, noisy, outputs, rule)
        flagged = np.array([d.flagged for d in found])
        flagged_default = flagged_default or int(flagged.sum())
        result = scores(flagged, np.array([d.label_quality for d in found]), truth)
        per_kind = [flagged[[k == kind for k in kinds]].mean() for kind in NOISE_KINDS]
        lines.append(f"| {name} | {result['flagged']} | {result['precision']:.3f} | {result['recall']:.3f} | "
                     f"{result['f1']:.3f} | {result['auprc']:.3f} | " + " | ".join(f"{r:.2f}" for r in per_kind)
                     + f" | {timings[timing]:.0f} |")
    rng = np.random.default_rng(options.seed + 1)  # not the noise's own generator: it would pick the noisy images
    random_flags = np.zeros(len(ids), dtype=bool)
    random_flags[rng.choice(len(ids), max(flagged_default, 1), replace=False)] = True
    result = scores(random_flags, rng.random(len(ids)), truth)
    lines.append(f"| random, as many as the paper's rule | {result['flagged']} | {result['precision']:.3f} | "
                 f"{result['recall']:.3f} | {result['f1']:.3f} | {result['auprc']:.3f} | "
                 + " | ".join("-" for _ in NOISE_KINDS) + " | 0 |")
    print(f"\n{len(ids)} images ({truth.sum()} with an injected error), {options.model}, {options.epochs} epochs at "
          f"{options.image_size} px, {options.folds} folds, seed {options.seed}; wall time "
          f"{time.perf_counter() - started:.0f} s\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
