"""The click model of the CTR adapter: a factorization machine over encoded click-log rows.

A row is a dict {field name: scalar} (text, number, true/false, or None for a missing value).
`fit_field_encoding` decides from the rows at hand how each field is encoded: a field whose present
values are all numbers (not booleans) with more than NUMERIC_MIN_DISTINCT distinct values is numeric
(standardized; missing -> 0, the mean), every other field is categorical (a vocabulary of the values
seen; index 0 = unknown or missing). `encode_rows` applies an encoding, so a model re-encodes rows it
is asked to predict with the encoding it was trained with: indices of a vocabulary built on other
rows would point at other values.

`ClickModel` predicts P(click | row) = sigmoid(bias + the rows' linear weights + the pairwise
interactions of their factor vectors) (Rendle's factorization machine), trained with binary
cross-entropy and Adam (L2 weight decay). It draws every random number from its own seeded
generator, so equal data and settings give equal models (on CPU), without touching torch's global
seed. Its defaults were chosen on MovieLens samples of 5,000 and 20,000 rows and on generated
user x item interactions of 750 and 2,500 rows (held-out AUC and log-loss).

`dev_metrics_with_and_without` asks whether dropping some rows from training helps a held-out set.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from relabel.adapters.data.folds import take
from relabel.adapters.models.torch_threads import torch_threads

#: a numeric-looking field with at most this many distinct values is categorical (codes, ratings, flags)
NUMERIC_MIN_DISTINCT = 20
WEIGHTS_FILE = "click_model.pt"
SETTINGS_FILE = "click_model.json"
PREDICT_BATCH = 8192


def is_number(value: Any) -> bool:
    """True for int and float values; booleans are categories, not numbers."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def value_key(value: Any) -> tuple[str, Any]:
    """A vocabulary key: equal for equal values, but True, 1 and "1" stay three different values."""
    if isinstance(value, bool):
        return ("bool", value)
    if is_number(value):
        return ("number", value)  # 1 and 1.0 are equal keys; large integer ids keep every digit
    return ("text", str(value))


@dataclass
class FieldEncoding:
    """How rows become model inputs: categorical fields with their vocabularies, numeric ones with
    their mean and scale. Vocabulary i maps value_key(value) -> index 1..len; 0 is unknown/missing."""

    categorical: list[str]
    vocabularies: list[dict]
    numeric: list[str]
    means: list[float]
    scales: list[float]

    def sizes(self) -> list[int]:
        """Number of indices of each categorical field (its vocabulary plus unknown)."""
        return [len(vocabulary) + 1 for vocabulary in self.vocabularies]

    def to_json(self) -> dict:
        return {"categorical": self.categorical, "numeric": self.numeric, "means": self.means, "scales": self.scales,
                "vocabularies": [[list(key) for key in vocabulary] for vocabulary in self.vocabularies]}

    @classmethod
    def from_json(cls, data: dict) -> "FieldEncoding":
        vocabularies = [{tuple(key): index for index, key in enumerate(keys, start=1)} for keys in data["vocabularies"]]
        return cls(list(data["categorical"]), vocabularies, list(data["numeric"]), [float(m) for m in data["means"]],
                   [float(s) for s in data["scales"]])


def fit_field_encoding(rows: Sequence[dict], categorical_fields: Sequence[str] = ()) -> FieldEncoding:
    """The encoding of every field present in `rows` (fields in order of first appearance); the
    `categorical_fields` are categorical whatever their values (ids stored as numbers)."""
    values: dict[str, list] = {}
    for row in rows:
        for field_name, value in row.items():
            values.setdefault(field_name, [])
            if value is not None:
                values[field_name].append(value)
    encoding = FieldEncoding([], [], [], [], [])
    for field_name, present in values.items():
        if field_name not in categorical_fields and present and all(is_number(v) for v in present) \
                and len(set(present)) > NUMERIC_MIN_DISTINCT:
            numbers = np.asarray(present, dtype=float)
            numbers = numbers[np.isfinite(numbers)] if np.isfinite(numbers).any() else np.zeros(1)
            encoding.numeric.append(field_name)
            encoding.means.append(float(numbers.mean()))
            encoding.scales.append(float(numbers.std()) or 1.0)
        else:
            vocabulary: dict = {}
            for value in present:
                vocabulary.setdefault(value_key(value), len(vocabulary) + 1)
            encoding.categorical.append(field_name)
            encoding.vocabularies.append(vocabulary)
    return encoding


