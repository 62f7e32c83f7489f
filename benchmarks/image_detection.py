#!/usr/bin/env python3
"""How well each flag rule finds wrong labels on images (run by hand): scikit-learn's digits with injected noise.

load_digits (1,797 8x8 grey images, 10 classes) is upscaled to 32x32 PNG files; the image adapter's own
model (ultralytics yolo11n-cls trained from its yaml, mirroring off: a mirrored digit is another shape)
predicts every image in sample and out of fold, and each detector flags on those same probabilities
through the product's code (the rows of benchmarks/detection_quality.py). Noise: uniform flips, flips
between confusable pairs (1<->7, 3<->8, 4<->9, 5<->6), each on 20% of the images by default, and plausible
(instance-dependent) flips: another model than the product's (logistic regression on the 8x8 pixels, out
of fold on the true labels) says which digits are ambiguous and what they look like (`--noise plausible:0.2`).

    .venv/bin/python -m benchmarks.image_detection                       # 20 epochs, 5 folds, both noises
    .venv/bin/python -m benchmarks.image_detection --epochs 5 --noise uniform:0.2
    .venv/bin/python -m benchmarks.image_detection --noise plausible:0.1,plausible:0.2,plausible:0.4
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from relabel.adapters import adapter_for_config
from benchmarks.datasets import flip_by_confusion, flip_to_partners, flip_uniformly
from benchmarks.detection_quality import add_rankings_argument, run_setting

DIGIT_CLASSES = [str(digit) for digit in range(10)]
CONFUSABLE_PAIRS = [("1", "7"), ("3", "8"), ("4", "9"), ("5", "6")]


def image_config(classes: list[str]) -> str:
    choices = "".join(f'<Choice value="{c}"/>' for c in classes)
    return f'<View><Image name="image" value="$image"/><Choices name="digit" toName="image">{choices}</Choices></View>'


def write_digits(folder: Path, side: int = 32) -> tuple[list[str], list[str]]:
    """load_digits as PNG files of `side` pixels; (paths, labels)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    paths = []
    for number, pixels in enumerate(digits.images):
        path = folder / f"digit-{number:04d}.png"
        grey = (pixels * (255 / 16)).clip(0, 255).astype(np.uint8)
        Image.fromarray(grey).resize((side, side), Image.BILINEAR).save(path)
        paths.append(str(path))
    return paths, [str(target) for target in digits.target]


def flip_confusable_pairs(labels: list[str], classes: list[str], share: float,
                          seed: int) -> tuple[list[str], np.ndarray]:
    """Flip `share` of all labels, chosen among the digits of CONFUSABLE_PAIRS, to the other digit of the pair."""
    return flip_to_partners(labels, CONFUSABLE_PAIRS, share, seed)


def flip_digits_plausibly(labels: list[str], classes: list[str], share: float,
                          seed: int) -> tuple[list[str], np.ndarray]:
    """Instance-dependent flips: a logistic regression on load_digits' 8x8 pixels (not the product's CNN),
    out of fold on the true labels, says how ambiguous each digit is and which other digit it resembles."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    pixels = load_digits().data / 16.0
    true = np.array([classes.index(label) for label in labels])
    probabilities = cross_val_predict(LogisticRegression(C=0.05, max_iter=2000), pixels, true, cv=5,
                                      method="predict_proba")
    return flip_by_confusion(labels, classes, share, seed, probabilities)


NOISE = {"uniform": flip_uniformly, "pairs": flip_confusable_pairs, "plausible": flip_digits_plausibly}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise", default="uniform:0.2,pairs:0.2", help="kind:share list; kinds: uniform, pairs, plausible")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--model", default="yolo11n-cls.yaml", help="ultralytics .pt file or model yaml")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--extra-rules", action="store_true", help="also score the other flag rules")
    add_rankings_argument(parser)
    parser.add_argument("--in-sample-weights", default="",
                        help="comma-separated shares of the in-sample outputs mixed in to rank (as detection_quality)")
    options = parser.parse_args()
    options.repeats = 1

    adapter = adapter_for_config(image_config(DIGIT_CLASSES), {"image-classification": {
        "image_model": options.model, "epochs": options.epochs, "image_size": options.image_size, "seed": options.seed,
        "train_options": {"fliplr": 0.0}}}, device=options.device)
    lines = ["| noise | detector | flagged | precision | recall | F1 | AUROC | AUPRC | P@k | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="relabel-digits-") as folder:
        paths, labels = write_digits(Path(folder), options.image_size)
        started = time.perf_counter()
        for setting in options.noise.split(","):
            kind, _, share = setting.partition(":")
            noisy, truth = NOISE[kind](labels, DIGIT_CLASSES, float(share), options.seed)
            for detector, result, seconds in run_setting(adapter, paths, noisy, truth, options, options.seed):
                lines.append(f"| {kind} {float(share):.0%} ({truth.sum()}) | {detector} | {result['flagged']} "
                             f"| {result['precision']:.3f} | {result['recall']:.3f} | {result['f1']:.3f} "
                             f"| {result['auroc']:.3f} | {result['auprc']:.3f} | {result['p_at_k']:.3f} "
                             f"| {seconds:.1f} |")
                print(lines[-1], file=sys.stderr, flush=True)
    print(f"\n{len(paths)} digits at {options.image_size} px, {options.model}, {options.epochs} epochs, "
          f"{options.folds} folds, seed {options.seed}; wall time {time.perf_counter() - started:.0f} s\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
