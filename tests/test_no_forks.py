"""cleanlab's rules run without forking: a fork of a process with threads (the backend's gunicorn threads, torch's
OpenMP pool, a test's HTTP servers) can leave the child waiting forever on a lock another thread held. A test
worker hung so on 2026-12-07 in cleanlab's multi-label pool."""
from __future__ import annotations

import multiprocessing.process

import numpy as np
import pytest

from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.multilabel import find_label_issues
from relabel.adapters.noise.probabilities import find_confident_label_issues


@pytest.fixture
def started(monkeypatch):
    """The processes `multiprocessing` starts meanwhile (none may be)."""
    processes = []
    original = multiprocessing.process.BaseProcess.start

    def start(self):
        processes.append(self)
        return original(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", start)
    return processes


def test_multi_label_confident_learning_forks_nothing(started):
    rng = np.random.default_rng(0)
    tags = rng.random((60, 3)) > 0.5
    pred_probs = np.clip(tags + rng.normal(0, 0.3, tags.shape), 0, 1)
    assert find_label_issues(tags, pred_probs).shape == (60,)
    assert started == []


def test_class_confident_learning_forks_nothing(started):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 90)
    pred_probs = rng.dirichlet(np.ones(3), 90)
    assert find_confident_label_issues(labels, pred_probs).shape == (90,)
    assert started == []


def test_box_confident_learning_forks_nothing(started):
    from relabel.adapters import adapter_for_config
    from tests.object_detection_data import DETECTION_CONFIG
    from tests.test_object_detection_adapter import scenario

    adapter = adapter_for_config(DETECTION_CONFIG, fetch_media=lambda url, task_id: None)
    found = adapter.find_disagreements(*scenario(), FlagOptions(flag_rule="confident_learning"))
    assert len(found) == 4 and started == []
