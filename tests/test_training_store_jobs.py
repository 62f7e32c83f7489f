"""Model fingerprints, the model store and background jobs (no Label Studio needed)."""
from __future__ import annotations

import os
import threading
import time

import pytest

from relabel.adapters import adapter_for_config
from relabel.adapters.base import Example
from relabel.backend.config import Settings
from relabel.backend.jobs import JobRunner
from relabel.backend.model_store import ModelStore
from relabel.backend.training import TrainingError, fingerprint, read_examples
from relabel.demo.data import LABEL_CONFIG, annotation_result

ADAPTER = adapter_for_config(LABEL_CONFIG)
EXAMPLES = [Example(1, "a", "food"), Example(2, "b", "sports")]


def test_fingerprint_follows_what_the_model_learns_from():
    base = fingerprint(ADAPTER, Settings(), LABEL_CONFIG, EXAMPLES)
    assert base == fingerprint(ADAPTER, Settings(), LABEL_CONFIG, list(EXAMPLES))
    assert base != fingerprint(ADAPTER, Settings(), LABEL_CONFIG, [Example(1, "a", "weather"), EXAMPLES[1]])
    assert base != fingerprint(ADAPTER, Settings(n_folds=3), LABEL_CONFIG, EXAMPLES)
    assert base != fingerprint(ADAPTER, Settings(n_repeats=3), LABEL_CONFIG, EXAMPLES)
    assert base != fingerprint(ADAPTER, Settings(prediction_source="in_sample"), LABEL_CONFIG, EXAMPLES)
    assert base != fingerprint(ADAPTER, Settings(), LABEL_CONFIG.replace("food", "cooking"), EXAMPLES)


def test_read_examples_names_every_bad_task_at_once():
    tasks = [{"id": i, "data": {"text": "x"}, "annotations": [{"id": 100 + i, "result": annotation_result("bogus")}]}
             for i in range(12)] + [{"id": 50, "data": {"text": "fine"}}]
    with pytest.raises(TrainingError) as raised:
        read_examples(ADAPTER, tasks)
    message = str(raised.value)
    assert message.startswith("12 task(s) cannot be used: task 0: annotation 100 topic")
    assert "task 9:" in message and "task 10:" not in message and "(and 2 more)" in message


def test_store_names_versions_and_swaps_them_in_whole(tmp_path):
    store = ModelStore(str(tmp_path))
    first = store.version_for(3, "aaaa1111" * 8)
    assert first == "model-v1-aaaa1111" and store.latest(3) is None
    with pytest.raises(RuntimeError):
        with store.writing_version(3, first, {"fingerprint": "aaaa1111" * 8}) as scratch:
            open(os.path.join(scratch, "model.bin"), "w").write("half")
            raise RuntimeError("training died")
    assert store.versions(3) == [] and os.listdir(store.project_dir(3)) == []
    killed = os.path.join(store.project_dir(3), f".{first}-killedjob")  # a process killed mid-write leaves this
    os.makedirs(killed)
    for fp in ("aaaa1111" * 8, "bbbb2222" * 8):
        with store.writing_version(3, store.version_for(3, fp), {"fingerprint": fp}) as scratch:
            open(os.path.join(scratch, "model.bin"), "w").write(fp)
    assert [v["version"] for v in store.versions(3)] == ["model-v1-aaaa1111", "model-v2-bbbb2222"]
    assert not os.path.exists(killed)  # cleared when that version was written again
    assert store.version_for(3, "aaaa1111" * 8) == "model-v1-aaaa1111"  # same data, same model, same name
    store.mark_latest(3, "model-v1-aaaa1111")
    assert store.latest(3)["version"] == "model-v1-aaaa1111"
    with pytest.raises(ValueError):
        store.version_dir(3, "../escape")


def wait_until_finished(store, project_id, job_id):
    for _ in range(200):
        job = next(j for j in store.jobs(project_id) if j["id"] == job_id)
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_jobs_run_once_per_project_and_record_failures(tmp_path):
    store = ModelStore(str(tmp_path))
    release = threading.Event()

    def run(job, progress):
        progress("working", 1, 2)
        release.wait(5)
        if job["project"] == 2:
            raise TrainingError("project 2 has no tasks")
        return {"model_version": "model-v1-x"}

    runner = JobRunner(store, run, progress_interval=0)
    job, started = runner.start(1)
    again, started_again = runner.start(1)
    other, _ = runner.start(2)
    assert started and not started_again and again["id"] == job["id"] == "1-1" and other["id"] == "2-1"
    release.set()
    assert wait_until_finished(store, 1, "1-1")["result"] == {"model_version": "model-v1-x"}
    failed = wait_until_finished(store, 2, "2-1")
    assert failed["state"] == "failed" and failed["error"] == "project 2 has no tasks"
    assert runner.start(1)[0]["id"] == "1-2"


def test_a_restart_reports_the_interrupted_job_as_failed(tmp_path):
    store = ModelStore(str(tmp_path))
    store.save_job({"id": "7-1", "number": 1, "project": 7, "state": "running", "error": None})
    store.save_job({"id": "7-2", "number": 2, "project": 7, "state": "done", "error": None})
    interrupted_fits = store.job_scratch_dir(7, "7-1", "fits")  # a killed backend's child fits left it
    other_job_files = store.job_scratch_dir(7, "7-2", "fits")
    for directory in (interrupted_fits, other_job_files):
        os.makedirs(directory)
        open(os.path.join(directory, "bundle.joblib"), "w").close()
    JobRunner(store, lambda job, progress: {})
    job = store.jobs(7)[0]
    assert job["state"] == "failed" and "interrupted" in job["error"]
    assert not os.path.exists(interrupted_fits)
    assert os.path.exists(other_job_files)  # only the interrupted job's scratch goes
