#!/usr/bin/env python3
"""Multi-label tags on images: how well the flags find wrongly tagged images (by hand; prints a Markdown table).

Real handwriting with human labels: scikit-learn's digits 0-4 (8x8 grey), two of them per image, one in the
top-left and one in the bottom-right quarter of a 16x16 canvas, upscaled; an image's tags are the digits
it shows (one tag when both are the same digit). Noise on a share of the images, as in the text
benchmark (benchmarks/multilabel_detection.py): "flip" toggles one tag, "missing" drops one present tag.
The product's image tag model (the YOLO classifier over tag sets, from its yaml, mirroring off) predicts
every image out of fold and in sample; every detector reads those same probabilities (the rows of
`multilabel_detection.print_rows`).

    .venv/bin/python -m benchmarks.multilabel_image_detection [--images 1000] [--noise 0.2] [--kinds flip missing]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from relabel.adapters import adapter_for_config
from benchmarks.multilabel_detection import TABLE_HEAD, inject, out_of_fold_and_in_sample, print_rows

DIGITS = ["0", "1", "2", "3", "4"]
CONFIG = ('<View><Image name="image" value="$image"/><Choices name="digits" toName="image" choice="multiple">'
          + "".join(f'<Choice value="{d}"/>' for d in DIGITS) + "</Choices></View>")


def write_digit_pairs(folder: Path, n: int, side: int, seed: int) -> tuple[list[str], np.ndarray]:
    """n PNG files of two real digits each; (paths, (n, 5) bool tags)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.flatnonzero(digits.target < len(DIGITS))
    rng = np.random.default_rng(seed)
    paths, tags = [], np.zeros((n, len(DIGITS)), dtype=bool)
    for number in range(n):
        first, second = rng.choice(keep, 2, replace=False)
        canvas = np.zeros((16, 16))
        canvas[:8, :8], canvas[8:, 8:] = digits.images[first], digits.images[second]
        path = folder / f"pair-{number:04d}.png"
        Image.fromarray((canvas * (255 / 16)).clip(0, 255).astype(np.uint8)).resize((side, side),
                                                                                   Image.BILINEAR).save(path)
        paths.append(str(path))
        tags[number, [digits.target[first], digits.target[second]]] = True
    return paths, tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.2])
    parser.add_argument("--kinds", nargs="+", default=["flip", "missing"], choices=["flip", "missing"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    adapter = adapter_for_config(CONFIG, {"multi-label-image": {
        "epochs": args.epochs, "image_size": args.image_size, "seed": args.seed, "train_options": {"fliplr": 0.0}}},
        device="cpu")
    with tempfile.TemporaryDirectory(prefix="relabel-digit-pairs-") as folder:
        paths, clean = write_digit_pairs(Path(folder), args.images, args.image_size, args.seed)
        print(f"{len(paths)} images of two digits, {clean.sum(axis=1).mean():.2f} tags each, "
              f"{len({tuple(row) for row in clean})} distinct tag sets\n")
        print(TABLE_HEAD)
        for kind in args.kinds:
            for share in args.noise:
                noisy, truth = inject(clean, share, kind, args.seed)
                targets = [[d for d, chosen in zip(DIGITS, row) if chosen] for row in noisy]
                print_rows(adapter, f"{kind} {share:.0%} ({truth.sum()})", noisy, truth,
                           *out_of_fold_and_in_sample(adapter, paths, targets, args.folds, args.seed), args.seed)


if __name__ == "__main__":
    main()
