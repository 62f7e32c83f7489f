"""A text regressor over features computed once for all folds: ridge regressions on sentence embeddings
and on TF-IDF word 1-2-grams, their values averaged (the regression twin of EmbeddingTfidfEnsemble)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from relabel.adapters.models.text_classifiers import TextFeatures, fitted_block


class RidgeEnsemble:
    """`fit(features, values)`, `predict(features) -> (n,)` values, clipped to [lowest, highest]."""

    def __init__(self, lowest: float | None = None, highest: float | None = None, alpha: float = 1.0,
                 tfidf_alpha: float = 1.0):
        self.lowest, self.highest = lowest, highest
        self.alpha, self.tfidf_alpha = alpha, tfidf_alpha

    def fit(self, features: TextFeatures, values: Sequence[float]) -> "RidgeEnsemble":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        values = np.asarray(values, dtype=float)
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(features.texts)
        self.embedding_head_ = Ridge(alpha=self.alpha).fit(np.asarray(features.embeddings), values)
        self.tfidf_head_ = Ridge(alpha=self.tfidf_alpha).fit(self.vectorizer_.transform(features.texts), values)
        return self

    def predict(self, features: TextFeatures) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        values = (self.embedding_head_.predict(fitted_block(np.asarray(features.embeddings), self.embedding_head_))
                  + self.tfidf_head_.predict(self.vectorizer_.transform(features.texts))) / 2
        return np.clip(values, self.lowest if self.lowest is not None else -np.inf,
                       self.highest if self.highest is not None else np.inf)