@dataclass
class ClickFeatures:
    """Rows and their encoded arrays, row-aligned: `categorical` (n, C) int64 vocabulary indices,
    `numeric` (n, N) float32 standardized values. `take` selects rows of all three."""

    rows: list[dict]
    encoding: FieldEncoding
    categorical: np.ndarray
    numeric: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, indices: Sequence[int]) -> "ClickFeatures":
        indices = np.asarray(indices, dtype=int)
        return ClickFeatures([self.rows[i] for i in indices], self.encoding, self.categorical[indices],
                             self.numeric[indices])

    def encoded_with(self, encoding: FieldEncoding) -> "ClickFeatures":
        """The same rows under another encoding (a model's own); self when it is the same one."""
        if encoding is self.encoding or encoding == self.encoding:
            return self
        return encode_rows(self.rows, encoding)

    def segments(self) -> list[dict]:
        """Each row's raw value of every categorical field (None where missing)."""
        return [{field_name: row.get(field_name) for field_name in self.encoding.categorical} for row in self.rows]


def encode_rows(rows: Sequence[dict], encoding: FieldEncoding) -> ClickFeatures:
    """`rows` as model inputs under `encoding`; unknown values get index 0, missing or non-numeric
    values of a numeric field get 0 (the mean)."""
    rows = list(rows)
    categorical = np.zeros((len(rows), len(encoding.categorical)), dtype=np.int64)
    numeric = np.zeros((len(rows), len(encoding.numeric)), dtype=np.float32)
    for column, (field_name, vocabulary) in enumerate(zip(encoding.categorical, encoding.vocabularies)):
        categorical[:, column] = [0 if row.get(field_name) is None else vocabulary.get(value_key(row[field_name]), 0)
                                  for row in rows]
    for column, (field_name, mean, scale) in enumerate(zip(encoding.numeric, encoding.means, encoding.scales)):
        raw = [row.get(field_name) for row in rows]
        numeric[:, column] = [(float(v) - mean) / scale if is_number(v) and math.isfinite(v) else 0.0 for v in raw]
    return ClickFeatures(rows, encoding, categorical, numeric)


def featurize_rows(rows: Sequence[dict], categorical_fields: Sequence[str] = ()) -> ClickFeatures:
    """Rows encoded with the encoding fitted on themselves."""
    return encode_rows(rows, fit_field_encoding(rows, categorical_fields))


def _new_parameters(sizes: Sequence[int], n_numeric: int, dimensions: int, generator: Any):
    """The factorization machine's parameters: one row of weights per field value (all categorical
    fields share one table, each field at its own offset) and one per numeric field."""
    import torch

    n_values = int(sum(sizes))
    factor_scale = 0.01
    return torch.nn.ParameterDict({
        "bias": torch.nn.Parameter(torch.zeros(1)),
        "value_weights": torch.nn.Parameter(torch.zeros(n_values)),
        "value_factors": torch.nn.Parameter(torch.randn(n_values, dimensions, generator=generator) * factor_scale),
        "numeric_weights": torch.nn.Parameter(torch.zeros(n_numeric)),
        "numeric_factors": torch.nn.Parameter(torch.randn(n_numeric, dimensions, generator=generator) * factor_scale),
    })


def _logits(parameters: Any, value_ids: Any, numeric: Any) -> Any:
    """Click logits (n,) of rows given as global value indices (n, C) and numeric values (n, N)."""
    import torch

    linear = (parameters["bias"] + parameters["value_weights"][value_ids].sum(1)
              + numeric @ parameters["numeric_weights"])
    vectors = torch.cat([parameters["value_factors"][value_ids],
                         numeric.unsqueeze(2) * parameters["numeric_factors"].unsqueeze(0)], dim=1)
    # sum over pairs i<j of <v_i, v_j> = ((sum v)^2 - sum v^2) / 2, in O(fields) instead of O(fields^2)
    interactions = 0.5 * (vectors.sum(1).pow(2) - vectors.pow(2).sum(1)).sum(1)
    return linear + interactions


