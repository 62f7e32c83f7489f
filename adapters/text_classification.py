"""Text classification: a single-choice `<Choices>` on a `<Text>`.

Three model modes:
- "ensemble" (default, fast): a pretrained encoder embeds each text once; per fold, a logistic
  regression on the embeddings and one on TF-IDF word n-grams are fitted and their probabilities
  averaged. The two see different things (meaning vs exact words), so they make different
  mistakes, and their average ranks wrong labels better than either (benchmarks/RESULTS.md).
- "embedding": the embedding head alone.
- "finetune": the encoder itself is fine-tuned per fold with transformers (slower, stronger).
- "finetune_ensemble": the fine-tuned encoder's probabilities averaged with the "ensemble" model's
  (the slowest and the best at finding wrong labels; benchmarks/RESULTS.md).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from adapters.base import Progress, no_progress, non_empty_text
from adapters.classification import ClassificationAdapter, LinearHead
from adapters.text_models import DEFAULT_ENCODER, FineTunedTextClassifier, TextEmbedder

MODES = ("ensemble", "embedding", "finetune", "finetune_ensemble")


@dataclass
class TextFeatures:
    """Texts with their sentence embeddings, row-aligned; `take` selects rows of both."""

    texts: list[str]
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: Sequence[int]) -> "TextFeatures":
        indices = np.asarray(indices, dtype=int)
        return TextFeatures([self.texts[i] for i in indices], self.embeddings[indices])


class EmbeddingTfidfEnsemble:
    """Average of two logistic regressions: on sentence embeddings and on TF-IDF word 1-2-grams.

    The TF-IDF vocabulary is learned in `fit`, from the training texts only.
    """

    def __init__(self, classes: Sequence[str], regularization: float = 1.0, tfidf_regularization: float = 4.0,
                 seed: int = 0):
        self.classes = list(classes)
        self.regularization = regularization
        self.tfidf_regularization = tfidf_regularization
        self.seed = seed

    def fit(self, features: TextFeatures, targets: Sequence[str]) -> "EmbeddingTfidfEnsemble":
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.embedding_head_ = LinearHead(self.classes, self.regularization, self.seed).fit(features.embeddings, targets)
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(features.texts)
        self.tfidf_head_ = LinearHead(self.classes, self.tfidf_regularization, self.seed).fit(
            self.vectorizer_.transform(features.texts), targets)
        return self

    def predict(self, features: TextFeatures) -> np.ndarray:
        if not len(features):
            return np.zeros((0, len(self.classes)))
        return (self.embedding_head_.predict(features.embeddings)
                + self.tfidf_head_.predict(self.vectorizer_.transform(features.texts))) / 2


class FineTunedWithEnsemble:
    """Average of a fine-tuned transformer's probabilities and an EmbeddingTfidfEnsemble's.

    A fine-tuned model is the most accurate but starts memorising noisy labels; the frozen-feature
    ensemble cannot memorise much and errs elsewhere. Their average ranks wrong labels best.
    """

    def __init__(self, fine_tuned: FineTunedTextClassifier, ensemble: EmbeddingTfidfEnsemble):
        self.fine_tuned = fine_tuned
        self.ensemble = ensemble

    def fit(self, features: TextFeatures, targets: Sequence[str]) -> "FineTunedWithEnsemble":
        self.fine_tuned.fit(features.texts, targets)
        self.ensemble.fit(features, targets)
        return self

    def predict(self, features: TextFeatures) -> np.ndarray:
        if not len(features):
            return np.zeros((0, len(self.ensemble.classes)))
        return (self.fine_tuned.predict(features.texts) + self.ensemble.predict(features)) / 2

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


class TextClassificationAdapter(ClassificationAdapter):
    name = "text-classification"
    description = "single-choice <Choices> on a <Text>"
    object_tag = "Text"

    def __init__(self, label_config: str, *, mode: str = "ensemble", encoder: str | None = None,
                 epochs: int = 2, batch_size: int = 32, learning_rate: float = 1e-4, regularization: float = 1.0,
                 tfidf_regularization: float = 4.0, device: str = "auto", seed: int = 0):
        super().__init__(label_config)
        if mode not in MODES:
            raise ValueError(f"text classification mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.encoder = encoder or DEFAULT_ENCODER
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.tfidf_regularization = tfidf_regularization
        self.device = device
        self.seed = seed

    def settings(self) -> dict:
        settings = {"mode": self.mode, "encoder": self.encoder, "seed": self.seed}
        if self.mode in ("finetune", "finetune_ensemble"):
            settings.update(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate)
        if self.mode != "finetune":
            settings.update(regularization=self.regularization)
        if self.mode in ("ensemble", "finetune_ensemble"):
            settings.update(tfidf_regularization=self.tfidf_regularization)
        return settings

    def read_input(self, task_id: Any, value: Any) -> str:
        return non_empty_text(task_id, self.data_key, value)

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> Any:
        if self.mode == "finetune":
            return list(inputs)
        embeddings = shared_embedder(self.encoder, self.device).embed(inputs, progress)
        return embeddings if self.mode == "embedding" else TextFeatures(list(inputs), embeddings)

    def new_model(self) -> Any:
        if self.mode == "embedding":
            return LinearHead(self.classes, regularization=self.regularization, seed=self.seed)
        ensemble = EmbeddingTfidfEnsemble(self.classes, regularization=self.regularization,
                                          tfidf_regularization=self.tfidf_regularization, seed=self.seed)
        if self.mode == "ensemble":
            return ensemble
        fine_tuned = FineTunedTextClassifier(self.classes, encoder=self.encoder, epochs=self.epochs,
                                             batch_size=self.batch_size, learning_rate=self.learning_rate,
                                             device=self.device, seed=self.seed)
        return fine_tuned if self.mode == "finetune" else FineTunedWithEnsemble(fine_tuned, ensemble)

    def save_model(self, model: Any, directory: str) -> None:
        with open(os.path.join(directory, "text_model.json"), "w") as file:
            json.dump({"mode": self.mode, "encoder": self.encoder, "classes": self.classes}, file)
        import joblib

        if self.mode == "finetune":
            model.save(directory)
        elif self.mode == "finetune_ensemble":
            model.fine_tuned.save(directory)
            joblib.dump(model.ensemble, os.path.join(directory, "head.joblib"))
        else:
            joblib.dump(model, os.path.join(directory, "head.joblib"))

    def load_model(self, directory: str) -> Any:
        with open(os.path.join(directory, "text_model.json")) as file:
            saved = json.load(file)
        if saved["mode"] != self.mode or saved["encoder"] != self.encoder:
            raise ValueError(f"model in {directory} was trained with mode={saved['mode']} encoder={saved['encoder']}, "
                             f"but the backend is configured for mode={self.mode} encoder={self.encoder}")
        if saved["classes"] != self.classes:
            raise ValueError(f"model in {directory} predicts the labels {saved['classes']}, but the labeling config "
                             f"<Choices name={self.from_name!r}> now has {self.classes}: train a new model")
        import joblib

        if saved["mode"] == "finetune":
            return FineTunedTextClassifier.load(directory, device=self.device)
        head = joblib.load(os.path.join(directory, "head.joblib"))
        if saved["mode"] == "finetune_ensemble":
            return FineTunedWithEnsemble(FineTunedTextClassifier.load(directory, device=self.device), head)
        return head
