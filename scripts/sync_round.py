#!/usr/bin/env python3
"""Run one Re-Label round on a Label Studio project.

    LABEL_STUDIO_URL=http://localhost:8080 LABEL_STUDIO_API_KEY=... \\
        python scripts/sync_round.py --project 12 --backend-url http://localhost:9090

Each round: connect the Re-Label backend to the project (once), train through Label Studio (the
backend writes every labeled task's out-of-fold prediction as a pre-annotation with a new
model_version), find the tasks whose human label is most likely wrong (adapters/noise.py; a label
humans already confirmed in an earlier round comes back only on clearly stronger doubt), put them into a
"Re-label round N" Data Manager tab (most suspicious first) and write rounds/round-N/report.{json,md}.
With --per-class, also one tab per class ("Re-label round N — PER"): the flagged tasks whose
disagreement involves that class, for teams where each labeler works on one class.

Text generation: flagged tasks also get the old and the model's text as `relabel_candidates`, for a
re-label config where annotators choose between them or write a new text (README). Clicks (CTR):
flagged rows are dropped, not re-labeled: the round makes a "Dropped clicks round N" tab, writes the
cleaned training set (round-N/cleaned.{json,csv}) and reports dev AUC / log-loss with and without the
dropped rows; later rounds train without them.

Re-running a round replaces its tab and adds no duplicate predictions. --dry-run trains and reports
without writing anything to Label Studio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from tqdm import tqdm

from adapters import UnsupportedLabelConfig, adapter_for_config
from adapters.noise import CONFIDENT_LEARNING_FILTERS, FLAG_RULES, QUALITY_METHODS, DetectionOptions
from backend.label_studio import LabelStudioClient, LabelStudioError
from scripts.round_report import (apply_confirmation_memory, build_report, confirmed_label_quality,
                                  previous_round_outcome, ranked_flags, report_markdown)
from scripts.dropped_rows import dropped_rows_section
from scripts.round_tabs import (DROPPED_TAB_TITLE, TAB_TITLE, create_tab, delete_round_tabs, flagged_classes,
                                next_round, round_tags, tag_tasks)

BACKEND_TITLE = "Re-Label"


class RoundError(RuntimeError):
    """A round cannot go on; the message says why and what to do."""


class BackendClient:
    """The Re-Label backend's own endpoints (jobs and stored predictions)."""

    def __init__(self, url: str, basic_auth: tuple[str, str] | None):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = basic_auth

    def _request(self, method: str, path: str, **kwargs) -> dict:
        for attempt in (1, 2):
            try:
                response = self.session.request(method, self.url + path, timeout=60, **kwargs)
                break
            except requests.RequestException as error:
                # The server may close a kept-alive connection just as a request goes out on it (gunicorn
                # drops idle ones after 2 s): GET and PUT are safe to send once more, on a new connection.
                if attempt == 2 or method not in ("GET", "PUT") or not isinstance(error, requests.ConnectionError):
                    raise RoundError(f"the Re-Label backend at {self.url} is not reachable: {error}") from error
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise RoundError(f"the Re-Label backend answered {response.status_code} to {method} {path}: {message}")
        return response.json()

    def health(self) -> dict:
        return self._request("GET", "/health")

    def jobs(self, project_id: int) -> list[dict]:
        return self._request("GET", "/jobs", params={"project": project_id})["jobs"]

    def start_job(self, project_id: int, write_predictions: bool) -> dict:
        return self._request("POST", "/jobs", json={"project": project_id, "write_predictions": write_predictions})["job"]

    def set_project_settings(self, project_id: int, settings: dict) -> dict:
        return self._request("PUT", f"/projects/{project_id}/settings", json=settings)["effective"]

    def predictions(self, project_id: int, model_version: str) -> dict:
        return self._request("GET", f"/projects/{project_id}/predictions", params={"model_version": model_version})


def ensure_backend_connected(ls: LabelStudioClient, project_id: int, url: str,
                             basic_auth: tuple[str, str] | None) -> dict:
    normalized = url.rstrip("/")
    for backend in ls.list_ml_backends(project_id):
        if (backend.get("url") or "").rstrip("/") == normalized:
            return backend
    return ls.add_ml_backend(project_id, normalized, BACKEND_TITLE, basic_auth)