class ClickModel:
    """A factorization machine predicting click probabilities of ClickFeatures rows.

    `fit(features, targets)`: targets are 0/1 (no click / click), one per row. `predict(features)`
    returns click probabilities, shape (n,); rows are re-encoded with the encoding seen in `fit` when
    they come with another. On CUDA, embedding gradients are summed in a non-deterministic order, so
    exact repeatability holds on CPU only. `threads` defaults to 1: the matrices are small, so threads
    mostly wait on each other (on 2 shared cores a fit on 2 threads took 9-20 times as long).
    """

    def __init__(self, dimensions: int = 8, epochs: int = 10, min_steps: int = 150, batch_size: int = 256,
                 learning_rate: float = 0.01, weight_decay: float = 2e-3, device: str = "auto", threads: int = 1,
                 seed: int = 0):
        self.dimensions = dimensions
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.device = device
        self.threads = threads
        self.seed = seed

    def hyper_parameters(self) -> dict:
        """What changes what the model learns (device and threads do not)."""
        return {"dimensions": self.dimensions, "epochs": self.epochs, "min_steps": self.min_steps,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay, "seed": self.seed}

    def epochs_for(self, n_rows: int) -> int:
        """`epochs`, or more when a small training set would give fewer than `min_steps` optimizer steps."""
        batches = max(1, math.ceil(n_rows / self.batch_size))
        return max(self.epochs, math.ceil(self.min_steps / batches))

    def _tensors(self, features: ClickFeatures) -> tuple[Any, Any]:
        import torch

        offsets = np.concatenate([[0], np.cumsum(self.encoding_.sizes())[:-1]]).astype(np.int64)
        features = features.encoded_with(self.encoding_)
        value_ids = torch.from_numpy(features.categorical + offsets[None, :]).to(self.device_)
        return value_ids, torch.from_numpy(features.numeric).to(self.device_)

    def fit(self, features: ClickFeatures, targets: Sequence[int]) -> "ClickModel":
        import torch

        from relabel.adapters.models.text_encoders import resolve_device

        labels = np.asarray(targets, dtype=np.float32)
        if labels.shape != (len(features),):
            raise ValueError(f"{len(features)} rows but targets of shape {labels.shape}")
        self.device_ = resolve_device(self.device)
        self.encoding_ = features.encoding
        generator = torch.Generator().manual_seed(self.seed)
        with torch_threads(self.threads):
            self.parameters_ = _new_parameters(self.encoding_.sizes(), len(self.encoding_.numeric), self.dimensions,
                                               generator).to(self.device_)
            # Start from the base rate, so the first epochs learn the rows' effects rather than the average.
            click_rate = float(np.clip(labels.mean(), 1e-3, 1 - 1e-3)) if len(labels) else 0.5
            with torch.no_grad():
                self.parameters_["bias"].fill_(math.log(click_rate / (1 - click_rate)))
            value_ids, numeric = self._tensors(features)
            y = torch.from_numpy(labels).to(self.device_)
            optimizer = torch.optim.Adam(self.parameters_.parameters(), lr=self.learning_rate,
                                         weight_decay=self.weight_decay)
            loss_function = torch.nn.BCEWithLogitsLoss()
            for _ in range(self.epochs_for(len(labels))):
                for batch in torch.randperm(len(labels), generator=generator).to(self.device_).split(self.batch_size):
                    loss = loss_function(_logits(self.parameters_, value_ids[batch], numeric[batch]), y[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        return self

    def predict(self, features: ClickFeatures) -> np.ndarray:
        import torch

        if not hasattr(self, "parameters_"):
            raise RuntimeError("ClickModel.predict called before fit (or load)")
        probabilities = []
        with torch_threads(self.threads), torch.inference_mode():
            value_ids, numeric = self._tensors(features)
            for start in range(0, len(features), PREDICT_BATCH):
                logits = _logits(self.parameters_, value_ids[start:start + PREDICT_BATCH],
                                 numeric[start:start + PREDICT_BATCH])
                probabilities.append(torch.sigmoid(logits).double().cpu().numpy())
        return np.concatenate(probabilities) if probabilities else np.zeros(0)

    def save(self, directory: str) -> None:
        """Weights as a torch state dict of tensors, the encoding and hyper-parameters as JSON."""
        import torch

        torch.save({name: tensor.detach().cpu() for name, tensor in self.parameters_.state_dict().items()},
                   os.path.join(directory, WEIGHTS_FILE))
        with open(os.path.join(directory, SETTINGS_FILE), "w") as file:
            json.dump({"hyper_parameters": self.hyper_parameters(), "encoding": self.encoding_.to_json()}, file)

    @classmethod
    def load(cls, directory: str, device: str = "auto", threads: int | None = 1) -> "ClickModel":
        import torch

        from relabel.adapters.models.text_encoders import resolve_device

        with open(os.path.join(directory, SETTINGS_FILE)) as file:
            saved = json.load(file)
        model = cls(**saved["hyper_parameters"], device=device, threads=threads)
        model.device_ = resolve_device(device)
        model.encoding_ = FieldEncoding.from_json(saved["encoding"])
        # weights_only: the file holds tensors and nothing else, so nothing in it is executed
        state = torch.load(os.path.join(directory, WEIGHTS_FILE), map_location="cpu", weights_only=True)
        model.parameters_ = _new_parameters(model.encoding_.sizes(), len(model.encoding_.numeric), model.dimensions,
                                            torch.Generator())
        model.parameters_.load_state_dict(state)
        model.parameters_.to(model.device_)
        return model


DEV_SOURCES = ("kept", "all")


def dev_metrics_with_and_without(new_model: Callable[[], Any], features: Any, targets: Sequence[int],
                                 dropped_mask: np.ndarray, dev_fraction: float = 0.2, seed: int = 0,
                                 dev_from: str = "kept") -> dict:
    """Does dropping the flagged rows help? Dev AUC and log-loss of a model trained with and without them.

    `dev_from` "kept": the rows not dropped are split (stratified by label, seeded) into train and
    dev (`dev_fraction` of them); one model is fitted on train plus the dropped rows
    ("with_dropped"), one on train alone ("without_dropped"), and both predict dev. Such a dev set
    holds only rows the flag rule found plausible, which favours the model trained without the
    others. "all": dev is drawn from all rows, dropped ones included, and the dropped rows outside
    dev are what the two models differ by. It is biased less, but still towards dropping: the flags
    came from out-of-fold models that learned from the dev rows' labels too. Only a dev set held
    out before flagging is unbiased (benchmarks/RESULTS.md section 8 measures both biases).
    `new_model()` returns an unfitted model whose `predict` gives click probabilities, shape (n,).
    AUC is NaN when dev holds one class only.
    """
    from sklearn.metrics import log_loss, roc_auc_score

    targets = np.asarray(targets, dtype=int)
    dropped = np.asarray(dropped_mask, dtype=bool)
    if dropped.shape != targets.shape:
        raise ValueError(f"dropped_mask {dropped.shape} and targets {targets.shape} differ")
    if dev_from not in DEV_SOURCES:
        raise ValueError(f"dev_from must be one of {DEV_SOURCES}, got {dev_from!r}")
    candidates = ~dropped if dev_from == "kept" else np.ones(len(targets), dtype=bool)
    rng = np.random.default_rng(seed)
    dev = []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(candidates & (targets == label)))
        dev.extend(members[:int(round(dev_fraction * len(members)))])
    dev = np.sort(np.asarray(dev, dtype=int))
    with_dropped = np.setdiff1d(np.arange(len(targets)), dev)
    without_dropped = with_dropped[~dropped[with_dropped]]
    if not len(dev) or not len(without_dropped):
        raise ValueError(f"{int(candidates.sum())} rows cannot be split into train and a dev share of {dev_fraction}")

    def evaluate(rows: np.ndarray) -> dict:
        model = new_model().fit(take(features, rows), targets[rows])
        probabilities = np.clip(np.asarray(model.predict(take(features, dev)), dtype=float), 1e-7, 1 - 1e-7)
        auc = roc_auc_score(targets[dev], probabilities) if len(set(targets[dev])) == 2 else float("nan")
        return {"auc": float(auc), "log_loss": float(log_loss(targets[dev], probabilities, labels=[0, 1])),
                "train_rows": int(len(rows))}

    return {"dev_rows": int(len(dev)), "dropped_rows": int(dropped.sum()), "dev_from": dev_from,
            "with_dropped": evaluate(with_dropped), "without_dropped": evaluate(without_dropped)}
