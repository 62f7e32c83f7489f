"""The real text models on tiny data: the packaged encoder, and one fine-tuning epoch."""
from __future__ import annotations

import subprocess
import threading
import time
import sys
from pathlib import Path

import numpy as np
import pytest

from relabel.adapters import adapter_for_config
from relabel.adapters.models.text_classifiers import EmbeddingTfidfEnsemble, FineTunedWithEnsemble
from relabel.adapters.models.text_encoders import FineTunedTextClassifier, TextEmbedder
from relabel.demo.data import LABEL_CONFIG, make_dataset


def test_packaged_encoder_embeds_offline_and_puts_topics_apart():
    embedder = TextEmbedder()
    vectors = embedder.embed(["The striker scored a goal.", "The goalkeeper saved a penalty.",
                              "Heavy rain is expected tomorrow."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_the_middle_layer_joins_the_last_as_a_second_normalised_block():
    embedder = TextEmbedder()
    texts = ["The striker scored a goal.", "Heavy rain is expected tomorrow.", "What is the capital of Peru?"] * 4
    last = embedder.embed(texts)
    both = embedder.embed(texts, layers=("last", "middle"))
    assert both.shape == (12, 768) and np.allclose(both[:, :384], last, atol=1e-5)  # the last layer's first
    assert np.allclose(np.linalg.norm(both[:, 384:], axis=1), 1, atol=1e-5)
    assert not np.allclose(both[:, 384:], last, atol=0.05)  # another layer's vectors
    assert np.allclose(embedder.embed(texts[:1], layers=("last", "middle")), both[:1], atol=1e-5)  # a few: alike
    with pytest.raises(ValueError, match="unknown encoder layer 'first'"):
        embedder.embed(texts, layers=("last", "first"))


def test_a_head_trained_on_the_last_layer_alone_still_predicts_and_a_narrower_backend_is_refused(tmp_path):
    rows = make_dataset(n_items=40, noise_rate=0.0, seed=5)
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    before = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": "ensemble",
                                                                         "embedding_layers": ["last"]}})
    now = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": "ensemble"}})
    assert now.embedding_layers == ("last", "middle") and now.settings() != before.settings()  # a new version
    old_model = before.new_model().fit(before.featurize(texts), labels)
    before.save_model(old_model, str(tmp_path))
    loaded = now.load_model(str(tmp_path))  # a model stored before the middle layer joined: /predict goes on
    assert np.allclose(loaded.predict(now.featurize(texts)), old_model.predict(before.featurize(texts)), atol=1e-6)
    assert np.shape(now.similarity_vectors(now.featurize(texts))) == (40, 384)  # the last layer's, as before

    now.save_model(now.new_model().fit(now.featurize(texts), labels), str(tmp_path))
    with pytest.raises(ValueError, match=r"reads the encoder layers last\+middle, but the backend embeds last"):
        before.load_model(str(tmp_path))


HEADS_CONFIGS = {  # the task types whose models are heads over the text features (adapters/tasks/text_heads.py)
    "multi-label tags": ('<View><Text name="text" value="$text"/><Choices name="tags" toName="text" choice="multiple">'
                         '<Choice value="sports"/><Choice value="weather"/></Choices></View>'),
    "numbers": '<View><Text name="text" value="$text"/><Number name="score" toName="text" min="0" max="10"/></View>',
}


@pytest.mark.parametrize("kind", HEADS_CONFIGS)
def test_text_heads_read_two_layers_and_a_model_of_the_last_layer_alone_still_predicts(tmp_path, kind):
    rows = make_dataset(n_items=40, noise_rate=0.0, seed=5)
    texts = [r["text"] for r in rows]
    targets = ([[r["label"]] if r["label"] in ("sports", "weather") else [] for r in rows] if kind == "multi-label tags"
               else [float(len(r["text"]) % 11) for r in rows])
    config = HEADS_CONFIGS[kind]
    now = adapter_for_config(config, {})
    before = adapter_for_config(config, {now.name: {"embedding_layers": ["last"]}})
    assert now.embedding_layers == ("last", "middle") and now.settings() != before.settings()  # a new version
    features_now, features_before = now.featurize(texts), before.featurize(texts)
    assert np.shape(features_now.embeddings) == (40, 768)
    assert np.shape(now.similarity_vectors(features_now)) == (40, 384)  # the last layer's, as before
    old_model = before.new_model().fit(features_before, targets)
    before.save_model(old_model, str(tmp_path))
    loaded = now.load_model(str(tmp_path))  # a model stored before the middle layer joined: /predict goes on
    assert np.allclose(loaded.predict(features_now), old_model.predict(features_before), atol=1e-6)

    now.save_model(now.new_model().fit(features_now, targets), str(tmp_path))
    with pytest.raises(ValueError, match=r"reads the encoder layers last\+middle, but the backend embeds last"):
        before.load_model(str(tmp_path))


def test_texts_embedded_by_length_come_back_in_their_own_order():
    embedder = TextEmbedder(batch_size=4)
    texts = [f"{'a very long and winding sentence about the weather ' * (i % 5)}question number {i}?"
             for i in range(23)]
    vectors = embedder.embed(texts)
    alone = np.vstack([embedder.embed([text]) for text in texts])  # a few texts: embedded as they come
    assert vectors.shape == (23, 384) and np.allclose(vectors, alone, atol=1e-5)


