"""A transformers encoder fine-tuned for token classification (NER tags per word).

Any Hugging Face model name or local directory works as the encoder (it needs a fast tokenizer, for
word alignment); the default is the packaged all-MiniLM-L6-v2, so nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Sequence

import numpy as np

from relabel.adapters.models.optimizers import adamw
from relabel.adapters.models.text_encoders import _batches_by_length, load_encoder_with_head, resolve_encoder

IGNORED = -100  # the label torch's cross-entropy skips: later sub-words of a word, special tokens
#: optimizer steps a training takes at least (small data sets get more passes than `epochs`)
MIN_STEPS = 100


def training_passes(n_sentences: int, epochs: int, batch_size: int, min_steps: int = MIN_STEPS) -> int:
    """Passes over the data a training of `n_sentences` makes: `epochs`, or more to reach `min_steps`."""
    batches_per_epoch = max(1, -(-n_sentences // batch_size))
    return max(epochs, -(-min_steps // batches_per_epoch))


class FineTunedTokenClassifier:
    """Predicts a tag per word: `fit(word_lists, tag_lists)`, `predict(word_lists)`.

    `word_lists` are sentences as lists of words; `tag_lists` int arrays of tag ids (0..len(tags)-1)
    of the same lengths. A word is tagged by its first sub-word. `predict` returns, per sentence, an
    array (n_words, len(tags)) of tag probabilities; words cut off by `max_length` get tag 0 (O)
    with probability 1. Training runs `epochs` passes, or more on a small data set, so that it takes
    at least `min_steps` optimizer steps (a few dozen sentences need many passes to learn anything).
    """

    def __init__(self, tags: Sequence[str], encoder: str | None = None, epochs: int = 3, batch_size: int = 16,
                 learning_rate: float = 1e-4, max_length: int = 256, min_steps: int = MIN_STEPS, device: str = "auto",
                 seed: int = 0):
        self.tags = list(tags)
        self.encoder = encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_length = max_length
        self.min_steps = min_steps
        self.device = device
        self.seed = seed

    def _load(self, path: str) -> None:
        self.device_, self.tokenizer_, self.model_ = load_encoder_with_head(
            path, "AutoModelForTokenClassification", self.device, num_labels=len(self.tags),
            id2label=dict(enumerate(self.tags)), label2id={t: i for i, t in enumerate(self.tags)})
        if not self.tokenizer_.is_fast:
            raise ValueError(f"encoder {path} has no fast tokenizer, which word alignment needs")
        # The backend predicts from several request threads; a fast tokenizer is not thread-safe.
        self.predict_lock_ = threading.Lock()

    def _encode(self, word_lists: Sequence[Sequence[str]]):
        return self.tokenizer_([list(words) for words in word_lists], is_split_into_words=True, truncation=True,
                               max_length=self.max_length, padding=True, return_tensors="pt")

    def _first_subwords(self, encoded, row: int) -> dict[int, int]:
        """word index -> position of its first sub-word in row `row` of an encoded batch."""
        first: dict[int, int] = {}
        for position, word in enumerate(encoded.word_ids(row)):
            if word is not None and word not in first:
                first[word] = position
        return first

    def fit(self, word_lists: Sequence[Sequence[str]], tag_lists: Sequence[np.ndarray]) -> "FineTunedTokenClassifier":
        import torch

        torch.manual_seed(self.seed)
        self._load(resolve_encoder(self.encoder))
        order = [i for i, words in enumerate(word_lists) if len(words)]
        optimizer = adamw(self.model_.parameters(), self.learning_rate, self.device_)
        batches_per_epoch = max(1, -(-len(order) // self.batch_size))
        epochs = training_passes(len(order), self.epochs, self.batch_size, self.min_steps)
        steps = epochs * batches_per_epoch
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / steps))
        generator = torch.Generator().manual_seed(self.seed)
        self.model_.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(order), generator=generator).split(self.batch_size):
                rows = [order[i] for i in batch]
                encoded = self._encode([word_lists[r] for r in rows])
                labels = torch.full(encoded["input_ids"].shape, IGNORED)
                for row, index in enumerate(rows):
                    for word, position in self._first_subwords(encoded, row).items():
                        labels[row, position] = int(tag_lists[index][word])
                loss = self.model_(**encoded.to(self.device_), labels=labels.to(self.device_)).loss
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
        self.model_.eval()
        return self

    def predict(self, word_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        import torch

        outputs: list = [None] * len(word_lists)
        with self.predict_lock_, torch.inference_mode():
            for positions, batch in _batches_by_length(list(word_lists), 64):
                if not any(len(words) for words in batch):
                    for position in positions:
                        outputs[position] = np.zeros((0, len(self.tags)))
                    continue
                encoded = self._encode([words if len(words) else [""] for words in batch])
                probabilities = torch.softmax(self.model_(**encoded.to(self.device_)).logits, dim=-1).cpu().numpy()
                for row, (position, words) in enumerate(zip(positions, batch)):
                    word_probs = np.zeros((len(words), len(self.tags)))
                    word_probs[:, 0] = 1.0
                    for word, subword in self._first_subwords(encoded, row).items():
                        if word < len(words):
                            word_probs[word] = probabilities[row, subword]
                    outputs[position] = word_probs
        return outputs

    def save(self, directory: str) -> None:
        self.model_.save_pretrained(directory)
        self.tokenizer_.save_pretrained(directory)
        with open(os.path.join(directory, "tags.json"), "w") as file:
            json.dump(self.tags, file)

    @classmethod
    def load(cls, directory: str, device: str = "auto") -> "FineTunedTokenClassifier":
        with open(os.path.join(directory, "tags.json")) as file:
            model = cls(json.load(file), encoder=directory, device=device)
        model._load(directory)
        model.model_.eval()
        return model
