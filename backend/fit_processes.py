"""A training's folds and its full-data model fitted side by side, in child processes, on a multi-core CPU.

Some of the networks a round trains use a 2-core CPU poorly: one torch thread fits the byte-level BART about
as fast as two (11.7 s vs 11.0 s for 150 steps), and ultralytics trains on cpu_count - 1 threads (one, on 2
cores). So where a task type says so (TaskAdapter.fits_in_parallel: text generation; image classification,
tags and detection where a fit takes at least 150 steps) and its models run on the CPU, a training job starts up to `processes` children
(`python -m relabel.backend.fit_processes`), each fitting one fold, or the full-data model, with its share of
the CPUs. On 2 cores, 3 folds and the full model: text generation (120 pairs) 216 s -> 143 s, image
classification (60 images) 90 s -> 72 s, the same outputs to the last digit. Short fits lose: a child's start
costs about 10 s (a detector fine-tuned 2 epochs per fold: 33 s -> 48 s). An NER encoder (60 sentences) gained
nothing in one measurement and 11-28% in two others (two threads serve one fine-tuned encoder fairly well), and
its probabilities move in the last digits with the thread count: the encoders fit in turn unless
RELABEL_FIT_PROCESSES asks otherwise (benchmarks/RESULTS.md 27).

The children read what the parent wrote — the labeling config, the adapter options, the features and targets
(as backend.fold_jobs does for queued folds) — so each builds the same adapter and model the parent would, and
its fit is seeded alike. A child's result comes back as a file: a fold's outputs, or the full-data model saved
as the model store saves it.

    <directory>/bundle.joblib           label config, adapter options, features, targets
    <directory>/split-<s>.npy           fold assignment of split (repeat) s
    <directory>/result-<s>-<f>.joblib   fold f of split s: its outputs
    <directory>/full-rows.npy           the full-data model's training rows
    <directory>/full-model/             the full-data model, saved by the adapter
    <directory>/<name>.log              what a child wrote (its error, where it failed)
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Sequence

import joblib
import numpy as np

from relabel.adapters.base import Progress
from relabel.adapters.data.folds import folds_of
from relabel.adapters.models.torch_threads import available_cpus

log = logging.getLogger(__name__)

#: seconds between looks at the children
POLL_INTERVAL = 0.2
#: environment variables a child does not inherit
CREDENTIALS = ("LABEL_STUDIO_API_KEY", "BASIC_AUTH_USER", "BASIC_AUTH_PASS", "REDIS_URL")


class FitError(RuntimeError):
    """A child process failed to fit its fold or model."""


def fit_processes_for(adapter, device: str, n_folds: int, n_labeled: int, asked: int = 0,
                      cpus: int | None = None) -> int:
    """How many child processes fit a training's models: `asked` where the settings name it (1: none, all
    here in turn); else, where the task type's fits gain from it (`fits_in_parallel`) on the CPU, one per
    CPU up to the number of fits (the folds and the full-data model); else 1. On a GPU the models share
    one device, so they are fitted in turn."""
    if asked:
        return asked
    cpus = cpus or available_cpus()
    if cpus < 2 or not _on_cpu(device) or not adapter.fits_in_parallel(n_labeled):
        return 1
    return min(cpus, n_folds + 1)


def _on_cpu(device: str) -> bool:
    if device == "auto":
        import torch

        return not torch.cuda.is_available()
    return device == "cpu"


def child_environment(threads: int) -> dict:
    """A child's environment: the backend's, with `threads` CPU threads for torch and without the backend's
    credentials (a child fits from its folder alone)."""
    environment = {name: value for name, value in os.environ.items() if name not in CREDENTIALS}
    environment.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return environment


class ProcessFits:
    """A FoldRunner (adapters.data.folds) fitting each fold in a child process, at most `processes` children
    at a time, and the full-data model in one more child (`start_full_model`, `full_model`)."""

    def __init__(self, directory: str, label_config: str, adapter_options: dict, device: str, features: Any,
                 targets: Sequence[Any], processes: int):
        self.directory, self.device, self.processes = directory, device, max(1, processes)
        self.threads = max(1, available_cpus() // self.processes)
        os.makedirs(directory, exist_ok=True)
        joblib.dump({"label_config": label_config, "adapter_options": adapter_options, "features": features,
                     "targets": list(targets)}, os.path.join(directory, "bundle.joblib"))
        self.splits = 0
        self.children: dict[str, subprocess.Popen] = {}
        self.full: subprocess.Popen | None = None

    def _start(self, name: str, *arguments: str) -> subprocess.Popen:
        environment = child_environment(self.threads)
        with open(os.path.join(self.directory, f"{name}.log"), "wb") as output:
            return subprocess.Popen([sys.executable, "-m", "relabel.backend.fit_processes", str(os.getpid()),
                                     self.directory, self.device, str(self.threads), *arguments], stdout=output,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment)

    def _check(self, name: str, child: subprocess.Popen) -> None:
        if child.returncode != 0:
            with open(os.path.join(self.directory, f"{name}.log"), errors="replace") as file:
                tail = file.read()[-4000:]
            log.warning("fit failed", extra={"fit": name, "exit_status": child.returncode, "output": tail})
            last_line = next((line for line in reversed(tail.splitlines()) if line.strip()), "no output")
            raise FitError(f"fitting {name} failed (exit status {child.returncode}): {last_line}")

    def _busy(self) -> int:
        return sum(child.poll() is None for child in self.children.values()) + \
            (self.full is not None and self.full.poll() is None)

    def start_full_model(self, rows: Sequence[int]) -> None:
        """Start fitting the full-data model on the bundle's rows `rows` (it takes one of the slots)."""
        np.save(os.path.join(self.directory, "full-rows.npy"), np.asarray(rows, dtype=int))
        self.full = self._start("full-model", "full")

    def full_model(self, adapter, progress: Progress) -> Any:
        """The full-data model, once its child is done, read back with `adapter.load_model`."""
        assert self.full is not None, "start_full_model first"
        while self.full.poll() is None:
            progress("full-data model", 0, 1)  # where a cancelled or too long job stops
            time.sleep(POLL_INTERVAL)
        self._check("full-model", self.full)
        return adapter.load_model(os.path.join(self.directory, "full-model"))

    def __call__(self, fold_ids: np.ndarray, progress: Progress) -> list:
        split, self.splits = self.splits, self.splits + 1
        np.save(os.path.join(self.directory, f"split-{split}.npy"), fold_ids)
        waiting = [int(f) for f in folds_of(fold_ids)]
        folds = list(waiting)
        results: dict[int, list] = {}
        progress("out-of-fold training", 0, len(folds))
        while len(results) < len(folds):
            while waiting and self._busy() < self.processes:
                fold = waiting.pop(0)
                self.children[f"fold-{split}-{fold}"] = self._start(f"fold-{split}-{fold}", "fold", str(split),
                                                                    str(fold))
            for fold in folds:
                name = f"fold-{split}-{fold}"
                child = self.children.get(name)
                if fold in results or child is None or child.poll() is None:
                    continue
                self._check(name, child)
                results[fold] = joblib.load(os.path.join(self.directory, f"result-{split}-{fold}.joblib"))
                progress("out-of-fold training", len(results), len(folds))
            if len(results) < len(folds):
                progress("out-of-fold training", len(results), len(folds))  # where a cancelled job stops
                time.sleep(POLL_INTERVAL)
        return [results[fold] for fold in folds]

    def close(self) -> None:
        """Stop any child still running (a failed or cancelled training) and remove the folder."""
        for child in [*self.children.values(), *([self.full] if self.full else [])]:
            if child.poll() is None:
                child.kill()
                child.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _exit_with_parent(parent: int) -> None:
    """A child whose backend or worker died (killed, so it could not kill its children) stops too."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _fit_in_child(parent: int, directory: str, device: str, threads: int, what: str, *numbers: str) -> None:
    import threading

    import torch

    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()

    from relabel.adapters import adapter_for_config
    from relabel.adapters.data.folds import fit_predict_fold, take

    torch.set_num_threads(threads)
    bundle = joblib.load(os.path.join(directory, "bundle.joblib"))
    adapter = adapter_for_config(bundle["label_config"], bundle["adapter_options"], device=device)
    if what == "full":
        rows = np.load(os.path.join(directory, "full-rows.npy")).tolist()
        model = adapter.new_model().fit(take(bundle["features"], rows), [bundle["targets"][i] for i in rows])
        scratch = os.path.join(directory, f".full-model-{os.getpid()}")
        os.makedirs(scratch)
        adapter.save_model(model, scratch)
        os.replace(scratch, os.path.join(directory, "full-model"))
        return
    split, fold = int(numbers[0]), int(numbers[1])
    fold_ids = np.load(os.path.join(directory, f"split-{split}.npy"))
    outputs = fit_predict_fold(adapter.new_model, bundle["features"], bundle["targets"], fold_ids, fold)
    temporary = os.path.join(directory, f".result-{split}-{fold}-{os.getpid()}")
    joblib.dump(outputs, temporary)
    os.replace(temporary, os.path.join(directory, f"result-{split}-{fold}.joblib"))


if __name__ == "__main__":
    _fit_in_child(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:])
