"""The K folds of a queued training job as jobs of their own, so that several training workers share them.

The worker running the training job (the parent) writes what a fold needs into the model store —
the labeling config, the adapter options, the features and targets, and each split's fold
assignment — and enqueues one job per fold. Then it takes folds itself, one at a time, as any worker
does: a fold belongs to whoever creates its claim file first (O_EXCL on the shared store). So a lone
worker runs every fold itself and never waits on a job it would have to run; with more workers the
folds run side by side. A claimant touches its claim while it fits; the parent takes over a fold
whose claim went stale (its worker died) and fits it itself.

    MODEL_DIR/project-<id>/jobs/<job id>-folds/
        bundle.joblib            label config, adapter options, features, targets
        split-<s>.npy            fold assignment of split (repeat) s
        claim-<s>-<f>            who fits fold f of split s ("host:pid"); its mtime is the heartbeat
        result-<s>-<f>.joblib    that fold's outputs
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from typing import Any, Sequence

import joblib
import numpy as np

from relabel.adapters import adapter_for_config
from relabel.adapters.base import Progress
from relabel.adapters.data.folds import fit_predict_fold, folds_of
from relabel.backend.config import Settings

log = logging.getLogger(__name__)

#: seconds between touches of a fold's claim while it is fitted (staleness is RELABEL_JOB_HEARTBEAT_TIMEOUT)
CLAIM_TOUCH_INTERVAL = 2.0


def folds_dir(store, project_id: int, job_id: str) -> str:
    return store.job_scratch_dir(project_id, job_id, "folds")


def _claim(directory: str, split: int, fold: int) -> bool:
    try:
        handle = os.open(os.path.join(directory, f"claim-{split}-{fold}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(handle, f"{socket.gethostname()}:{os.getpid()}".encode())
    os.close(handle)
    return True


def fit_fold(directory: str, split: int, fold: int, bundle: dict | None = None) -> list:
    """Fit fold `fold` of split `split` from the folder's bundle, keeping its claim fresh; write the result."""
    claim = os.path.join(directory, f"claim-{split}-{fold}")
    done = threading.Event()

    def touch() -> None:
        while not done.wait(CLAIM_TOUCH_INTERVAL):
            try:
                os.utime(claim)
            except OSError:
                return
    threading.Thread(target=touch, daemon=True).start()
    try:
        bundle = bundle or joblib.load(os.path.join(directory, "bundle.joblib"))
        # on this worker's device (RELABEL_DEVICE): the fold may run on another machine than its job
        adapter = adapter_for_config(bundle["label_config"], bundle["adapter_options"], device=Settings.from_env().device)
        fold_ids = np.load(os.path.join(directory, f"split-{split}.npy"))
        outputs = fit_predict_fold(adapter.new_model, bundle["features"], bundle["targets"], fold_ids, fold)
        temporary = os.path.join(directory, f".result-{split}-{fold}-{os.getpid()}")
        joblib.dump(outputs, temporary)
        os.replace(temporary, os.path.join(directory, f"result-{split}-{fold}.joblib"))
        return outputs
    finally:
        done.set()


class QueuedFolds:
    """A FoldRunner (adapters.folds) that enqueues each fold and fits the unclaimed ones itself."""

    def __init__(self, directory: str, enqueue_fold, label_config: str, adapter_options: dict, features: Any,
                 targets: Sequence[Any], stale_after: float):
        self.directory, self.enqueue_fold, self.stale_after = directory, enqueue_fold, stale_after
        os.makedirs(directory, exist_ok=True)
        self.bundle = {"label_config": label_config, "adapter_options": adapter_options, "features": features,
                       "targets": list(targets)}
        joblib.dump(self.bundle, os.path.join(directory, "bundle.joblib"))
        self.splits = 0
        self.fitted_by: dict[str, str] = {}  # "split-fold" -> who fitted it

    def __call__(self, fold_ids: np.ndarray, progress: Progress) -> list:
        split, self.splits = self.splits, self.splits + 1
        np.save(os.path.join(self.directory, f"split-{split}.npy"), fold_ids)
        folds = [int(f) for f in folds_of(fold_ids)]
        for fold in folds:
            self.enqueue_fold(split, fold)
        results: dict[int, list] = {}
        progress("out-of-fold training", 0, len(folds))
        while len(results) < len(folds):
            for fold in folds:
                if fold not in results and self._claim_or_take_over(split, fold):
                    results[fold] = fit_fold(self.directory, split, fold, self.bundle)
                    self.fitted_by[f"{split}-{fold}"] = f"{socket.gethostname()}:{os.getpid()}"
                    progress("out-of-fold training", len(results), len(folds))
            for fold in folds:
                path = os.path.join(self.directory, f"result-{split}-{fold}.joblib")
                if fold not in results and os.path.exists(path):
                    results[fold] = joblib.load(path)
                    self.fitted_by[f"{split}-{fold}"] = self._claimant(split, fold)
                    progress("out-of-fold training", len(results), len(folds))
            if len(results) < len(folds):
                time.sleep(0.2)
        return [results[fold] for fold in folds]

    def _claimant(self, split: int, fold: int) -> str:
        try:
            with open(os.path.join(self.directory, f"claim-{split}-{fold}")) as file:
                return file.read()
        except OSError:
            return "?"

    def _claim_or_take_over(self, split: int, fold: int) -> bool:
        if _claim(self.directory, split, fold):
            return True
        claim = os.path.join(self.directory, f"claim-{split}-{fold}")
        result = os.path.join(self.directory, f"result-{split}-{fold}.joblib")
        try:
            stale = time.time() - os.path.getmtime(claim) > self.stale_after and not os.path.exists(result)
        except FileNotFoundError:
            return False
        if stale:
            log.warning("fold taken over", extra={"fold": f"{split}-{fold}", "claimant": self._claimant(split, fold)})
            os.remove(claim)
            return _claim(self.directory, split, fold)
        return False

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def run_fold_job(project_id: int, job_id: str, split: int, fold: int) -> str:
    """What a training worker runs for a queued fold: fit it unless someone has, or its job is over."""
    from relabel.backend.model_store import ModelStore

    store = ModelStore(Settings.from_env().model_dir)
    parent = next((j for j in store.jobs(project_id) if j["id"] == job_id), None)
    directory = folds_dir(store, project_id, job_id)
    if parent is None or parent["state"] != "running" or not os.path.exists(os.path.join(directory, "bundle.joblib")):
        return "skipped"
    try:
        if not _claim(directory, split, fold):
            return "taken"
        log.info("fold started", extra={"job": job_id, "project": project_id, "fold": f"{split}-{fold}"})
        fit_fold(directory, split, fold)
    except FileNotFoundError:  # the job finished (and cleared its folder) meanwhile
        return "skipped"
    return "done"
