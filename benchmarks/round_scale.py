#!/usr/bin/env python3
"""One whole round at scale, twice (by hand): N text tasks through Label Studio on PostgreSQL.

Starts PostgreSQL, Label Studio on it and the backend (one process, as `python -m relabel.backend`),
imports N labeled text tasks (TREC questions, numbered to make N distinct texts; 10% of the labels
flipped), then runs `scripts/sync_round.py` as a user would: round 1, then a person's fixes to half of
round 1's tab (labels changed, texts not), then round 2. Per round it prints the wall time of each
stage of the training job (as the job reports its stages), the rest of the round (tab, report), the
peak RSS of the backend process (so far: round 2's includes round 1's) and of sync_round, and how many
of the flags (and of those carried from the person's fixes) were wrong labels by the benchmark's truth.

    .venv/bin/python -m benchmarks.round_scale [--tasks 10000] [--rounds 2]

Needs Label Studio in .venv-ls (scripts/setup.sh) or LABEL_STUDIO_BIN, and Debian's postgresql.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from label_studio_sdk import LabelStudio

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.datasets import DEFAULT_TREC, TREC_CLASSES, flip_uniformly, label_config, load_trec
from relabel.clients.label_studio import LabelStudioClient
from relabel.stack import free_port, start_backend, start_label_studio, start_postgres

REPO = Path(__file__).resolve().parents[1]


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def peak_rss_mb(pid: int) -> float:
    """The largest peak resident memory (VmHWM) of a running process and its descendants (the backend's
    server forks its workers), in MB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    peak, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


class StageClock(threading.Thread):
    """Polls the backend's jobs of a project and notes when the newest job enters each stage."""

    def __init__(self, backend_url: str, project_id: int):
        super().__init__(daemon=True)
        self.url, self.project_id = backend_url, project_id
        self.stages: list[tuple[str, float]] = []
        self.stop_event = threading.Event()
        self.job_id = None

    def run(self) -> None:
        known = {job["id"] for job in self.jobs()}
        while not self.stop_event.wait(0.5):
            fresh = [job for job in self.jobs() if job["id"] not in known]
            if not fresh:
                continue
            job = max(fresh, key=lambda j: j.get("started_at") or 0)
            self.job_id = job["id"]
            if not self.stages or self.stages[-1][0] != job["stage"]:
                self.stages.append((job["stage"], time.perf_counter()))

    def jobs(self) -> list[dict]:
        try:
            return requests.get(f"{self.url}/jobs", params={"project": self.project_id}, timeout=10).json()["jobs"]
        except (requests.RequestException, ValueError, KeyError):
            return []


