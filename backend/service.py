"""The backend object: what the HTTP routes delegate to (settings, model store, jobs, loaded models).

Every method takes parsed arguments and answers plain data or raises `RequestError` with the status
and a message naming the project, task or field at fault; backend/routes.py only parses and answers.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from typing import Any

from relabel.adapters import InvalidTask, TaskAdapter, UnsupportedLabelConfig
from relabel.backend.config import PROJECT_SETTINGS, Settings
from relabel.backend.jobs import ACTIVE_STATES, JobRunner
from relabel.backend.logs import add_secret
from relabel.backend.model_store import ModelStore
from relabel.backend.queue import QUEUED_STAGE, QueueJobRunner
from relabel.backend.round_locks import LocalRoundLocks, RedisRoundLocks, RoundLockHeld, RoundLockLost, public
from relabel.backend.training import CHECKING_STAGE, run_job
from relabel.clients.label_studio import LabelStudioClient, LabelStudioError

log = logging.getLogger(__name__)

# Label Studio's ids are 64-bit integers.
PROJECT_ID_PATTERN = "[0-9]{1,19}"
MAX_PROJECT_ID = 2 ** 63 - 1
JOB_ID_PATTERN = re.compile(f"({PROJECT_ID_PATTERN})-[0-9]{{1,19}}")


class RequestError(Exception):
    """A request the backend cannot serve: answered with `status`, `message` and `fields` as JSON."""

    def __init__(self, status: int, message: str, **fields):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields


def project_id_of(value: Any) -> int:
    """Label Studio names projects "12" in webhooks and "12.1700000000" (id.created) in /predict and /setup."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        raise ValueError("no project id")
    text = str(value).split(".", 1)[0]
    if not re.fullmatch(PROJECT_ID_PATTERN, text) or int(text) > MAX_PROJECT_ID:
        raise ValueError(f"bad project id {str(value)[:40]!r}")
    return int(text)


