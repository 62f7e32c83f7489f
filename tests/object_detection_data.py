"""Generated images for the detection tests: squares (and circles) at known places, and their boxes."""
from __future__ import annotations

import random
from pathlib import Path

DETECTION_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="objects" toName="image"><Label value="square"/><Label value="circle"/></RectangleLabels>
</View>"""
SIDE = 64


def draw_scene(rng: random.Random, n_objects: int | None = None):
    """(PIL image, boxes) with 1-3 non-overlapping shapes; boxes as [x_center, y_center, width, height, class]."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIDE, SIDE), tuple(rng.randint(0, 50) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    boxes: list[list] = []
    for _ in range(n_objects or rng.randint(1, 3)):
        for _attempt in range(20):
            side = rng.randint(SIDE // 6, SIDE // 3)
            x, y = rng.randint(0, SIDE - side - 1), rng.randint(0, SIDE - side - 1)
            if all(abs(x + side / 2 - b[0] * SIDE) > (side + b[2] * SIDE) / 2 + 2 or
                   abs(y + side / 2 - b[1] * SIDE) > (side + b[3] * SIDE) / 2 + 2 for b in boxes):
                break
        shape = rng.choice(["square", "circle"])
        if shape == "square":
            draw.rectangle([x, y, x + side, y + side], fill=(220, 50, 50))
        else:
            draw.ellipse([x, y, x + side, y + side], fill=(50, 200, 220))
        boxes.append([(x + side / 2) / SIDE, (y + side / 2) / SIDE, (side + 1) / SIDE, (side + 1) / SIDE, shape])
    return image, boxes


def write_scenes(folder: Path, count: int, seed: int = 0) -> list[tuple[Path, list[list]]]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for number in range(count):
        image, boxes = draw_scene(rng)
        path = folder / f"scene-{number:03d}.png"
        image.save(path)
        scenes.append((path, boxes))
    return scenes


def rectangle_results(boxes: list[list]) -> list[dict]:
    """Label Studio annotation results for YOLO boxes."""
    return [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels", "original_width": SIDE,
             "original_height": SIDE, "value": {"x": (x - w / 2) * 100, "y": (y - h / 2) * 100, "width": w * 100,
                                                 "height": h * 100, "rotation": 0, "rectanglelabels": [label]}}
            for x, y, w, h, label in boxes]