def run_round(label_studio, token: str, backend, project_id: int, rounds_dir: Path) -> dict:
    clock = StageClock(backend.url, project_id)
    clock.start()
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    process = subprocess.run([sys.executable, str(REPO / "scripts" / "sync_round.py"), "--project", str(project_id),
                              "--backend-url", backend.url, "--rounds-dir", str(rounds_dir), "--quiet"],
                             env={**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": token},
                             capture_output=True, text=True, timeout=3600)
    ended = time.perf_counter()
    clock.stop_event.set()
    clock.join()
    if process.returncode != 0:
        raise SystemExit(process.stderr[-3000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # stages until the job ended: each lasts until the next begins; the rest of the round is tab and report
    stages = clock.stages
    job = requests.get(f"{backend.url}/jobs/{clock.job_id}", timeout=30).json()["job"]
    durations = {}
    for (name, at), (_, following) in zip(stages, stages[1:] + [("end", at_job_end(job, ended))]):
        durations[name] = durations.get(name, 0.0) + following - at
    report = json.loads(sorted(rounds_dir.glob("round-*/report.json"), key=os.path.getmtime)[-1].read_text())
    return {"total": ended - started, "stages": durations, "job_seconds": job["finished_at"] - job["started_at"],
            "after_job": ended - at_job_end(job, ended), "sync_round_mb": max(before, after) / 1024,
            "result": job["result"], "flagged": report["flagged"], "report": report}


def at_job_end(job: dict, ended: float) -> float:
    """The job's end on the perf_counter clock (the job reports wall-clock times)."""
    return ended - (time.time() - job["finished_at"]) if job.get("finished_at") else ended


def second_round(sdk, texts: list[str], truth: list[str], label_studio, token: str, backend, project_id: int,
                 root: Path, rows: list) -> None:
    """A person fixes half of round 1's tab (new annotations, texts unchanged); then round 2."""
    report = json.loads((root / "rounds" / "round-1" / "report.json").read_text())
    ls = LabelStudioClient(label_studio.url, token)
    by_id = {t["id"]: t for t in ls.list_tasks(project_id, with_labels=False)}
    fixed = report["flagged_tasks"][::2]
    truth_of = dict(zip(texts, truth))
    # four at a time, to save the benchmark's own time (not counted in either round)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda row: sdk.annotations.create(id=row["task"], result=choice(
            truth_of[by_id[row["task"]]["data"]["text"]])), fixed))
    second = run_round(label_studio, token, backend, project_id, root / "rounds")
    rows.append((f"2 ({len(fixed)} labels changed)", second, peak_rss_mb(backend.process.pid)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_TREC)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, choices=(1, 2), default=2, help="2: a person's fixes, then round 2")
    options = parser.parse_args()

    questions, labels = load_trec(options.data / "train.txt")
    texts = [f"{questions[n % len(questions)]} (item {n})" for n in range(options.tasks)]
    truth = [labels[n % len(labels)] for n in range(options.tasks)]
    noisy, _ = flip_uniformly(truth, TREC_CLASSES, 0.1, options.seed)
    root = Path(tempfile.mkdtemp(prefix="relabel-scale-"))
    root.chmod(0o755)
    token = secrets.token_hex(20)
    services, rows = [], []
    try:
        postgres = start_postgres(root / "postgres", free_port(), root / "postgres.log")
        services.append(postgres)
        label_studio = start_label_studio(root / "label-studio", free_port(), "scale@example.com", "scale-test-pw",
                                          token, root / "label-studio.log", database_url=postgres.url)
        services.append(label_studio)
        backend = start_backend(free_port(), label_studio.url, token, root / "models", root / "backend.log")
        services.append(backend)
        sdk = LabelStudio(base_url=label_studio.url, api_key=token, timeout=600)
        project = sdk.projects.create(title="scale", label_config=label_config(TREC_CLASSES))
        started = time.perf_counter()
        for start in range(0, options.tasks, 2000):
            sdk.projects.import_tasks(id=project.id, request=[
                {"data": {"text": text}, "annotations": [{"result": choice(label)}]}
                for text, label in zip(texts[start:start + 2000], noisy[start:start + 2000])])
        print(f"imported {options.tasks} labeled tasks in {time.perf_counter() - started:.0f} s", flush=True)
        first = run_round(label_studio, token, backend, project.id, root / "rounds")
        rows.append(("1", first, peak_rss_mb(backend.process.pid)))
        if options.rounds == 2:
            second_round(sdk, texts, truth, label_studio, token, backend, project.id, root, rows)
        truth_of = dict(zip(texts, truth))
        truth_by_task = {task["id"]: truth_of[task["data"]["text"]]
                         for task in LabelStudioClient(label_studio.url, token).list_tasks(project.id, with_labels=False)}
    finally:
        for service in reversed(services):
            service.stop()

    print(f"\n{options.tasks} text tasks; Label Studio 1.23.2 on PostgreSQL, backend one process, 2 CPU cores\n")
    stage_names = list(dict.fromkeys(name for _, row, _ in rows for name in row["stages"] if name != "done"))
    print("| round | whole round s | " + " | ".join(f"{name} s" for name in stage_names)
          + " | tab and report s | texts embedded | flagged (really wrong) | of them carried (really wrong) | "
            "backend peak RSS MB | sync_round peak RSS MB |")
    print("|---|---:|" + "---:|" * len(stage_names) + "---:|---:|---:|---:|---:|---:|")
    for name, row, backend_mb in rows:
        cells = " | ".join(f"{row['stages'].get(stage, 0):.0f}" for stage in stage_names)
        flags = row["report"]["flagged_tasks"]
        wrong = [flag["human"] != truth_by_task[flag["task"]] for flag in flags]
        carried = [w for flag, w in zip(flags, wrong) if (flag.get("group") or "").startswith("like task")]
        print(f"| {name} | {row['total']:.0f} | {cells} | {row['after_job']:.0f} | "
              f"{row['result'].get('texts_embedded')} | {row['flagged']} ({sum(wrong)}) | {len(carried)} ({sum(carried)}) | "
              f"{backend_mb:.0f} | {row['sync_round_mb']:.0f} |")


if __name__ == "__main__":
    main()
