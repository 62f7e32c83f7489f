"""What the task types share whose model is heads over the text features (multi-label tags, ratings and
numbers): the text of any text-bearing object tag, the cached sentence embeddings (the encoder's last and
middle layers) with the texts for TF-IDF, and a saved model that names what it was trained for."""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from relabel.adapters.base import ControlOnObject, Progress, TaskAdapter, no_progress, task_data_value
from relabel.adapters.data.text_objects import object_text, text_or_empty
from relabel.adapters.models.text_classifiers import TextFeatures
from relabel.adapters.models.text_encoders import (DEFAULT_ENCODER, LAST_AND_MIDDLE, LAST_LAYER, last_layer_vectors,
                                                  layers_problem)
from relabel.adapters.tasks.text_classification import embed_texts

HEAD_FILE, IDENTITY_FILE = "head.joblib", "text_heads_model.json"


class TextHeadsAdapter(TaskAdapter):
    """Subclasses parse their control, call `_read_control` and `_use_encoder`, and say in
    `model_identity()` what a saved model must match."""

    def _read_control(self, control: ControlOnObject) -> None:
        self.from_name, self.to_name, self.data_key = control.from_name, control.to_name, control.data_key
        self.object_type, self.object_attributes = control.object_tag, control.object_attributes or {}

    def _use_encoder(self, encoder: str | None, device: str, seed: int, feature_cache_dir: str | None,
                     embedding_layers: Sequence[str] = LAST_AND_MIDDLE) -> None:
        self.encoder = encoder or DEFAULT_ENCODER
        # the encoder's layers the heads read, the last layer's first (the middle one's beside it: multi-label
        # F1 up in 4 of 4 settings, numbers in 7 of 8, -0.010 in one; AUPRC never lower; RESULTS.md 29)
        self.embedding_layers = tuple(embedding_layers)
        self.device = device
        self.seed = seed
        # the backend's per-project embedding cache (None: embed every time)
        self.feature_cache_dir = feature_cache_dir
        #: how many texts the last featurize had to embed (the others came from the cache)
        self.texts_embedded_: int | None = None

    def encoder_settings(self) -> dict:
        """The encoder's part of the subclasses' `settings()` (a new version when it changes)."""
        return {"encoder": self.encoder, "embedding_layers": "+".join(self.embedding_layers)}

    def model_identity(self) -> dict:
        """What a saved model was trained for; loading one for anything else is refused (the encoder's layers
        are checked apart, in `load_model`: heads of the last layer alone read wider vectors)."""
        return {"adapter": self.name, "encoder": self.encoder}

    def input_from_task(self, task: dict) -> str:
        task_id, value = task_data_value(task, self.data_key)
        return object_text(task_id, self.data_key, self.object_type, self.object_attributes, value)

    def task_text(self, task: dict) -> str:
        return text_or_empty(self, task)

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> TextFeatures:
        embeddings, self.texts_embedded_ = embed_texts(inputs, self.encoder, self.device, self.feature_cache_dir,
                                                       progress, self.embedding_layers)
        return TextFeatures(list(inputs), embeddings)

    def similarity_vectors(self, features: TextFeatures) -> Any:
        return last_layer_vectors(features.embeddings, self.embedding_layers)

    def save_model(self, model: Any, directory: str) -> None:
        import joblib

        with open(os.path.join(directory, IDENTITY_FILE), "w") as file:
            json.dump({**self.model_identity(), "embedding_layers": list(self.embedding_layers)}, file)
        joblib.dump(model, os.path.join(directory, HEAD_FILE))

    def load_model(self, directory: str) -> Any:
        import joblib

        with open(os.path.join(directory, IDENTITY_FILE)) as file:
            saved = json.load(file)
        # (a model saved before 2026-12-07 names no layers: the last alone)
        trained_layers = saved.pop("embedding_layers", LAST_LAYER)
        if saved != self.model_identity():
            raise ValueError(f"model in {directory} was trained for {saved}; the project now wants "
                             f"{self.model_identity()}: train a new model")
        problem = layers_problem(trained_layers, self.embedding_layers)
        if problem:
            raise ValueError(f"model in {directory}: {problem}: train a new model")
        return joblib.load(os.path.join(directory, HEAD_FILE))
