"""Text classification: a single-choice `<Choices>` on a `<Text>`.

Two model modes:
- "embedding" (default, fast): a pretrained encoder embeds each text once; a logistic-regression
  head is fitted per fold on the embeddings.
- "finetune": the encoder itself is fine-tuned per fold with transformers (slower, stronger).
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from adapters.base import InvalidTask, Progress, no_progress
from adapters.classification import ClassificationAdapter, LinearHead
from adapters.text_models import DEFAULT_ENCODER, FineTunedTextClassifier, TextEmbedder

MODES = ("embedding", "finetune")

# Loading an encoder takes seconds; the backend embeds for every /predict call, so loaded encoders
# are kept per (encoder, device) for the life of the process.
_embedders: dict[tuple[str, str], TextEmbedder] = {}


def shared_embedder(encoder: str, device: str) -> TextEmbedder:
    key = (encoder, device)
    if key not in _embedders:
        _embedders[key] = TextEmbedder(encoder, device=device)
    return _embedders[key]


class TextClassificationAdapter(ClassificationAdapter):
    name = "text-classification"
    description = "single-choice <Choices> on a <Text>"
    object_tag = "Text"

    def __init__(self, label_config: str, *, mode: str = "embedding", encoder: str | None = None,
                 epochs: int = 3, batch_size: int = 16, learning_rate: float = 5e-5, regularization: float = 1.0,
                 device: str = "auto", seed: int = 0, quality_method: str = "normalized_margin"):
        super().__init__(label_config, quality_method=quality_method)
        if mode not in MODES:
            raise ValueError(f"text classification mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.encoder = encoder or DEFAULT_ENCODER
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.device = device
        self.seed = seed

    def settings(self) -> dict:
        settings = {"mode": self.mode, "encoder": self.encoder, "seed": self.seed}
        if self.mode == "finetune":
            settings.update(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate)
        else:
            settings.update(regularization=self.regularization)
        return settings

    def read_input(self, task_id: Any, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidTask(task_id, f"data.{self.data_key}", f"expected non-empty text, got {value!r:.60}")
        return value

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> Any:
        if self.mode == "finetune":
            return list(inputs)
        return shared_embedder(self.encoder, self.device).embed(inputs, progress)

    def new_model(self) -> Any:
        if self.mode == "finetune":
            return FineTunedTextClassifier(self.classes, encoder=self.encoder, epochs=self.epochs,
                                           batch_size=self.batch_size, learning_rate=self.learning_rate,
                                           device=self.device, seed=self.seed)
        return LinearHead(self.classes, regularization=self.regularization, seed=self.seed)

    def save_model(self, model: Any, directory: str) -> None:
        with open(os.path.join(directory, "text_model.json"), "w") as file:
            json.dump({"mode": self.mode, "encoder": self.encoder, "classes": self.classes}, file)
        if self.mode == "finetune":
            model.save(directory)
        else:
            import joblib

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
        if saved["mode"] == "finetune":
            return FineTunedTextClassifier.load(directory, device=self.device)
        import joblib

        return joblib.load(os.path.join(directory, "head.joblib"))
