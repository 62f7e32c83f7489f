"""A training's folds and full-data model fitted in child processes (backend/fit_processes.py), with the real
text-classification adapter in real `python -m relabel.backend.fit_processes` children: the same outputs and
model as fitting them here in turn; a failing child names its fit and its error; a stopped job kills its
children and leaves no folder."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from relabel.adapters import adapter_for_config
from relabel.adapters.data.folds import fold_assignments, out_of_fold_outputs
from relabel.backend.fit_processes import FitError, ProcessFits, child_environment, fit_processes_for
from relabel.backend.jobs import JobStopped
from relabel.backend.config import Settings
from relabel.backend.model_store import ModelStore
from relabel.backend.training import process_fits
from relabel.demo.data import LABEL_CONFIG
from tests.test_fold_jobs import ADAPTER_OPTIONS, labeled  # noqa: F401 (the fixture: 60 texts, real features)


def runner(directory, features, targets, processes=2) -> ProcessFits:
    return ProcessFits(str(directory), LABEL_CONFIG, ADAPTER_OPTIONS, "cpu", features, targets, processes)


class Parallel:
    def fits_in_parallel(self, n_labeled):
        return n_labeled >= 100  # long enough fits


class InTurn:
    def fits_in_parallel(self, n_labeled):
        return False


def test_how_many_processes_fit_a_training():
    assert fit_processes_for(Parallel(), "cpu", n_folds=5, n_labeled=500, cpus=2) == 2
    assert fit_processes_for(Parallel(), "cpu", n_folds=3, n_labeled=500, cpus=16) == 4  # the folds and the full model
    assert fit_processes_for(Parallel(), "cpu", n_folds=5, n_labeled=50, cpus=16) == 1  # short fits: in turn
    assert fit_processes_for(Parallel(), "cpu", n_folds=5, n_labeled=500, cpus=1) == 1
    assert fit_processes_for(Parallel(), "cuda", n_folds=5, n_labeled=500, cpus=16) == 1  # one device: in turn
    assert fit_processes_for(InTurn(), "cpu", n_folds=5, n_labeled=500, cpus=16) == 1
    assert fit_processes_for(InTurn(), "cpu", n_folds=5, n_labeled=500, asked=3, cpus=16) == 3  # the setting wins


def test_the_default_seq2seq_and_yolo_fits_of_about_150_steps_go_side_by_side():
    from tests.image_data import IMAGE_CONFIG
    from tests.object_detection_data import DETECTION_CONFIG
    from tests.textgen_data import TEXTGEN_CONFIG

    assert adapter_for_config(TEXTGEN_CONFIG, device="cpu").fits_in_parallel(20)
    named = adapter_for_config(TEXTGEN_CONFIG, {"text-generation": {"generation_model": "t5-small"}}, device="cpu")
    assert not named.fits_in_parallel(5000)  # a pretrained model: not measured, in turn

    from_yaml = adapter_for_config(IMAGE_CONFIG, {"image-classification": {"epochs": 10}}, device="cpu")
    assert from_yaml.fits_in_parallel(60)  # from a yaml: at least 150 steps, whatever the size
    own_weights = adapter_for_config(DETECTION_CONFIG, {"object-detection": {"detection_model": "mine.pt", "epochs": 2}},
                                     device="cpu")
    assert not own_weights.fits_in_parallel(45)  # 2 epochs of a few batches
    assert own_weights.fits_in_parallel(5000)


def test_a_child_gets_its_threads_and_none_of_the_backends_credentials(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-token")
    monkeypatch.setenv("BASIC_AUTH_PASS", "secret-pass")
    monkeypatch.setenv("RELABEL_DEVICE", "cpu")
    environment = child_environment(1)
    assert "LABEL_STUDIO_API_KEY" not in environment and "BASIC_AUTH_PASS" not in environment
    assert environment["OMP_NUM_THREADS"] == "1" and environment["RELABEL_DEVICE"] == "cpu"


def test_only_task_types_whose_fits_gain_from_it_get_processes(tmp_path):
    settings = Settings(device="cpu", n_folds=3)
    store = ModelStore(str(tmp_path))
    text = adapter_for_config(LABEL_CONFIG, ADAPTER_OPTIONS)
    assert process_fits(text, settings, store, {"id": 1, "label_config": LABEL_CONFIG}, [], []) is None
    asked = process_fits(text, Settings(device="cpu", n_folds=3, fit_processes=2), store,
                         {"id": 1, "label_config": LABEL_CONFIG}, ["a", "b"], ["x", "y"])
    assert isinstance(asked, ProcessFits) and asked.processes == 2
    assert os.path.dirname(asked.directory) == os.path.join(store.project_dir(1), "jobs")
    asked.close()
    assert not os.path.exists(asked.directory)
    in_a_job = process_fits(text, Settings(device="cpu", n_folds=3, fit_processes=2), store,
                            {"id": 1, "label_config": LABEL_CONFIG}, ["a", "b"], ["x", "y"], job_id="1-4")
    assert in_a_job.directory == store.job_scratch_dir(1, "1-4", "fits")  # found and removed with its job
    in_a_job.close()


def test_children_give_the_outputs_and_the_model_of_fitting_here(labeled, tmp_path):
    adapter, features, targets, _ = labeled
    fold_ids = fold_assignments(targets, 3, seed=0)
    here = out_of_fold_outputs(adapter.new_model, features, targets, fold_ids)
    fits = runner(tmp_path / "fits", features, targets)
    stages = []
    try:
        fits.start_full_model(range(len(targets)))
        elsewhere = out_of_fold_outputs(adapter.new_model, features, targets, fold_ids, run_folds=fits,
                                        progress=lambda stage, done, total: stages.append((done, total)))
        full = fits.full_model(adapter, lambda *_: None)
    finally:
        fits.close()
    np.testing.assert_allclose(np.array(elsewhere), np.array(here), atol=1e-9)
    assert stages[0] == (0, 3) and stages[-1] == (3, 3)
    full_here = adapter.new_model().fit(features, targets)
    np.testing.assert_allclose(full.predict(features), full_here.predict(features), atol=1e-9)
    assert not (tmp_path / "fits").exists()


def test_a_failing_child_names_its_fit_and_its_error(labeled, tmp_path):
    adapter, features, targets, _ = labeled
    wrong = ["no such class"] * len(targets)  # not a choice of the labeling config: the fit raises
    fits = runner(tmp_path / "fits", features, wrong)
    try:
        with pytest.raises(FitError, match=r"fitting fold-0-\d failed .*no such class"):
            fits(fold_assignments(targets, 3, seed=0), lambda *_: None)
    finally:
        fits.close()


def test_a_stopped_job_kills_its_children_and_leaves_no_folder(labeled, tmp_path):
    adapter, features, targets, _ = labeled

    def stop_once_started(stage, done, total):
        if any(child.poll() is None for child in fits.children.values()):
            raise JobStopped("cancelled on request")
    fits = runner(tmp_path / "fits", features, targets)
    try:
        with pytest.raises(JobStopped):
            fits(fold_assignments(targets, 3, seed=0), stop_once_started)
    finally:
        fits.close()
    assert fits.children and all(child.poll() is not None for child in fits.children.values())
    assert not (tmp_path / "fits").exists()


def test_a_child_stops_when_its_backend_is_killed():
    """A backend killed mid-training cannot kill its children: they notice and exit."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'from relabel.backend.fit_processes import "
        "_exit_with_parent; _exit_with_parent(%d)' % os.getpid()])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and running(child):
        time.sleep(0.2)
    assert not running(child)


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split()[2] != "Z"  # an exited child nobody waited for is a zombie
    except FileNotFoundError:
        return False
