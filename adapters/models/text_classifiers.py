"""Text classifiers over features computed once for all folds (sentence embeddings, and the texts for TF-IDF).

`LinearHead` is a logistic regression over fixed features; `EmbeddingTfidfEnsemble` averages one on
sentence embeddings and one on TF-IDF word n-grams; `FineTunedWithEnsemble` averages a fine-tuned
transformer with that ensemble (see adapters/tasks/text_classification.py for when each is used).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from relabel.adapters.models.text_encoders import FineTunedTextClassifier


def _matrix(features):
    """Features as a 2-D matrix: sparse ones (TF-IDF) stay sparse."""
    from scipy.sparse import issparse

    return features if issparse(features) else np.asarray(features)


def fitted_block(features, model):
    """The columns a fitted scikit-learn `model` learned from: a head fitted on the encoder's last layer alone,
    before the middle layer's vectors joined them (after the last layer's: text_encoders.LAST_AND_MIDDLE),
    reads the block it learned. Sparse features (TF-IDF) are never sliced."""
    fitted_width = getattr(model, "n_features_in_", None)
    if fitted_width is not None and isinstance(features, np.ndarray) and features.shape[1] > fitted_width:
        return features[:, :fitted_width]
    return features


class LinearHead:
    """Multinomial logistic regression over fixed features (dense or sparse), predicting all `classes`.

    A fold whose training part lacks some class still yields probabilities over every class
    (zero for the missing ones), so outputs of different folds line up.
    """

    def __init__(self, classes: Sequence[str], regularization: float = 1.0, seed: int = 0):
        self.classes = list(classes)
        self.regularization = regularization
        self.seed = seed

    def fit(self, features: np.ndarray, targets: Sequence[str]) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        index = {name: i for i, name in enumerate(self.classes)}
        y = np.array([index[t] for t in targets])
        self.seen_classes_ = np.unique(y)
        if len(self.seen_classes_) == 1:
            self.model_ = None
        else:
            self.model_ = LogisticRegression(C=self.regularization, max_iter=2000, random_state=self.seed)
            self.model_.fit(_matrix(features), y)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        features = fitted_block(_matrix(features), self.model_)
        probabilities = np.zeros((features.shape[0], len(self.classes)))
        if self.model_ is None:
            probabilities[:, self.seen_classes_[0]] = 1.0
        elif features.shape[0]:
            probabilities[:, self.model_.classes_] = self.model_.predict_proba(features)
        return probabilities


@dataclass
class TextFeatures:
    """Texts with their sentence embeddings, row-aligned; `take` selects rows of both."""

    texts: list[str]
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: Sequence[int]) -> "TextFeatures":
        indices = np.asarray(indices, dtype=int)
        return TextFeatures([self.texts[i] for i in indices], self.embeddings[indices])


class EmbeddingTfidfEnsemble:
    """Average of two logistic regressions: on sentence embeddings and on TF-IDF word 1-2-grams.

    The TF-IDF vocabulary is learned in `fit`, from the training texts only.
    """

    def __init__(self, classes: Sequence[str], regularization: float = 1.0, tfidf_regularization: float = 4.0,
                 seed: int = 0):
        self.classes = list(classes)
        self.regularization = regularization
        self.tfidf_regularization = tfidf_regularization
        self.seed = seed

    def fit(self, features: TextFeatures, targets: Sequence[str]) -> "EmbeddingTfidfEnsemble":
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.embedding_head_ = LinearHead(self.classes, self.regularization, self.seed).fit(features.embeddings, targets)
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(features.texts)
        self.tfidf_head_ = LinearHead(self.classes, self.tfidf_regularization, self.seed).fit(
            self.vectorizer_.transform(features.texts), targets)
        return self

    def predict(self, features: TextFeatures) -> np.ndarray:
        if not len(features):
            return np.zeros((0, len(self.classes)))
        return (self.embedding_head_.predict(features.embeddings)
                + self.tfidf_head_.predict(self.vectorizer_.transform(features.texts))) / 2


class FineTunedWithEnsemble:
    """Average of a fine-tuned transformer's probabilities and an EmbeddingTfidfEnsemble's.

    A fine-tuned model is the most accurate but starts memorising noisy labels; the frozen-feature
    ensemble cannot memorise much and errs elsewhere. Their average ranks wrong labels best.
    """

    def __init__(self, fine_tuned: FineTunedTextClassifier, ensemble: EmbeddingTfidfEnsemble):
        self.fine_tuned = fine_tuned
        self.ensemble = ensemble

    def fit(self, features: TextFeatures, targets: Sequence[str]) -> "FineTunedWithEnsemble":
        self.fine_tuned.fit(features.texts, targets)
        self.ensemble.fit(features, targets)
        return self

    def predict(self, features: TextFeatures) -> np.ndarray:
        if not len(features):
            return np.zeros((0, len(self.ensemble.classes)))
        return (self.fine_tuned.predict(features.texts) + self.ensemble.predict(features)) / 2



class OneVsRestEnsemble:
    """Multi-label tags: per tag, the embedding + TF-IDF ensemble's probability that the tag belongs
    (one vocabulary for every tag, fitted on the training texts). `fit` reads tag sets (a sequence of
    tag names per text); `predict` gives an (n, K) matrix whose rows need not sum to 1."""

    def __init__(self, classes: Sequence[str], regularization: float = 1.0, tfidf_regularization: float = 4.0,
                 seed: int = 0):
        self.classes = list(classes)
        self.regularization = regularization
        self.tfidf_regularization = tfidf_regularization
        self.seed = seed

    def fit(self, features: TextFeatures, targets: Sequence[Sequence[str]]) -> "OneVsRestEnsemble":
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(features.texts)
        words = self.vectorizer_.transform(features.texts)
        self.heads_ = []
        for tag in self.classes:
            present = ["yes" if tag in chosen else "no" for chosen in targets]
            self.heads_.append((LinearHead(["no", "yes"], self.regularization, self.seed).fit(features.embeddings, present),
                                LinearHead(["no", "yes"], self.tfidf_regularization, self.seed).fit(words, present)))
        return self

    def predict(self, features: TextFeatures) -> np.ndarray:
        if not len(features):
            return np.zeros((0, len(self.classes)))
        words = self.vectorizer_.transform(features.texts)
        return np.column_stack([(embedding.predict(features.embeddings)[:, 1] + tfidf.predict(words)[:, 1]) / 2
                                for embedding, tfidf in self.heads_])