class Backend:
    """State shared by the request handlers: settings, model store, jobs, loaded models."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = ModelStore(settings.model_dir)
        self.jobs = QueueJobRunner(self.store, settings) if settings.redis_url \
            else JobRunner(self.store, self._run_job, timeout=settings.job_timeout)
        self.round_locks = RedisRoundLocks(self.jobs.connection) if settings.redis_url else LocalRoundLocks()
        self._models: OrderedDict[int, tuple[str, Any, Any]] = OrderedDict()  # project -> (version, adapter, model)
        self._models_lock = threading.Lock()
        self._load_locks: dict[int, threading.Lock] = {}
        # Label Studio sends its labeling config with every /predict: parsed once per distinct config.
        self._config_classes: OrderedDict[str, list | None] = OrderedDict()
        # Label Studio sends the project owner's token in /setup; used only when LABEL_STUDIO_API_KEY is not
        # configured, and only with the configured LABEL_STUDIO_URL (the URL /setup sends is never used: a
        # caller must not re-point the backend). Kept in memory, never logged or stored.
        self._setup_tokens: dict[int, str] = {}

    # --- Label Studio ---------------------------------------------------------------------------
    def client(self, project_id: int) -> LabelStudioClient:
        """The configured Label Studio, with LABEL_STUDIO_API_KEY or else the token its /setup sent."""
        if self.settings.label_studio_api_key:
            return self.settings.label_studio_client()
        if project_id in self._setup_tokens:
            return self.settings.label_studio_client(self._setup_tokens[project_id])
        raise RequestError(503, "the backend has no Label Studio credentials: set LABEL_STUDIO_URL and "
                                "LABEL_STUDIO_API_KEY (a legacy token or a personal access token)")

    def media_fetcher(self, project_id: int):
        """Downloads the project's images with the backend's credentials, for /predict. The client is made
        on the first download: projects without images never need Label Studio here."""
        fetchers: list = []

        def fetch(url: str, task_id: Any) -> str:
            if not fetchers:
                fetchers.append(self.client(project_id).media_fetcher(self.settings.media_cache_dir(project_id)))
            return fetchers[0](url, task_id)
        return fetch

    def adapter(self, label_config: Any, project_id: int, field_name: str) -> TaskAdapter:
        """The adapter for a config a request sent; 422 naming the project and field when none understands it."""
        try:
            return self.settings.build_adapter(label_config or "")
        except UnsupportedLabelConfig as error:
            raise RequestError(422, f"project {project_id}: field '{field_name}': {error}") from None

    def config_classes(self, label_config: str, project_id: int) -> list | None:
        """The labels a /predict's config allows (parsed once per distinct config; a few are kept)."""
        if label_config in self._config_classes:
            return self._config_classes[label_config]
        classes = self.adapter(label_config, project_id, "label_config").classes
        with self._models_lock:
            self._config_classes[label_config] = classes
            while len(self._config_classes) > 16:
                self._config_classes.popitem(last=False)
        return classes

    # --- the ML backend protocol ------------------------------------------------------------------
    def setup(self, project_id: int, schema: Any, token: Any) -> str:
        """Check the project's config and keep Label Studio's token; the latest model version."""
        self.adapter(schema, project_id, "schema")
        if isinstance(token, str) and token and not self.settings.label_studio_api_key:
            self._setup_tokens[project_id] = token
            add_secret(token)
        latest = self.store.latest(project_id)
        return latest["version"] if latest else "untrained"

    def predict(self, project_id: int, tasks: list[dict], label_config: str | None) -> dict:
        """Predictions of the project's latest model for `tasks`, in their order; none before training."""
        if len(tasks) > self.settings.max_predict_tasks:
            raise RequestError(413, f"field 'tasks': {len(tasks)} tasks; at most {self.settings.max_predict_tasks} "
                                    f"per request (RELABEL_MAX_PREDICT_TASKS): send fewer at a time")
        current_classes = self.config_classes(label_config, project_id) if label_config else None
        loaded = self.model(project_id)
        if loaded is None or not tasks:
            return {"results": [], "model_version": None}
        version, adapter, model = loaded
        missing = [] if current_classes is None else [c for c in adapter.classes if c not in current_classes]
        if missing:
            # The labeling config changed since training; a prediction must only use labels it has.
            raise RequestError(422, f"project {project_id}: field 'label_config': model {version} predicts "
                                    f"label(s) {missing} that the labeling config no longer has; train again")
        try:
            inputs = [adapter.input_from_task(task) for task in tasks]
        except InvalidTask as error:
            raise RequestError(422, str(error)) from None
        outputs = model.predict(adapter.featurize(inputs))
        results = [{**adapter.to_prediction(o), "model_version": version} for o in outputs]
        return {"results": results, "model_version": version}

    def model(self, project_id: int) -> tuple[str, Any, Any] | None:
        """(version, adapter, model) of the project's latest model, or None before the first training.

        Loaded models are kept for the RELABEL_MAX_LOADED_MODELS most recently used projects. A model
        loads under its project's own lock, so a slow load holds up only that project's predictions.
        """
        latest = self.store.latest(project_id)
        if latest is None:
            return None
        with self._models_lock:
            loaded = self._models.get(project_id)
            if loaded is not None and loaded[0] == latest["version"]:
                self._models.move_to_end(project_id)
                return loaded
            load_lock = self._load_locks.setdefault(project_id, threading.Lock())
        with load_lock:
            with self._models_lock:
                loaded = self._models.get(project_id)
            if loaded is None or loaded[0] != latest["version"]:
                adapter = self.settings.build_adapter(latest["label_config"], fetch_media=self.media_fetcher(project_id))
                model = adapter.load_model(self.store.version_dir(project_id, latest["version"]))
                loaded = (latest["version"], adapter, model)
            with self._models_lock:
                self._models[project_id] = loaded
                self._models.move_to_end(project_id)
                while len(self._models) > self.settings.max_loaded_models:
                    evicted, _ = self._models.popitem(last=False)
                    log.info("model unloaded", extra={"project": evicted})
            return loaded

    def versions(self, project_id: int) -> dict:
        stored = self.store.versions(project_id)
        return {"versions": [v["version"] for v in stored],
                "details": [{k: v.get(k) for k in ("version", "created_at", "labeled", "adapter", "prediction_source")}
                            for v in stored]}

    # --- jobs -------------------------------------------------------------------------------------
    def _run_job(self, job: dict, progress) -> dict:
        return run_job(job, progress, self.settings, self.store, self.client(job["project"]))

    def start_job(self, project_id: int, options: dict) -> tuple[dict, bool]:
        """Start (or join) the project's job: training, or what `options` names (compare_dropped).

        Errors the user must fix (unknown project, unusable tasks, too few labels) are answered in the
        response when the job finds them within RELABEL_CHECK_WAIT seconds; the failed job's record
        keeps the message too, for callers that only see the status code (Label Studio does).
        """
        try:
            self.client(project_id).get_project(project_id)
        except LabelStudioError as error:
            status = 404 if "HTTP 404" in str(error) else 502
            raise RequestError(status, f"project {project_id}: {error}") from None
        job, started = self.jobs.start(project_id, options)
        deadline = time.monotonic() + self.settings.check_wait
        queued = "rq_job" in job
        while started and job["state"] in ACTIVE_STATES and job["stage"] in ("starting", CHECKING_STAGE, QUEUED_STAGE) \
                and time.monotonic() < deadline:
            time.sleep(0.25 if queued else 0.05)
            if queued:  # a worker process runs it: read its record
                job = self.jobs.get(project_id, job["id"]) or job
        if job["state"] == "failed":
            raise RequestError(422, f"training job {job['id']} failed: {job['error']}")
        return job, started

    def cancel_job(self, job_id: str) -> dict:
        """Cancel a queued or running job (it stops at its next step; a queued worker's at once)."""
        job = self.job(job_id)
        return self.jobs.cancel(job["project"], job["id"])

    def job(self, job_id: str) -> dict:
        """The record of job "<project>-<number>"; 404 when there is none."""
        match = JOB_ID_PATTERN.fullmatch(job_id)
        job = None
        if match and int(match.group(1)) <= MAX_PROJECT_ID:
            job = self.jobs.get(int(match.group(1)), job_id)
        if job is None:
            raise RequestError(404, f"no job {job_id[:60]!r}")
        return job

    # --- one round at a time ----------------------------------------------------------------------
    def acquire_round_lock(self, project_id: int, holder: str, ttl: float) -> dict:
        """The project's round lock for `holder`, with the token that renews and releases it; 409 naming
        who holds it and since when."""
        try:
            return self.round_locks.acquire(project_id, holder, ttl)
        except RoundLockHeld as held:
            raise RequestError(409, str(held), lock=held.lock) from None

    def round_lock(self, project_id: int) -> dict:
        held = self.round_locks.held(project_id)
        if held is None:
            raise RequestError(404, f"nobody runs a round of project {project_id}")
        return public(held)

    def renew_round_lock(self, project_id: int, token: str, ttl: float) -> dict:
        try:
            return public(self.round_locks.renew(project_id, token, ttl))
        except RoundLockLost as lost:
            raise RequestError(409, str(lost)) from None

    def release_round_lock(self, project_id: int, token: str) -> bool:
        return self.round_locks.release(project_id, token)

    # --- per-project settings and stored predictions ---------------------------------------------
    def project_settings(self, project_id: int) -> Settings:
        return self.settings.with_overrides(self.store.project_settings(project_id))

    def settings_answer(self, project_id: int) -> dict:
        effective = self.project_settings(project_id)
        return {"overrides": self.store.project_settings(project_id),
                "effective": {name: getattr(effective, name) for name in PROJECT_SETTINGS}}

    def replace_project_settings(self, project_id: int, overrides: dict) -> dict:
        """Replace the project's own settings; a missing or null one means the backend's default."""
        overrides = {name: value for name, value in overrides.items() if value is not None}
        try:
            self.settings.with_overrides(overrides)
        except ValueError as error:
            raise RequestError(400, str(error)) from None
        self.store.save_project_settings(project_id, overrides)
        return self.settings_answer(project_id)

    def save_round(self, project_id: int, round_number: int, report: Any) -> None:
        """Keep a round's report with the project (any machine's next round reads it)."""
        project = report.get("project") if isinstance(report, dict) else None
        if not isinstance(project, dict) or report.get("round") != round_number or project.get("id") != project_id \
                or not isinstance(report.get("flagged_tasks"), list):
            raise RequestError(400, f"the body must be round {round_number}'s report of project {project_id} "
                                    f"(round, project.id and flagged_tasks)")
        self.store.save_round(project_id, report)

    def stored_predictions(self, project_id: int, version: str | None, fields: list[str] | None = None) -> dict:
        """The out-of-fold outputs a model version stored (default: the latest). With `fields`, each entry of
        its items and unlabeled tasks keeps only those keys: a round that needs an earlier model's labels
        reads 100,000 (task, target) pairs, not 100,000 outputs."""
        if fields is not None and not all(re.fullmatch("[a-z_]{1,40}", name) for name in fields):
            raise RequestError(400, "field 'fields': comma-separated entry keys, e.g. task,target")
        version = version or (self.store.latest(project_id) or {}).get("version")
        if not version or self.store.find(project_id, version) is None:
            raise RequestError(404, f"project {project_id} has no model {version or '(none trained yet)'}")
        record = self.store.predictions(project_id, version)
        if fields is None or record is None:
            return record
        for part in ("items", "unlabeled"):
            if isinstance(record.get(part), list):
                record[part] = [{name: entry[name] for name in fields if name in entry} for entry in record[part]]
        return record
