"""A queued job's folds as jobs of their own (backend/fold_jobs.py), with the real text-classification
adapter and a real Redis: whoever claims a fold fits it, nobody fits one twice, a lone worker fits all of
them, and a fold whose claimant died is taken over. The same outputs as fitting the folds in turn."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from relabel.backend import fold_jobs
from relabel.adapters import adapter_for_config
from relabel.adapters.data.folds import fold_assignments, leave_out_of_training, out_of_fold_outputs
from relabel.backend.fold_jobs import QueuedFolds, folds_dir, run_fold_job
from relabel.backend.model_store import ModelStore
from relabel.demo.data import LABEL_CONFIG, make_dataset

ADAPTER_OPTIONS = {"text-classification": {"mode": "ensemble", "seed": 0}}


@pytest.fixture(scope="module")
def labeled():
    adapter = adapter_for_config(LABEL_CONFIG, ADAPTER_OPTIONS)
    rows = make_dataset(n_items=60, noise_rate=0.1, seed=5)
    targets = [row["label"] for row in rows]
    return adapter, adapter.featurize([row["text"] for row in rows]), targets, fold_assignments(targets, 4, seed=0)


@pytest.fixture
def fits(monkeypatch):
    """Every fold fit, as (fold ids, fold), wherever it runs."""
    calls = []
    real = fold_jobs.fit_predict_fold

    def counting(new_model, features, targets, fold_ids, fold):
        calls.append(int(fold))
        return real(new_model, features, targets, fold_ids, fold)
    monkeypatch.setattr(fold_jobs, "fit_predict_fold", counting)
    return calls


def queued_folds(store, labeled, enqueue_fold, stale_after=60.0) -> QueuedFolds:
    _, features, targets, _ = labeled
    return QueuedFolds(folds_dir(store, 3, "3-1"), enqueue_fold, LABEL_CONFIG, ADAPTER_OPTIONS, features, targets,
                       stale_after)


def outputs_as_array(outputs):
    return np.array([np.asarray(o, dtype=float) for o in outputs])


def test_a_lone_worker_fits_every_fold_itself_with_the_same_outputs(tmp_path, labeled, fits):
    adapter, features, targets, fold_ids = labeled
    enqueued = []
    runner = queued_folds(ModelStore(str(tmp_path)), labeled, lambda split, fold: enqueued.append((split, fold)))
    queued = out_of_fold_outputs(adapter.new_model, features, targets, fold_ids, run_folds=runner)
    assert enqueued == [(0, 0), (0, 1), (0, 2), (0, 3)] and sorted(fits) == [0, 1, 2, 3]
    assert set(runner.fitted_by) == {"0-0", "0-1", "0-2", "0-3"}
    local = out_of_fold_outputs(adapter.new_model, features, targets, fold_ids)
    np.testing.assert_allclose(outputs_as_array(queued), outputs_as_array(local))
    runner.close()
    assert not os.path.exists(runner.directory)


def test_a_second_pass_without_suspect_labels_runs_queued_as_it_runs_here(tmp_path, labeled, fits):
    adapter, features, targets, fold_ids = labeled
    marked = leave_out_of_training(fold_ids, np.arange(len(targets)) % 7 == 0)
    enqueued = []
    runner = queued_folds(ModelStore(str(tmp_path)), labeled, lambda split, fold: enqueued.append((split, fold)))
    out_of_fold_outputs(adapter.new_model, features, targets, fold_ids, run_folds=runner)
    queued = out_of_fold_outputs(adapter.new_model, features, targets, marked, run_folds=runner)
    assert enqueued[4:] == [(1, 0), (1, 1), (1, 2), (1, 3)]  # the same four folds, as the runner's next split
    local = out_of_fold_outputs(adapter.new_model, features, targets, marked)
    np.testing.assert_allclose(outputs_as_array(queued), outputs_as_array(local))
    assert not np.allclose(outputs_as_array(local), outputs_as_array(
        out_of_fold_outputs(adapter.new_model, features, targets, fold_ids)))
    runner.close()


def test_a_fold_another_worker_fitted_is_not_fitted_again(tmp_path, labeled, fits, monkeypatch):
    adapter, features, targets, fold_ids = labeled
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    store = ModelStore(str(tmp_path))
    store.save_job({"id": "3-1", "number": 1, "project": 3, "state": "running"})
    answers = {}

    def another_worker_takes(split, fold):  # as if a worker took these queued folds at once
        if fold in (1, 2):
            answers[fold] = run_fold_job(3, "3-1", split, fold)
    runner = queued_folds(store, labeled, another_worker_takes)
    queued = out_of_fold_outputs(adapter.new_model, features, targets, fold_ids, run_folds=runner)
    assert answers == {1: "done", 2: "done"} and sorted(fits) == [0, 1, 2, 3]  # each fold once
    assert run_fold_job(3, "3-1", 0, 3) == "taken"
    np.testing.assert_allclose(outputs_as_array(queued),
                               outputs_as_array(out_of_fold_outputs(adapter.new_model, features, targets, fold_ids)))
    runner.close()
    assert run_fold_job(3, "3-1", 0, 0) == "skipped"  # the job's folder is gone: a late fold job does nothing


def test_a_fold_whose_claimant_died_is_taken_over(tmp_path, labeled, fits):
    adapter, features, targets, fold_ids = labeled

    def a_worker_claims_fold_2_and_dies(split, fold):
        if fold == 2:
            claim = os.path.join(runner.directory, f"claim-{split}-{fold}")
            open(claim, "w").write("gone-host:1")
            os.utime(claim, (time.time() - 10, time.time() - 10))
    runner = queued_folds(ModelStore(str(tmp_path)), labeled, a_worker_claims_fold_2_and_dies, stale_after=5)
    out_of_fold_outputs(adapter.new_model, features, targets, fold_ids, run_folds=runner)
    assert sorted(fits) == [0, 1, 2, 3] and runner.fitted_by["0-2"] != "gone-host:1"