def wait_for_job(backend: BackendClient, project_id: int, find_job, timeout: float, poll_interval: float,
                 quiet: bool) -> dict:
    """Poll the backend until the job `find_job(jobs)` returns has finished; show its progress."""
    deadline = time.monotonic() + timeout
    bar = tqdm(total=1, desc="waiting for training", unit="step", disable=quiet, file=sys.stderr)
    try:
        while time.monotonic() < deadline:
            job = find_job(backend.jobs(project_id))
            if job is not None:
                bar.set_description(job["stage"])
                bar.total = max(job["total"], 1)
                bar.n = min(job["done"], bar.total)
                bar.refresh()
                if job["state"] == "done":
                    return job
                if job["state"] == "failed":
                    raise RoundError(f"training job {job['id']} failed: {job['error']}")
            time.sleep(poll_interval)
    finally:
        bar.close()
    raise RoundError(f"training did not finish within {timeout:.0f} s; its progress: GET {backend.url}/jobs?project={project_id}")


def train(ls: LabelStudioClient, backend: BackendClient, project_id: int, ml_backend: dict | None,
          options: argparse.Namespace) -> dict:
    """Train through Label Studio (START_TRAINING webhook), or directly for a dry run; returns the finished job."""
    previous = max((j["number"] for j in backend.jobs(project_id)), default=0)
    if options.dry_run:
        job = backend.start_job(project_id, write_predictions=False)
        return wait_for_job(backend, project_id, lambda jobs: next((j for j in jobs if j["id"] == job["id"]), None),
                            options.timeout, options.poll_interval, options.quiet)
    ls.train(ml_backend["id"])  # returns once Label Studio has had the backend's answer to START_TRAINING
    started = time.monotonic()
    checked_label_studio = False

    def newest_job(jobs: list[dict]) -> dict | None:
        nonlocal checked_label_studio
        job = next((j for j in reversed(jobs) if j["number"] > previous or j["state"] in ("queued", "running")), None)
        if job is None and (not checked_label_studio or time.monotonic() - started > options.start_timeout):
            checked_label_studio = True
            state = ls.get_ml_backend(ml_backend["id"])
            if state.get("state") == "ER" or time.monotonic() - started > options.start_timeout:
                raise RoundError(f"Label Studio did not start training on the backend at {ml_backend['url']} "
                                 f"(ML backend state {state.get('state')}: "
                                 f"{state.get('error_message') or 'no error given'})")
        return job

    return wait_for_job(backend, project_id, newest_job, options.timeout, options.poll_interval, options.quiet)


def earlier_reports(rounds_dir: Path, project_id: int, round_number: int) -> list[dict]:
    """The reports of the project's completed rounds before `round_number`, oldest first."""
    reports = []
    for earlier in range(1, round_number):
        path = rounds_dir / f"round-{earlier}" / "report.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        if report["project"]["id"] != project_id:
            raise RoundError(f"{path} belongs to project {report['project']['id']}, not {project_id}: "
                             f"use another --rounds-dir")
        reports.append(report)
    return reports


def round_history(reports: list[dict], current_labels: dict) -> list[dict]:
    return [{"round": report["round"], "model_version": report["model_version"], "flagged": report["flagged"],
             "outcome": previous_round_outcome(report["flagged_tasks"], current_labels)} for report in reports]


