#!/usr/bin/env python3
"""Load benchmark (run by hand): what a big round costs in Label Studio, and /predict under concurrency.

Starts PostgreSQL, Label Studio on it and the backend (as docker-compose.yml does), then measures, with
the round driver's own code:
  1. importing N labeled tasks (N = --tasks, default 10,000);
  2. writing one prediction per task (LabelStudioClient.import_predictions, as a training job does), then
     reading every task back with its annotations and which tasks hold that model's predictions (a
     training job) and with data only (sync_round);
  3. building the round's tab for F flagged tasks (--flagged, default 2,000): tag_tasks in bulk +
     create_tab, as sync_round.py does, then Label Studio's own query for the tab's tasks, and the whole
     tab read back to check it lists exactly the flagged tasks in rank order; a sample tagged one by one
     (the path before bulk tags) for comparison;
  4. /predict latency (p50/p95) with C concurrent clients (--clients, default 4), each sending requests
     of 1 task (what Label Studio sends when an annotator opens a task) and of 50 tasks, against a model
     trained on a 300-task project.
Prints a markdown table.

    .venv/bin/python -m benchmarks.load [--tasks 10000] [--flagged 2000] [--clients 4] [--requests 50]

Needs Label Studio in .venv-ls (scripts/setup.sh) or LABEL_STUDIO_BIN, and Debian's postgresql.
"""
from __future__ import annotations

import argparse
import os
import random
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from label_studio_sdk import LabelStudio

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from relabel.adapters.base import Disagreement
from relabel.clients.label_studio import LabelStudioClient
from relabel.demo.data import LABEL_CONFIG, annotation_result, as_label_studio_tasks, make_dataset
from relabel.rounds.bulk_tags import plan_bulk_writes
from relabel.rounds.tabs import RANK_FIELD, create_tab, round_tags, tag_tasks
from relabel.stack import (free_port, start_backend, start_label_studio, start_postgres, start_redis,
                              start_worker)


CLASSES = ("sports", "food", "tech", "travel")


def flag(task_id: int, human: str, rank: int) -> Disagreement:
    """A flagged task as round_tags reads it: the model says another class, with some confidence."""
    model = CLASSES[(CLASSES.index(human) + 1 + rank % 3) % len(CLASSES)] if human in CLASSES else "sports"
    return Disagreement(task_id, True, rank / 10_000, human, model, {"model_confidence": (rank * 37 % 100) / 100})


