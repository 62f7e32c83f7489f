"""Text embeddings kept on disk per project, by content and encoder, so a round whose texts did not change
embeds nothing again (only labels changed since the last one).

One file per (project folder, encoder): the embeddings of the texts the last training read, keyed by a
hash of each text. It holds exactly those texts after each call, so it stays the size of the project; it
is written whole to a temporary file and renamed into place, so a crash leaves the old file or the new
one. A file that cannot be read is ignored (and replaced): the cache only ever saves work.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str], Callable[[str, int, int], None]], np.ndarray]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def cache_path(directory: str, encoder_key: str) -> str:
    return os.path.join(directory, f"embeddings-{hashlib.sha256(encoder_key.encode()).hexdigest()[:16]}.npz")


def _load(path: str) -> dict[str, np.ndarray]:
    if not os.path.exists(path):
        return {}
    try:
        with np.load(path, allow_pickle=False) as stored:
            keys, vectors = stored["keys"], stored["vectors"]
        if len(keys) != len(vectors):
            raise ValueError("keys and vectors differ in length")
        return {str(k): v for k, v in zip(keys, vectors)}
    except (OSError, ValueError, KeyError) as error:
        log.warning("embedding cache not used", extra={"path": path, "problem": str(error)})
        return {}


def _save(path: str, keys: list[str], vectors: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, keys=np.array(keys, dtype=str), vectors=vectors)
        os.replace(scratch, path)
    except OSError as error:
        log.warning("embedding cache not written", extra={"path": path, "problem": str(error)})
        if os.path.exists(scratch):
            os.unlink(scratch)


def cached_embeddings(embed: Embed, texts: Sequence[str], directory: str, encoder_key: str,
                      progress: Callable[[str, int, int], None]) -> tuple[np.ndarray, int]:
    """(the embeddings of `texts`, in order; how many texts had to be embedded). `embed(texts, progress)`
    embeds what the cache under `directory` does not hold for `encoder_key` (the encoder and its settings)."""
    if not len(texts):
        return embed([], progress), 0
    path = cache_path(directory, encoder_key)
    known = _load(path)
    keys = [text_key(text) for text in texts]
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts):
        if key not in known and key not in missing:
            missing[key] = text
    if missing:
        for key, vector in zip(missing, embed(list(missing.values()), progress)):
            known[key] = vector
    else:
        progress("embedding texts", len(texts), len(texts))
    vectors = np.vstack([known[key] for key in keys])
    unique = list(dict.fromkeys(keys))
    if missing or len(unique) != len(known):
        _save(path, unique, np.vstack([known[key] for key in unique]))
    return vectors, len(missing)
