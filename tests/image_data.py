"""Generated images for the image tests: each class a shape in its own colour, at a random place and size."""
from __future__ import annotations

import random
from pathlib import Path

SHAPE_CLASSES = ("circle", "square", "triangle")
_COLOURS = {"circle": (220, 40, 40), "square": (40, 200, 60), "triangle": (40, 60, 220)}

IMAGE_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="shape" toName="image" choice="single">
    <Choice value="circle"/><Choice value="square"/><Choice value="triangle"/>
  </Choices>
</View>"""


def draw_shape(shape: str, rng: random.Random, size: int = 48):
    """A PIL image of `shape` on a dark background."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), tuple(rng.randint(0, 60) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    side = rng.randint(size // 3, size // 2 + 2)
    x, y = rng.randint(2, size - side - 2), rng.randint(2, size - side - 2)
    colour = tuple(min(255, max(0, value + rng.randint(-30, 30))) for value in _COLOURS[shape])
    if shape == "circle":
        draw.ellipse([x, y, x + side, y + side], fill=colour)
    elif shape == "square":
        draw.rectangle([x, y, x + side, y + side], fill=colour)
    else:
        draw.polygon([(x, y + side), (x + side // 2, y), (x + side, y + side)], fill=colour)
    return image


def write_shapes(folder: Path, per_class: int, seed: int = 0) -> list[tuple[Path, str]]:
    """`per_class` PNG files of each shape in `folder`, interleaved by class: [(path, shape)]."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for number in range(per_class):
        for shape in SHAPE_CLASSES:
            path = folder / f"{shape}-{number:03d}.png"
            draw_shape(shape, rng).save(path)
            files.append((path, shape))
    return files


def choice_result(shape: str) -> list[dict]:
    return [{"from_name": "shape", "to_name": "image", "type": "choices", "value": {"choices": [shape]}}]


def png_bytes(shape: str = "circle", seed: int = 0) -> bytes:
    """One shape image as PNG file bytes."""
    import io

    buffer = io.BytesIO()
    draw_shape(shape, random.Random(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


#: the same shapes as tags: an image holds one or two of them, each in its own half
TAGS_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="shapes" toName="image" choice="multiple">
    <Choice value="circle"/><Choice value="square"/><Choice value="triangle"/>
  </Choices>
</View>"""


def draw_shapes(shapes, rng: random.Random, size: int = 48):
    """A PIL image holding each of `shapes` (one or two) in its own half."""
    from PIL import Image

    image = Image.new("RGB", (size, size), tuple(rng.randint(0, 60) for _ in range(3)))
    halves = [(0, 0), (size // 2, 0)] if rng.random() < 0.5 else [(0, 0), (0, size // 2)]
    half = (size // 2, size) if halves[1][0] else (size, size // 2)
    for shape, corner in zip(shapes, halves):
        part = draw_shape(shape, rng, size=min(half)).resize(half)
        image.paste(part, corner)
    return image


def write_tagged_shapes(folder: Path, n: int, seed: int = 0) -> list[tuple[Path, list[str]]]:
    """n PNG files, each of one or two shapes: [(path, its shapes in SHAPE_CLASSES order)]."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sets = [[s] for s in SHAPE_CLASSES] + [[a, b] for i, a in enumerate(SHAPE_CLASSES) for b in SHAPE_CLASSES[i + 1:]]
    files = []
    for number in range(n):
        shapes = sets[number % len(sets)]
        path = folder / f"tags-{number:03d}.png"
        draw_shapes(rng.sample(shapes, len(shapes)), rng).save(path)
        files.append((path, list(shapes)))
    return files


def tags_result(shapes) -> list[dict]:
    return [{"from_name": "shapes", "to_name": "image", "type": "choices", "value": {"choices": list(shapes)}}]
