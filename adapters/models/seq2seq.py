"""A sequence-to-sequence text generator: fit(inputs, targets) / predict(inputs) -> texts.

The default model (`generation_model=""`) is built here, untrained, so it works offline and learns
a project's own rewrite (normalising dates, codes, short answers) from the project's pairs alone:
a small BART encoder-decoder over bytes (ByT5's byte tokenizer needs no vocabulary file). Any
Hugging Face seq2seq model name or local directory (T5, BART, ...) may be named instead, and is
fine-tuned.

Why BART and not T5 for the untrained default: measured on the date benchmark (400 pairs, 1,200
steps, same width and depth), a small T5 learned its training pairs by heart (98% exact) yet got
13% of held-out dates right, while BART got 92-94%. T5 has no absolute positions (only relative
biases in self-attention), so its decoder cannot simply say "the third byte of the year comes
next"; BART's learned absolute positions let it copy by position, which is what a rewrite of short
texts is mostly made of. See benchmarks/RESULTS.md section 9.
"""
from __future__ import annotations

import json
import math
import os
import threading
from typing import Sequence

from relabel.adapters.models.text_encoders import _batches, quiet_transformers, resolve_device
from relabel.adapters.models.optimizers import adamw
from relabel.adapters.models.torch_threads import torch_threads

#: "" means the untrained byte-level BART described by DEFAULT_ARCHITECTURE
DEFAULT_GENERATION_MODEL = ""
#: The default model's size (a transformers BartConfig), measured on the date benchmark's pairs:
#: width 192 did no better than 128 (0.88 against 0.89 held-out exact match after 600 steps), and
#: feed-forward layers of 256 learned as well as 512 (0.92 against 0.91 after 700 steps) in a
#: fifth less time. Smaller models were only tried at learning rates that collapse.
DEFAULT_ARCHITECTURE = {"d_model": 128, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
                        "decoder_attention_heads": 4, "encoder_ffn_dim": 256, "decoder_ffn_dim": 256,
                        "dropout": 0.1, "max_position_embeddings": 1024}
#: Peak learning rates. The untrained default learned dates at 1e-3 and collapsed into one constant
#: output at 2e-3 and above in most runs, gradient clipping or not; a pretrained model is only nudged.
SCRATCH_LEARNING_RATE = 1e-3
FINETUNE_LEARNING_RATE = 3e-4
#: share of the optimizer steps over which the learning rate climbs to its peak
WARMUP_SHARE = 0.1
#: gradients are scaled down to this norm at most: one bad batch cannot throw the model off course
MAX_GRADIENT_NORM = 1.0
SETTINGS_FILE = "seq2seq_generator.json"


def byte_tokenizer():
    """ByT5's byte tokenizer without sentinel tokens: pad (0), eos (1), unk (2) and the 256 bytes."""
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer(extra_ids=0)


def new_byte_bart(tokenizer, architecture: dict | None = None):
    """An untrained BartForConditionalGeneration sized by `architecture` (DEFAULT_ARCHITECTURE) for `tokenizer`.

    Decoding starts from the pad token (as T5 does) and stops at the tokenizer's end token; BART's
    own special-token defaults (bos 0, pad 1, eos 2, a forced end token) would not fit these ids.
    """
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=None,
                        **(architecture or DEFAULT_ARCHITECTURE))
    return BartForConditionalGeneration(config)


def generation_budget(target_lengths: Sequence[int], limit: int) -> int:
    """Most tokens to generate: 1.5 times the longest training target (in tokens) plus 8, at most `limit`.

    Room for an item whose answer is longer than any seen, without letting a model that never
    emits its end token run on for long.
    """
    return min(limit, int(math.ceil(1.5 * max(target_lengths, default=0))) + 8)


def learning_rate_factor(step: int, steps: int, warmup_share: float = WARMUP_SHARE) -> float:
    """Multiplier of the peak learning rate at `step` (0-based) of `steps`: linear warm-up, then linear decay to 0."""
    warmup = max(1, int(warmup_share * steps))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (steps - step) / max(1, steps - warmup))


