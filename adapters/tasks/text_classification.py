"""Text classification: a single-choice `<Choices>` on a `<Text>`, `<HyperText>` or `<Paragraphs>` (the
visible text, or the utterances with their speakers: relabel.adapters.data.text_objects).

Model modes (RELABEL_TEXT_MODE; the default "auto" is "finetune_ensemble" on a GPU and "ensemble" on a CPU):
- "ensemble" (fast; the default on a CPU): a pretrained encoder embeds each text once; per fold, a logistic
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
from typing import Any, Sequence

from relabel.adapters.base import Progress, no_progress
from relabel.adapters.data.text_objects import TEXT_OBJECT_TAGS, object_text, text_or_empty
from relabel.adapters.models.text_classifiers import (EmbeddingTfidfEnsemble, FineTunedWithEnsemble, LinearHead,
                                                      TextFeatures)
from relabel.adapters.models.embedding_cache import cached_embeddings
from relabel.adapters.models.text_encoders import (DEFAULT_ENCODER, LAST_AND_MIDDLE, LAST_LAYER,
                                                  FineTunedTextClassifier, last_layer_vectors, layers_problem,
                                                  shared_embedder)
from relabel.adapters.tasks.classification import ClassificationAdapter

MODES = ("ensemble", "embedding", "finetune", "finetune_ensemble")
#: the default: the mode that finds wrong labels best where a round stays affordable on the device
AUTO_MODE = "auto"
#: "auto" on a GPU: fine-tuning finds wrong labels best (TREC 20%: F1 0.895 against 0.856, benchmarks/RESULTS.md
#: 2 and 23) but costs about 12 minutes of fits per 5,000 texts on 2 CPU cores; a GPU does that work
AUTO_ON_GPU, AUTO_ON_CPU = "finetune_ensemble", "ensemble"
#: above this many labeled tasks the second pass is off by default: it doubles the out-of-fold fits, 240 s
#: at 100,000 tasks on 2 cores, which would take round 2 past its 15 minutes (benchmarks/RESULTS.md 20)
SECOND_PASS_MOST_TASKS = 50_000


def mode_for_device(mode: str, device: str) -> str:
    """`mode`, with "auto" resolved: the fine-tuned ensemble where `device` is (or, "auto", finds) a GPU, the fast
    ensemble on a CPU."""
    if mode != AUTO_MODE:
        return mode
    if device == "auto":
        try:
            import torch
        except ImportError:  # a process that only reads outputs (the round driver without the ML extras)
            return AUTO_ON_CPU
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return AUTO_ON_CPU if device == "cpu" else AUTO_ON_GPU


def embed_texts(texts: Sequence[str], encoder: str, device: str, cache_dir: str | None,
                progress: Progress = no_progress, layers: tuple[str, ...] = LAST_LAYER) -> tuple[Any, int]:
    """(sentence embeddings of `texts` from the encoder's `layers`, how many had to be embedded): from the
    project's cache in `cache_dir` where a text was embedded before alike (None: embed every text)."""
    embedder = shared_embedder(encoder, device)

    def embed(batch, batch_progress):
        return embedder.embed(batch, batch_progress, layers=layers)
    if cache_dir:
        key = f"{embedder.path}|{embedder.max_length}" + ("" if tuple(layers) == LAST_LAYER else f"|{'+'.join(layers)}")
        return cached_embeddings(embed, list(texts), cache_dir, key, progress)
    return embed(texts, progress), len(texts)


class TextClassificationAdapter(ClassificationAdapter):
    name = "text-classification"
    description = "single-choice <Choices> on a <Text>, <HyperText> or <Paragraphs>"
    object_tag = TEXT_OBJECT_TAGS

    def __init__(self, label_config: str, *, mode: str = AUTO_MODE, encoder: str | None = None,
                 epochs: int = 2, batch_size: int = 32, learning_rate: float = 1e-4, regularization: float = 1.0,
                 tfidf_regularization: float = 4.0, device: str = "auto", seed: int = 0,
                 feature_cache_dir: str | None = None, embedding_layers: Sequence[str] = LAST_AND_MIDDLE):
        super().__init__(label_config)
        if mode not in MODES + (AUTO_MODE,):
            raise ValueError(f"text classification mode (RELABEL_TEXT_MODE) must be one of {(AUTO_MODE,) + MODES}, "
                             f"got {mode!r}")
        self._mode = mode
        self.encoder = encoder or DEFAULT_ENCODER
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.tfidf_regularization = tfidf_regularization
        self.device = device
        self.seed = seed
        # the encoder's layers whose mean-pooled states the heads read, the last layer's first (the middle one's
        # beside it: detection F1 up in 13 of 14 noise settings, -0.008 in one, AUPRC never lower; RESULTS.md 28)
        self.embedding_layers = tuple(embedding_layers)
        # where the backend's training keeps this project's embeddings (adapters.models.embedding_cache);
        # None (/predict, benchmarks): embed every time
        self.feature_cache_dir = feature_cache_dir
        #: how many texts the last featurize had to embed (the others came from the cache)
        self.texts_embedded_: int | None = None

    @property
    def mode(self) -> str:
        """The mode this adapter trains and loads, "auto" resolved for its device (a saved model names it).
        Resolved on first use, not when the adapter is built: asking torch for a GPU imports it (seconds), and
        Label Studio's check of the backend (/setup, which builds an adapter) gives up after a few."""
        if self._mode == AUTO_MODE:
            self._mode = mode_for_device(AUTO_MODE, self.device)
        return self._mode

    def settings(self) -> dict:
        settings = {"mode": self.mode, "encoder": self.encoder, "seed": self.seed}
        if self.mode != "finetune":
            settings.update(embedding_layers="+".join(self.embedding_layers))
        if self.mode in ("finetune", "finetune_ensemble"):
            settings.update(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate)
        if self.mode != "finetune":
            settings.update(regularization=self.regularization)
        if self.mode in ("ensemble", "finetune_ensemble"):
            settings.update(tfidf_regularization=self.tfidf_regularization)
        return settings

    def second_pass_for(self, n_labeled: int) -> bool:
        """The fast mode's default: a second pass without the suspect labels, up to SECOND_PASS_MOST_TASKS
        (benchmarks/RESULTS.md 23: better F1 in 11 of 14 noise settings, at most 0.010 worse in the others). The fine-tuned
        modes are not benchmarked with it (it would double their longest step)."""
        return self.mode == "ensemble" and n_labeled <= SECOND_PASS_MOST_TASKS

    def read_input(self, task_id: Any, value: Any) -> str:
        return object_text(task_id, self.data_key, self.object_type, self.object_attributes, value)

    def task_text(self, task: dict) -> str:
        return text_or_empty(self, task)

    def featurize(self, inputs: Sequence[str], progress: Progress = no_progress) -> Any:
        if self.mode == "finetune":
            return list(inputs)
        embeddings, self.texts_embedded_ = embed_texts(inputs, self.encoder, self.device, self.feature_cache_dir,
                                                       progress, self.embedding_layers)
        return embeddings if self.mode == "embedding" else TextFeatures(list(inputs), embeddings)

    def similarity_vectors(self, features: Any) -> Any:
        """The encoder's sentence embeddings, its last layer's (the fine-tuned mode embeds nothing: None)."""
        embeddings = features.embeddings if isinstance(features, TextFeatures) else \
            features if self.mode == "embedding" else None
        if embeddings is None:
            return None
        return last_layer_vectors(embeddings, self.embedding_layers)

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
            json.dump({"mode": self.mode, "encoder": self.encoder, "classes": self.classes,
                       "embedding_layers": list(self.embedding_layers)}, file)
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
        # (a model saved before 2026-12-07 names no layers: the last alone)
        problem = layers_problem(saved.get("embedding_layers", LAST_LAYER), self.embedding_layers)
        if saved["mode"] != "finetune" and problem:
            raise ValueError(f"model in {directory}: {problem}: train a new model")
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