def run_round(options: argparse.Namespace) -> dict:
    ls = LabelStudioClient(options.label_studio_url, options.api_key)
    basic_auth = (options.basic_auth_user, options.basic_auth_pass) if options.basic_auth_user else None
    backend = BackendClient(options.backend_url, basic_auth)
    project_id = options.project
    project = ls.get_project(project_id)
    try:
        adapter = adapter_for_config(project.get("label_config") or "")
    except UnsupportedLabelConfig as error:
        raise RoundError(f"project {project_id}: {error}") from None
    backend.health()
    round_number = options.round or next_round(ls.list_views(project_id))
    ml_backend = None if options.dry_run else ensure_backend_connected(
        ls, project_id, options.backend_url_for_label_studio or options.backend_url, basic_auth)

    # This round's detection settings; an option left out means the backend's default. Task types that
    # drop flagged rows (clicks) train without the rows earlier rounds dropped.
    backend.set_project_settings(project_id, {
        "n_folds": options.folds, "n_repeats": options.repeats, "prediction_source": options.prediction_source,
        "drop_flagged_before_round": round_number if adapter.drops_flagged_rows else None})
    job = train(ls, backend, project_id, ml_backend, options)
    model_version = job["result"]["model_version"]
    stored = backend.predictions(project_id, model_version)
    # Read tasks as the backend's model did (e.g. which data fields are click features).
    adapter = adapter_for_config(project.get("label_config") or "", **(stored.get("adapter_settings") or {}))
    items = stored["items"]
    targets = [i["target"] for i in items]
    outputs = [adapter.output_from_json(i["output"]) for i in items]
    # What the report records is what ran: an unset ranking becomes the adapter's own.
    detection = replace(options.detection,
                        quality_method=options.detection.quality_method or adapter.default_quality_method)
    disagreements = adapter.find_disagreements([i["task"] for i in items], targets, outputs, detection)
    label_keys = {i["task"]: adapter.target_key(i["target"]) for i in items}
    current_labels = {i["task"]: {"target": label_keys[i["task"]], "annotation": i["annotation"]} for i in items}
    rounds_dir = Path(options.rounds_dir)
    reports = earlier_reports(rounds_dir, project_id, round_number)
    history = round_history(reports, current_labels) if not adapter.drops_flagged_rows else []
    # Labels humans already kept when shown are not shown again without clearly stronger doubt.
    disagreements, suppressed = apply_confirmation_memory(
        disagreements, confirmed_label_quality(reports, current_labels), detection.confirmation_margin)
    flags = ranked_flags(disagreements)

    tab_url, class_tabs = None, {}
    out_dir = rounds_dir / (f"round-{round_number}" + ("-dry-run" if options.dry_run else ""))
    tasks = ls.list_tasks(project_id) if adapter.drops_flagged_rows or not options.dry_run else []
    dropped = dropped_rows_section(adapter, tasks, items, {d.task_id for d in flags}, out_dir) \
        if adapter.drops_flagged_rows else None
    if not options.dry_run:
        tag_tasks(ls, tasks, round_number, round_tags(flags, round_number, adapter.relabel_fields), options.quiet,
                  adapter.relabel_field_names)
        ls.update_project(project_id, model_version=model_version)
        delete_round_tabs(ls, project_id, round_number)
        if options.per_class:
            for class_name in sorted({c for d in flags for c in flagged_classes(d)}):
                view = create_tab(ls, project_id, round_number, class_name)
                class_tabs[class_name] = f"{ls.url}/projects/{project_id}/data?tab={view['id']}"
        # The round's tab is the last write to Label Studio: its existence marks the round complete (see next_round).
        view = create_tab(ls, project_id, round_number, dropped=adapter.drops_flagged_rows)
        tab_url = f"{ls.url}/projects/{project_id}/data?tab={view['id']}"
    report = build_report(round_number=round_number, project=project, model_version=model_version, stored=stored,
                          disagreements=disagreements, annotations={i["task"]: i["annotation"] for i in items},
                          history=history, tab_url=tab_url, dry_run=options.dry_run,
                          detection=asdict(detection), suppressed=suppressed,
                          estimated_noise_rate=adapter.estimate_noise_rate(targets, outputs), label_keys=label_keys,
                          labels_are_classes=adapter.labels_are_classes)
    report["class_tabs"] = class_tabs
    report["dropped_rows"] = dropped
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "report.md").write_text(report_markdown(report))
    report["report_dir"] = str(out_dir)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=int, required=True, help="Label Studio project id")
    parser.add_argument("--round", type=int, default=None,
                        help="round number to (re-)run; default: one past the last completed round")
    parser.add_argument("--label-studio-url", default=env("LABEL_STUDIO_URL", "http://127.0.0.1:8080"),
                        help="Label Studio URL (env LABEL_STUDIO_URL); the API key is read from LABEL_STUDIO_API_KEY")
    parser.add_argument("--backend-url", default=env("RELABEL_BACKEND_URL", "http://127.0.0.1:9090"),
                        help="Re-Label backend URL as this script reaches it (env RELABEL_BACKEND_URL)")
    parser.add_argument("--backend-url-for-label-studio", default=env("RELABEL_BACKEND_URL_FOR_LABEL_STUDIO"),
                        help="the backend URL as Label Studio reaches it, if different (e.g. http://backend:9090 "
                             "inside docker-compose; env RELABEL_BACKEND_URL_FOR_LABEL_STUDIO)")
    parser.add_argument("--folds", type=int, default=None,
                        help="K of the out-of-fold predictions (default: the backend's RELABEL_FOLDS, else 5; object detection 3)")
    parser.add_argument("--prediction-source", choices=("out_of_fold", "in_sample"), default=None,
                        help="out_of_fold (default), or in_sample to reproduce the paper's original rule")
    parser.add_argument("--repeats", type=int, default=None,
                        help="K-fold splits (seeds) whose predictions are averaged (default: RELABEL_REPEATS, 1)")
    defaults = DetectionOptions()
    detection = parser.add_argument_group("detection (which labels go back to humans; see adapters/noise.py)")
    detection.add_argument("--flag-rule", choices=FLAG_RULES, default=defaults.flag_rule,
                           help=f"disagreement: model's class != label; confident_learning: cleanlab's "
                                f"find_label_issues (higher precision); budget: the --budget lowest label-quality "
                                f"scores (default {defaults.flag_rule})")
    detection.add_argument("--ranking", choices=QUALITY_METHODS, default=None,
                           help="label-quality score that orders the tab (default: the task type's best, "
                                "normalized_margin for classification, confidence_weighted_entropy for NER)")
    detection.add_argument("--cleanlab-filter", choices=CONFIDENT_LEARNING_FILTERS,
                           default=defaults.confident_learning_filter,
                           help=f"filter_by of cleanlab's find_label_issues for --flag-rule confident_learning "
                                f"(default {defaults.confident_learning_filter})")
    detection.add_argument("--budget", type=int, default=None,
                           help="tasks to flag with --flag-rule budget (default: the estimated number of wrong labels)")
    detection.add_argument("--quality-threshold", type=float, default=None,
                           help="with --flag-rule budget: flag every task whose label-quality score is below this "
                                "(0-1) instead of a number of tasks; text generation: the chrF / 100 threshold "
                                "(default 0.9)")
    detection.add_argument("--global-budget", action="store_true",
                           help="spend the budget on the lowest scores overall instead of sharing it among classes")
    detection.add_argument("--confirmation-margin", type=float, default=defaults.confirmation_margin,
                           help="a label humans confirmed is shown again only if its quality score fell by more "
                                f"than this since (default {defaults.confirmation_margin}; 1: never, 0: whenever it fell)")
    detection.add_argument("--bleu-threshold", type=float, default=None,
                           help="text generation: also flag answers whose sentence BLEU / 100 against the model's "
                                "output is below this (0-1); --quality-threshold sets the chrF / 100 threshold")
    detection.add_argument("--drop-threshold", type=float, default=None,
                           help="clicks: drop the rows whose |predicted click probability - label| exceeds this (0-1)")
    detection.add_argument("--drop-quantile", type=float, default=defaults.drop_quantile,
                           help=f"clicks, without --drop-threshold: drop the rows whose error is above this quantile "
                                f"of the errors (default {defaults.drop_quantile})")
    detection.add_argument("--segment-field", default=None,
                           help="clicks: take the --drop-quantile within each value of this data field (e.g. a "
                                "genre or country) instead of over all rows")
    parser.add_argument("--per-class", action="store_true",
                        help="also one tab per class, \"Re-label round N — <class>\", for labelers who work one class "
                             "at a time")
    parser.add_argument("--rounds-dir", default="rounds", help="where round-N/report.{json,md} go (default: rounds)")
    parser.add_argument("--dry-run", action="store_true", help="train and report, write nothing to Label Studio")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait for training")
    parser.add_argument("--start-timeout", type=float, default=60,
                        help="seconds to wait for Label Studio to start the training job")
    parser.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    options = parser.parse_args(argv)
    try:
        options.detection = DetectionOptions(
            flag_rule=options.flag_rule, quality_method=options.ranking,
            confident_learning_filter=options.cleanlab_filter, budget=options.budget,
            quality_threshold=options.quality_threshold,
            per_class=not options.global_budget, confirmation_margin=options.confirmation_margin,
            bleu_threshold=options.bleu_threshold, drop_threshold=options.drop_threshold,
            drop_quantile=options.drop_quantile, segment_field=options.segment_field)
    except ValueError as error:
        parser.error(str(error))
    options.api_key = env("LABEL_STUDIO_API_KEY", "")
    options.basic_auth_user = env("BASIC_AUTH_USER", "")
    options.basic_auth_pass = env("BASIC_AUTH_PASS", "")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        report = run_round(options)
    except (RoundError, LabelStudioError) as error:
        print(f"sync_round: error: {error}", file=sys.stderr)
        return 1
    print(report_markdown(report))
    print(f"Report: {report['report_dir']}/report.md")
    if report["tab_url"]:
        title = DROPPED_TAB_TITLE if report.get("dropped_rows") else TAB_TITLE
        print(f"{title.format(report['round'])} tab: {report['tab_url']}")
    for class_name, url in report.get("class_tabs", {}).items():
        print(f"Re-label round {report['round']} — {class_name} tab: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
