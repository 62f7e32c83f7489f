"""The real token classifier on tiny data: it learns templated entities, reloads, and serves threads."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from relabel.adapters.tasks.ner import NerAdapter, TokenTagger
from relabel.adapters.models.token_classifier import FineTunedTokenClassifier
from tests.test_ner_round import NER_CONFIG, make_sentence


def test_token_tagger_learns_reloads_and_predicts_from_threads(tmp_path):
    rng = random.Random(11)
    sentences = [make_sentence(rng) for _ in range(40)]
    adapter = NerAdapter(NER_CONFIG)
    features = adapter.featurize([text for text, _ in sentences])
    model = TokenTagger(adapter.classes, FineTunedTokenClassifier(adapter.tags, epochs=1, min_steps=60))
    model.fit(features, [spans for _, spans in sentences])

    outputs = model.predict(features)
    predicted = [[list(s) for s in adapter.predicted_spans(o)] for o in outputs]
    exact = np.mean([p == spans for p, (_, spans) in zip(predicted, sentences)])
    assert exact >= 0.8, exact
    assert all(np.allclose(o.probabilities.sum(1), 1, atol=1e-5) for o in outputs)

    adapter.save_model(model, str(tmp_path))
    loaded = adapter.load_model(str(tmp_path))
    with ThreadPoolExecutor(4) as pool:  # the backend's request threads share one loaded model
        concurrent = list(pool.map(lambda f: loaded.predict([f])[0], features))
    for again, output in zip(concurrent, outputs):
        assert again.offsets == output.offsets
        assert np.allclose(again.probabilities, output.probabilities, atol=1e-4)