def training_epochs(n_pairs: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """Passes over `n_pairs` pairs: `epochs`, or more when that many batches make fewer than `min_steps` steps.

    A few dozen pairs need many passes to learn anything; a large set learns in `epochs`.
    """
    batches_per_epoch = -(-n_pairs // batch_size)
    return max(epochs, -(-min_steps // batches_per_epoch))


class Seq2SeqGenerator:
    """Learns to rewrite texts from (input, target) pairs; predicts by greedy decoding.

    `generation_model`: "" for the untrained byte-level BART (DEFAULT_ARCHITECTURE), else a Hugging
    Face seq2seq model name or directory to fine-tune. Training runs `epochs` passes, or more on a
    small data set so that it takes at least `min_steps` optimizer steps (`training_epochs`); AdamW
    with linear warm-up and decay, batches in a seeded order, each padded to its own longest text.
    Texts longer than `max_length` tokens (bytes, for the default model) are cut. `learning_rate`
    None: SCRATCH_LEARNING_RATE for the default model, FINETUNE_LEARNING_RATE for a pretrained one.
    Seeded: the same pairs give the same model on the same machine. `predict` returns one stripped
    text per input, at most `generation_budget` tokens long. `threads`: torch CPU threads while
    fitting and predicting (None: the CPUs this process may use, see `torch_threads`).
    """

    def __init__(self, generation_model: str = DEFAULT_GENERATION_MODEL, epochs: int = 10, batch_size: int = 32,
                 learning_rate: float | None = None, min_steps: int = 700, max_length: int = 512,
                 device: str = "auto", seed: int = 0, threads: int | None = None):
        self.generation_model = generation_model or DEFAULT_GENERATION_MODEL
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_steps = min_steps
        self.max_length = max_length
        self.device = device
        self.seed = seed
        self.threads = threads

    def peak_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return SCRATCH_LEARNING_RATE if self.generation_model == DEFAULT_GENERATION_MODEL else FINETUNE_LEARNING_RATE

    def _load(self, path: str) -> None:
        """Tokenizer and model from `path` ("" builds the untrained default), on the device."""
        self.device_ = resolve_device(self.device)
        if path == DEFAULT_GENERATION_MODEL:
            self.tokenizer_ = byte_tokenizer()
            self.model_ = new_byte_bart(self.tokenizer_)
        else:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            self.tokenizer_ = AutoTokenizer.from_pretrained(path)
            with quiet_transformers():
                self.model_ = AutoModelForSeq2SeqLM.from_pretrained(path)
        self.model_.to(self.device_)
        # The backend predicts from several request threads; a fast tokenizer is not thread-safe.
        self.predict_lock_ = threading.Lock()

    def _encode(self, texts: Sequence[str]):
        return self.tokenizer_(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")

    def fit(self, inputs: Sequence[str], targets: Sequence[str]) -> "Seq2SeqGenerator":
        inputs, targets = list(inputs), list(targets)
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        if not inputs:
            raise ValueError("nothing to learn from: no (input, target) pairs")
        with torch_threads(self.threads):
            self._train(inputs, targets)
        return self

    def _train(self, inputs: list[str], targets: list[str]) -> None:
        import torch

        torch.manual_seed(self.seed)  # the untrained model's weights, and dropout
        self._load(self.generation_model)
        target_lengths = [len(ids) for ids in self.tokenizer_(targets, truncation=True,
                                                              max_length=self.max_length)["input_ids"]]
        self.max_new_tokens_ = generation_budget(target_lengths, self.max_length)
        epochs = training_epochs(len(inputs), self.batch_size, self.epochs, self.min_steps)
        steps = epochs * -(-len(inputs) // self.batch_size)
        optimizer = adamw(self.model_.parameters(), self.peak_learning_rate(), self.device_)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, steps))
        order = torch.Generator().manual_seed(self.seed)
        self.model_.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(inputs), generator=order).split(self.batch_size):
                encoded = self._encode([inputs[i] for i in batch]).to(self.device_)
                labels = self._encode([targets[i] for i in batch])["input_ids"]
                labels[labels == self.tokenizer_.pad_token_id] = -100  # padding is not to be learned
                loss = self.model_(**encoded, labels=labels.to(self.device_)).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model_.parameters(), MAX_GRADIENT_NORM)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
        self.model_.eval()

    def predict(self, inputs: Sequence[str]) -> list[str]:
        import torch

        texts = list(inputs)
        outputs = [""] * len(texts)
        # Texts of similar length share a batch, so little of a batch is padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self.predict_lock_, torch_threads(self.threads), torch.inference_mode():
            for _, batch in _batches(order, 64):
                encoded = self._encode([texts[i] for i in batch]).to(self.device_)
                generated = self.model_.generate(**encoded, max_new_tokens=self.max_new_tokens_, num_beams=1,
                                                 do_sample=False)
                for index, text in zip(batch, self.tokenizer_.batch_decode(generated, skip_special_tokens=True)):
                    outputs[index] = text.strip()
        return outputs

    def save(self, directory: str) -> None:
        self.model_.save_pretrained(directory)
        self.tokenizer_.save_pretrained(directory)
        with open(os.path.join(directory, SETTINGS_FILE), "w") as file:
            json.dump({"generation_model": self.generation_model, "max_new_tokens": self.max_new_tokens_,
                       "max_length": self.max_length}, file)

    @classmethod
    def load(cls, directory: str, device: str = "auto") -> "Seq2SeqGenerator":
        with open(os.path.join(directory, SETTINGS_FILE)) as file:
            saved = json.load(file)
        model = cls(saved["generation_model"], max_length=saved["max_length"], device=device)
        model._load(directory)  # a saved default model loads like any pretrained one
        model.max_new_tokens_ = saved["max_new_tokens"]
        model.model_.eval()
        return model
