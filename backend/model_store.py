"""Model store: one folder per project under MODEL_DIR.

    MODEL_DIR/project-<id>/
        versions.json              model versions, oldest first: {version, fingerprint, created_at, ...}
        <version>/                 the full-data model, plus predictions.json (out-of-fold outputs)
        jobs/<job id>.json         training job records
        jobs/<job id>-<kind>/      a running job's scratch: its queued folds' data (folds), its child fits' (fits)
        rounds/round-<n>.json      each round's report: the history every machine's next round reads

A version's folder is written under a temporary name and renamed into place, so a reader never sees
half a model. A version name is tied to the fingerprint of what it learned from (labels, settings):
retraining on unchanged data reuses the version, so a re-run adds no duplicate predictions.
Names read model-v1-<hash>, model-v2-<hash>, ...: dataset-v1 trains model-v1.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


def write_json_atomic(path: str, data) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(data, file)
    os.replace(temporary, path)


def read_json(path: str, default=None):
    try:
        with open(path) as file:
            return json.load(file)
    except FileNotFoundError:
        return default


class ModelStore:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._lock = threading.Lock()

    def project_dir(self, project_id: int) -> str:
        return os.path.join(self.root, f"project-{int(project_id)}")

    def versions(self, project_id: int) -> list[dict]:
        return read_json(os.path.join(self.project_dir(project_id), "versions.json"), [])

    def latest(self, project_id: int) -> dict | None:
        versions = self.versions(project_id)
        return versions[-1] if versions else None

    def find(self, project_id: int, version: str) -> dict | None:
        return next((v for v in self.versions(project_id) if v["version"] == version), None)

    def version_dir(self, project_id: int, version: str) -> str:
        if not version or "/" in version or version.startswith("."):
            raise ValueError(f"bad model version {version!r}")
        return os.path.join(self.project_dir(project_id), version)

    def version_for(self, project_id: int, fingerprint: str) -> str:
        """The version name for a model learned from `fingerprint`: reused if known, else the next model-vN-<hash>.

        The hash part keeps names unique across model stores: Label Studio skips tasks that already
        hold a prediction of a version, so two different models must never share a name.
        """
        versions = self.versions(project_id)
        for entry in versions:
            if entry["fingerprint"] == fingerprint:
                return entry["version"]
        return f"model-v{len(versions) + 1}-{fingerprint[:8]}"

    @contextmanager
    def writing_version(self, project_id: int, version: str, record: dict) -> Iterator[str]:
        """Yield a scratch folder; on success it becomes the version's folder and the version is listed last."""
        project_dir = self.project_dir(project_id)
        os.makedirs(project_dir, exist_ok=True)
        # A job killed while writing this version left its scratch folder; one job per project runs at a time.
        for name in os.listdir(project_dir):
            if name.startswith(f".{version}-"):
                shutil.rmtree(os.path.join(project_dir, name), ignore_errors=True)
        scratch = tempfile.mkdtemp(dir=project_dir, prefix=f".{version}-")
        try:
            yield scratch
            with self._lock:
                final = self.version_dir(project_id, version)
                if os.path.exists(final):
                    shutil.rmtree(final)
                os.replace(scratch, final)
                versions = [v for v in self.versions(project_id) if v["version"] != version]
                versions.append({**record, "version": version, "created_at": time.time()})
                write_json_atomic(os.path.join(project_dir, "versions.json"), versions)
        finally:
            if os.path.exists(scratch):
                shutil.rmtree(scratch, ignore_errors=True)

    def mark_latest(self, project_id: int, version: str) -> None:
        """Move an existing version to the end of the list: it is the one /predict serves."""
        with self._lock:
            versions = self.versions(project_id)
            entry = next(v for v in versions if v["version"] == version)
            versions = [v for v in versions if v["version"] != version] + [entry]
            write_json_atomic(os.path.join(self.project_dir(project_id), "versions.json"), versions)

    def predictions(self, project_id: int, version: str) -> dict | None:
        return read_json(os.path.join(self.version_dir(project_id, version), "predictions.json"))

    # --- per-project settings ------------------------------------------------------------------
    def project_settings(self, project_id: int) -> dict:
        return read_json(os.path.join(self.project_dir(project_id), "settings.json"), {})

    def save_project_settings(self, project_id: int, settings: dict) -> None:
        write_json_atomic(os.path.join(self.project_dir(project_id), "settings.json"), settings)

    # --- rounds: each round's report, the history the next round reads ---------------------------
    def save_round(self, project_id: int, report: dict) -> None:
        write_json_atomic(os.path.join(self.project_dir(project_id), "rounds", f"round-{int(report['round'])}.json"),
                          report)

    def rounds(self, project_id: int) -> list[dict]:
        """The project's round reports, oldest first."""
        directory = os.path.join(self.project_dir(project_id), "rounds")
        if not os.path.isdir(directory):
            return []
        reports = [read_json(os.path.join(directory, name)) for name in os.listdir(directory)
                   if name.startswith("round-") and name.endswith(".json")]
        return sorted((r for r in reports if r), key=lambda r: r["round"])

    # --- jobs ------------------------------------------------------------------------------------
    def save_job(self, job: dict) -> None:
        write_json_atomic(self._job_path(job["project"], job["id"]), job)

    def _job_path(self, project_id: int, job_id: str) -> str:
        return os.path.join(self.project_dir(project_id), "jobs", f"{job_id}.json")

    def job_scratch_dir(self, project_id: int, job_id: str, kind: str) -> str:
        """Where a running job keeps its `kind` of scratch files (backend.fold_jobs, backend.fit_processes)."""
        return os.path.join(self.project_dir(project_id), "jobs", f"{job_id}-{kind}")

    def remove_job_scratch(self, project_id: int, job_id: str) -> None:
        """Remove a job's scratch folders: for a job taken for dead, whose process could not clean up."""
        directory = os.path.join(self.project_dir(project_id), "jobs")
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                if name.startswith(f"{job_id}-") and os.path.isdir(os.path.join(directory, name)):
                    shutil.rmtree(os.path.join(directory, name), ignore_errors=True)

    def update_job(self, project_id: int, job_id: str, change: Callable[[dict | None], dict | None]) -> dict | None:
        """Read a job record, let `change` return its new form (None: leave it), and write it, all under an
        exclusive lock that every process sharing the store takes: a job's state changes one writer at a
        time (a heartbeat cannot undo the failure another process wrote). Returns the record as it stands."""
        path = self._job_path(project_id, job_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(os.path.join(os.path.dirname(path), ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = read_json(path)
                changed = change(current)
                if changed is None:
                    return current
                write_json_atomic(path, changed)
                return changed
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def jobs(self, project_id: int) -> list[dict]:
        directory = os.path.join(self.project_dir(project_id), "jobs")
        if not os.path.isdir(directory):
            return []
        records = [read_json(os.path.join(directory, name)) for name in os.listdir(directory) if name.endswith(".json")]
        return sorted((r for r in records if r), key=lambda r: r["number"])

    def all_project_ids(self) -> list[int]:
        if not os.path.isdir(self.root):
            return []
        return [int(name.split("-", 1)[1]) for name in os.listdir(self.root)
                if name.startswith("project-") and name.split("-", 1)[1].isdigit()]