@pytest.mark.parametrize("mode", ["ensemble", "embedding"])
def test_fast_mode_models_round_trip_through_the_store(tmp_path, mode):
    adapter = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": mode}})
    rows = make_dataset(n_items=40, noise_rate=0.0, seed=5)
    features = adapter.featurize([r["text"] for r in rows])
    model = adapter.new_model().fit(features, [r["label"] for r in rows])
    adapter.save_model(model, str(tmp_path))
    loaded = adapter.load_model(str(tmp_path))
    assert np.allclose(loaded.predict(features), model.predict(features))
    accuracy = np.mean([adapter.classes[i] == r["label"] for i, r in zip(model.predict(features).argmax(1), rows)])
    assert accuracy == 1.0


def test_finetune_mode_trains_and_reloads(tmp_path):
    rows = make_dataset(n_items=24, noise_rate=0.0, seed=6)
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    adapter = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": "finetune", "epochs": 1, "batch_size": 8}})
    model = adapter.new_model()
    assert isinstance(model, FineTunedTextClassifier)
    model.fit(adapter.featurize(texts), labels)
    probabilities = model.predict(texts)
    assert probabilities.shape == (24, 4) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    adapter.save_model(model, str(tmp_path))
    assert np.allclose(adapter.load_model(str(tmp_path)).predict(texts), probabilities, atol=1e-5)


def test_finetune_ensemble_mode_averages_both_models_and_reloads(tmp_path):
    rows = make_dataset(n_items=24, noise_rate=0.0, seed=7)
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    adapter = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": "finetune_ensemble", "epochs": 1,
                                                                   "batch_size": 8}})
    features = adapter.featurize(texts)
    model = adapter.new_model().fit(features, labels)
    assert isinstance(model, FineTunedWithEnsemble) and isinstance(model.ensemble, EmbeddingTfidfEnsemble)
    probabilities = model.predict(features)
    expected = (model.fine_tuned.predict(texts) + model.ensemble.predict(features)) / 2
    assert np.allclose(probabilities, expected, atol=1e-6)
    adapter.save_model(model, str(tmp_path))
    assert np.allclose(adapter.load_model(str(tmp_path)).predict(features), probabilities, atol=1e-5)


FIRST_REQUESTS_AT_ONCE = """
import threading
from relabel.adapters.models.text_encoders import shared_embedder
barrier, embedders, errors = threading.Barrier(8), [], []
def embed():
    barrier.wait()
    try:
        embedder = shared_embedder(None, "cpu")
        embedder.embed(["a text"])
        embedders.append(embedder)
    except Exception as error:
        errors.append(repr(error))
threads = [threading.Thread(target=embed) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(errors), len({id(e) for e in embedders}), errors[:1])
"""


def test_first_requests_at_once_in_a_fresh_process_share_one_encoder():
    # A fresh backend process (a new gunicorn worker) gets its first /predict calls together.
    answer = subprocess.run([sys.executable, "-c", FIRST_REQUESTS_AT_ONCE], capture_output=True, text=True,
                            timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert answer.stdout.split()[:2] == ["0", "1"], answer.stdout + answer.stderr[-2000:]


def _waiting_calls(embedder, count: int, texts_of, layers_of=lambda n: ("last",)) -> tuple[list, list, list[threading.Thread]]:
    """Start `count` small embed calls while the test holds the encoder; return once all are queued."""
    results, errors = [None] * count, [None] * count

    def call(number: int) -> None:
        try:
            results[number] = embedder.embed(texts_of(number), layers=layers_of(number))
        except Exception as error:  # noqa: BLE001 - the test inspects it
            errors[number] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(embedder._waiting) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(embedder._waiting) == count
    return results, errors, threads


def test_small_embed_calls_waiting_together_share_one_forward_pass_and_get_their_own_vectors():
    embedder = TextEmbedder()
    texts = [["goal in the last minute"], ["pasta with tomato sauce", "a new laptop chip"], ["rain tomorrow"]]
    alone = [embedder.embed(batch) for batch in texts]
    passes = []
    forward = embedder._forward
    embedder._forward = lambda batch, layers: passes.append(list(batch)) or forward(batch, layers)
    with embedder._lock:  # as a request already being embedded holds it
        results, errors, threads = _waiting_calls(embedder, len(texts), lambda n: texts[n])
    for thread in threads:
        thread.join(60)
    assert errors == [None] * len(texts)
    assert len(passes) == 1 and sorted(passes[0]) == sorted(t for batch in texts for t in batch)
    for got, expected in zip(results, alone):
        assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-5)


def test_waiting_calls_for_other_layers_get_their_own_layers_vectors():
    """Text classification embeds two layers, multi-label tags one, with the same shared encoder."""
    embedder = TextEmbedder()
    texts = [["goal in the last minute"], ["pasta with tomato sauce"], ["rain tomorrow"], ["a new laptop chip"]]
    layers = [("last",), ("last", "middle"), ("last",), ("last", "middle")]
    alone = [embedder.embed(batch, layers=wanted) for batch, wanted in zip(texts, layers)]
    with embedder._lock:
        results, errors, threads = _waiting_calls(embedder, len(texts), lambda n: texts[n], lambda n: layers[n])
    for thread in threads:
        thread.join(60)
    assert errors == [None] * len(texts) and embedder._waiting == []
    for got, expected in zip(results, alone):
        assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-5)


def test_a_failed_shared_forward_pass_fails_every_call_in_it_and_the_next_calls_work():
    embedder = TextEmbedder()
    forward = embedder._forward

    def failing(batch, layers):
        raise RuntimeError("out of memory")

    embedder._forward = failing
    with embedder._lock:
        results, errors, threads = _waiting_calls(embedder, 3, lambda n: [f"text {n}"])
    for thread in threads:
        thread.join(60)
    assert all(isinstance(error, RuntimeError) for error in errors) and results == [None] * 3
    embedder._forward = forward
    assert embedder.embed(["text 0"]).shape == (1, embedder.model.config.hidden_size)
    assert embedder._waiting == []