def tab_task_ids(url: str, token: str, view_id: int) -> list[int]:
    """Every task of a tab, in the tab's order, as the Data Manager pages through them."""
    ids, page = [], 1
    while True:
        answer = requests.get(f"{url}/api/tasks", params={"view": view_id, "page_size": 500, "page": page,
                                                          "fields": "task_only"},
                              headers={"Authorization": f"Token {token}"}, timeout=600)
        if answer.status_code == 404:
            return ids
        tasks = answer.json()["tasks"]
        if not tasks:
            return ids
        ids += [t["id"] for t in tasks]
        page += 1


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure_predict(backend_url: str, project_id: int, tasks: list[dict], clients: int, requests_each: int,
                    batch: int) -> tuple[float, float, float]:
    """p50 and p95 of /predict latency in ms, and requests/s, with `clients` clients at once."""
    def client(number: int) -> list[float]:
        session = requests.Session()
        latencies = []
        for request_number in range(requests_each):
            start = (number * requests_each + request_number) * batch % max(1, len(tasks) - batch)
            # as Label Studio sends it: the project as "id.created" and its labeling config
            body = {"tasks": tasks[start:start + batch], "project": f"{project_id}.1700000000",
                    "label_config": LABEL_CONFIG}
            began = time.perf_counter()
            answer = session.post(backend_url + "/predict", json=body, timeout=120)
            latencies.append((time.perf_counter() - began) * 1000)
            assert answer.status_code == 200 and len(answer.json()["results"]) == batch, answer.text[:300]
        return latencies

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [value for values in pool.map(client, range(clients)) for value in values]
    elapsed = time.perf_counter() - began
    return percentile(latencies, 0.5), percentile(latencies, 0.95), len(latencies) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--flagged", type=int, default=2_000)
    parser.add_argument("--per-task-sample", type=int, default=200,
                        help="flagged tasks also tagged one by one, to compare with the bulk path")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50, help="requests per client and batch size")
    parser.add_argument("--web-workers", type=int, default=1,
                        help="backend processes; above 1 the backend runs as in docker-compose: Redis, a training worker")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="relabel-load-"))
    root.chmod(0o755)  # PostgreSQL runs as the 'postgres' user when this runs as root
    token = secrets.token_hex(20)
    services = []
    rows = []
    try:
        postgres = start_postgres(root / "postgres", free_port(), root / "postgres.log")
        services.append(postgres)
        label_studio = start_label_studio(root / "label-studio", free_port(), "load@example.com", "load-test-pw",
                                          token, root / "label-studio.log", database_url=postgres.url)
        services.append(label_studio)
        queue_environment = {}
        if options.web_workers > 1:
            redis = start_redis(free_port(), root / "redis.log")
            services.append(redis)
            queue_environment = {"REDIS_URL": redis.url, "RELABEL_WEB_WORKERS": str(options.web_workers)}
            services.append(start_worker(label_studio.url, token, root / "models", redis.url, root / "worker.log"))
        backend = start_backend(free_port(), label_studio.url, token, root / "models", root / "backend.log",
                                extra_env=queue_environment)
        services.append(backend)
        ls = LabelStudioClient(label_studio.url, token)
        sdk = LabelStudio(base_url=label_studio.url, api_key=token)

        # 1. import
        # The generator has 400 distinct texts: numbered copies make the rest.
        base = make_dataset(n_items=400, noise_rate=0.2, seed=0)
        data = [{**base[n % len(base)], "text": f"{base[n % len(base)]['text']} (item {n})"}
                for n in range(options.tasks)]
        project = sdk.projects.create(title="load", label_config=LABEL_CONFIG)
        _, seconds = timed(sdk.projects.import_tasks, id=project.id, request=as_label_studio_tasks(data))
        rows.append(("import labeled tasks", options.tasks, seconds))
        tasks, seconds = timed(ls.list_tasks, project.id)
        rows.append(("read every task with its annotations", len(tasks), seconds))

        # 2. predictions, as a training job writes them
        predictions = [{"task": t["id"], "model_version": "load-v1", "score": 0.9,
                        "result": annotation_result(data[number % len(data)]["label"])}
                       for number, t in enumerate(tasks)]
        written, seconds = timed(ls.import_predictions, project.id, predictions)
        rows.append(("write one prediction per task", written, seconds))
        tasks, seconds = timed(ls.list_tasks, project.id)
        rows.append(("read every task with its annotations, predictions beside (a training job's read)", len(tasks),
                     seconds))
        holding, seconds = timed(ls.tasks_with_predictions, project.id, "load-v1")
        rows.append(("which tasks hold a model version's predictions (a re-run's check)", len(holding), seconds))
        _, seconds = timed(ls.list_tasks, project.id, with_labels=False)
        rows.append(("read every task's data only (a re-label round's read, to tag)", len(tasks), seconds))

        # 3. the round's tab for the flagged tasks, in a random order of ranks, with reasons as a round
        # writes them (human label, model label, confidence: a reason per task)
        order = random.Random(0).sample(tasks, options.flagged)
        flagged = [flag(t["id"], data[number % len(data)]["label"], rank)
                   for rank, (number, t) in enumerate(((tasks.index(t), t) for t in order), start=1)]
        tags = round_tags(flagged, 1)
        bulk_requests = len(plan_bulk_writes(tags, {t["id"]: t["data"] for t in tasks})[0])
        written, seconds = timed(tag_tasks, ls, tasks, 1, tags, False, project_id=project.id)
        rows.append((f"tag flagged tasks in bulk ({bulk_requests} add_data_field requests)", written, seconds))
        flagged_ids = {d.task_id for d in flagged}
        sample = [flag(t["id"], "sports", rank) for rank, t in enumerate(
            [t for t in tasks if t["id"] not in flagged_ids][:options.per_task_sample], start=1)]  # other tasks
        written, seconds = timed(tag_tasks, ls, tasks, 2, round_tags(sample, 2), False)
        rows.append(("for comparison: tag tasks one by one (read + PATCH each, 4 at once)", written, seconds))
        view, seconds = timed(create_tab, ls, project.id, 1)
        rows.append(("create the tab", 1, seconds))
        listed, seconds = timed(lambda: requests.get(
            f"{label_studio.url}/api/tasks", params={"view": view["id"], "page_size": 100, "fields": "task_only"},
            headers={"Authorization": f"Token {token}"}, timeout=600).json())
        assert listed["total"] == options.flagged, listed["total"]
        assert int(listed["tasks"][0]["data"][RANK_FIELD]) == 1
        rows.append(("open the tab: its first page of 100 (Label Studio's query)", options.flagged, seconds))
        shown, seconds = timed(tab_task_ids, label_studio.url, token, view["id"])
        assert shown == [d.task_id for d in flagged], "the tab does not list the flagged tasks in rank order"
        rows.append(("read the whole tab: exactly the flagged tasks, in rank order", len(shown), seconds))

        # 4. /predict, against a model trained on a small project
        small = make_dataset(n_items=300, noise_rate=0.1, seed=1)
        small_project = sdk.projects.create(title="load-predict", label_config=LABEL_CONFIG)
        sdk.projects.import_tasks(id=small_project.id, request=as_label_studio_tasks(small))
        job = requests.post(backend.url + "/jobs", json={"project": small_project.id, "write_predictions": False},
                            timeout=120).json()["job"]
        while job["state"] not in ("done", "failed"):
            time.sleep(1)
            job = requests.get(f"{backend.url}/jobs/{job['id']}", timeout=30).json()["job"]
        assert job["state"] == "done", job
        predict_tasks = [{"id": t["id"], "data": t["data"]} for t in ls.list_tasks(small_project.id)]
        # Warm-up: every backend process loads the model and encoder on its first request.
        measure_predict(backend.url, small_project.id, predict_tasks, options.clients * 2, 2, 1)
        latency = {batch: measure_predict(backend.url, small_project.id, predict_tasks, options.clients,
                                          options.requests, batch) for batch in (1, 50)}
    finally:
        for service in reversed(services):
            service.stop()

    print(f"\n{options.tasks} tasks, {options.flagged} flagged; Label Studio 1.23.2 on PostgreSQL, 2 CPU cores\n")
    print("| step | tasks | seconds | tasks/s |")
    print("|---|---:|---:|---:|")
    for step, count, seconds in rows:
        print(f"| {step} | {count} | {seconds:.1f} | {count / seconds:.0f} |")
    print(f"\n/predict, {options.clients} concurrent clients, {options.requests} requests each, backend "
          f"`python -m backend` ({options.web_workers} process(es), 8 threads each)\n")
    print("| tasks per request | p50 ms | p95 ms | requests/s |")
    print("|---:|---:|---:|---:|")
    for batch, (p50, p95, rate) in latency.items():
        print(f"| {batch} | {p50:.0f} | {p95:.0f} | {rate:.1f} |")


if __name__ == "__main__":
    main()
