"""Embeddings kept per project by content: unchanged texts are not embedded again."""
from __future__ import annotations

import os

import numpy as np

from relabel.adapters.models.embedding_cache import cache_path, cached_embeddings


class CountingEmbedder:
    def __init__(self):
        self.embedded: list[str] = []

    def __call__(self, texts, progress):
        self.embedded += list(texts)
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32).reshape(-1, 3)


def no_progress(*_):
    pass


def test_a_second_call_embeds_only_the_new_texts(tmp_path):
    embed = CountingEmbedder()
    first, n_first = cached_embeddings(embed, ["a", "bb", "a"], str(tmp_path), "encoder-1", no_progress)
    assert n_first == 2 and embed.embedded == ["a", "bb"] and first.shape == (3, 3)
    again, n_again = cached_embeddings(embed, ["bb", "a", "ccc"], str(tmp_path), "encoder-1", no_progress)
    assert n_again == 1 and embed.embedded[-1] == "ccc"
    assert np.array_equal(again[:2], first[[1, 0]])
    same, n_same = cached_embeddings(embed, ["bb", "a", "ccc"], str(tmp_path), "encoder-1", no_progress)
    assert n_same == 0 and np.array_equal(same, again)
    # another encoder has its own file; the cache holds the last call's texts only
    _, n_other = cached_embeddings(embed, ["a"], str(tmp_path), "encoder-2", no_progress)
    assert n_other == 1
    with np.load(cache_path(str(tmp_path), "encoder-1")) as stored:
        assert len(stored["keys"]) == 3


def test_an_unreadable_cache_is_replaced_not_fatal(tmp_path):
    embed = CountingEmbedder()
    path = cache_path(str(tmp_path), "encoder-1")
    os.makedirs(tmp_path, exist_ok=True)
    with open(path, "wb") as file:
        file.write(b"not an npz file")
    vectors, n = cached_embeddings(embed, ["a", "bb"], str(tmp_path), "encoder-1", no_progress)
    assert n == 2 and vectors.shape == (2, 3)
    assert cached_embeddings(embed, ["a", "bb"], str(tmp_path), "encoder-1", no_progress)[1] == 0


def test_the_text_adapter_reads_its_project_cache(tmp_path):
    from relabel.adapters import adapter_for_config

    config = ('<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
              '<Choice value="sports"/><Choice value="food"/></Choices></View>')
    cached = adapter_for_config(config, feature_cache_dir=str(tmp_path))
    texts = ["The match ended in a draw.", "The soup was too salty."]
    first = cached.featurize(texts)
    assert cached.texts_embedded_ == 2
    second = cached.featurize(texts + ["A new text."])
    assert cached.texts_embedded_ == 1
    assert np.allclose(second.embeddings[:2], first.embeddings, atol=1e-5)
    plain = adapter_for_config(config)
    assert plain.feature_cache_dir is None and np.allclose(plain.featurize(texts).embeddings, first.embeddings,
                                                           atol=1e-5)
