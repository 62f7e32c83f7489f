"""Image files behind Label Studio tasks, for every adapter that reads an `<Image>` (classification, detection).

A task's image is a URL in its data: an upload (`/data/upload/3/x.png`), a local-storage or cloud-storage
file, an http(s) address, or a `data:` URL. Downloading it with the backend's Label Studio credentials is
Label Studio I/O and lives in `relabel/clients/label_studio.py`; adapters receive it as a `MediaFetcher` and only
check that what arrived is a readable image.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Any, Callable

from relabel.adapters.base import InvalidTask

#: (url, task id) -> path of a local copy of the file; raises OSError or a requests error when it cannot
MediaFetcher = Callable[[str, Any], str]

#: file suffixes ultralytics reads; an image in another format is re-encoded as PNG before training
YOLO_IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}


def no_media_fetcher(url: str, task_id: Any) -> str:
    """The fetcher of an adapter built without Label Studio credentials (e.g. only to score disagreements)."""
    raise OSError("no Label Studio credentials to download it with (set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY)")


def save_data_url(url: str, cache_dir: str) -> str:
    """Write a `data:image/...;base64,...` URL into `cache_dir` (named by its content) and return the path."""
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise ValueError("only base64 data: URLs are supported")
    content = base64.b64decode(payload, validate=True)
    suffix = "." + header[len("data:image/"):].split(";")[0] if header.startswith("data:image/") else ".img"
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, hashlib.sha256(content).hexdigest()[:16] + suffix)
    if not os.path.exists(path):
        with open(path + ".part", "wb") as file:
            file.write(content)
        os.replace(path + ".part", path)
    return path


def local_image(task_id: Any, data_key: str, value: Any, fetch: MediaFetcher) -> str:
    """Path of a readable local copy of the task's image; InvalidTask naming the task and field otherwise."""
    field_name = f"data.{data_key}"
    if not isinstance(value, str) or not value.strip():
        raise InvalidTask(task_id, field_name, f"expected an image URL, got {value!r:.60}")
    shown = value if not value.startswith("data:") else value[:30] + "..."
    try:
        path = fetch(value, task_id)
    except (OSError, ValueError, binascii.Error) as error:
        raise InvalidTask(task_id, field_name, f"image {shown} cannot be downloaded: {error}") from None
    except Exception as error:  # requests' HTTP errors and the SDK's own
        raise InvalidTask(task_id, field_name,
                          f"image {shown} cannot be downloaded: {type(error).__name__}: {error}") from None
    check_image_file(task_id, field_name, shown, path)
    return path


def check_image_file(task_id: Any, field_name: str, shown: str, path: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise InvalidTask(task_id, field_name, f"image {shown} is not a readable image: {error}") from None
    except ImportError:
        # Once ultralytics is imported, PIL's Image.open tries the HEIF plugin on a file it cannot identify,
        # and fails this way when pi-heif is not installed.
        raise InvalidTask(task_id, field_name, f"image {shown} is not a readable image (unknown format)") from None


def open_rgb(path: str):
    """The image at `path` as an RGB PIL image (palette, grey and alpha images converted)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def link_image_for_yolo(source: str, target_stem: Path) -> None:
    """`target_stem` + suffix as a link to `source` (re-encoded as PNG when ultralytics cannot read its format)."""
    suffix = Path(source).suffix.lower()
    if suffix in YOLO_IMAGE_SUFFIXES:
        os.symlink(os.path.abspath(source), str(target_stem) + suffix)
    else:
        open_rgb(source).save(str(target_stem) + ".png")
