"""The Re-Label ML backend: an HTTP server speaking Label Studio's ML backend protocol.

Label Studio calls GET /health, POST /setup, POST /predict, POST /webhook (START_TRAINING) and
GET /versions. The round driver also uses GET/POST /jobs, GET /jobs/<id> and GET /projects/<id>/predictions.

Run it with `python -m backend` (gunicorn). Without REDIS_URL, training jobs are threads of its one
worker process; with REDIS_URL they go to an RQ queue that `python -m backend.worker` processes take,
and the backend may run several worker processes.
"""
from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from adapters import InvalidTask, UnsupportedLabelConfig, adapter_for_config
from backend.config import PROJECT_SETTINGS, Settings
from backend.jobs import ACTIVE_STATES, JobRunner
from backend.label_studio import LabelStudioClient, LabelStudioError
from backend.logs import configure_logging
from backend.model_store import ModelStore
from backend.queue import QUEUED_STAGE, QueueJobRunner, QueueUnavailable
from backend.training import CHECKING_STAGE, run_training_job

log = logging.getLogger(__name__)


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Backend:
    """State shared by the request handlers: settings, model store, jobs, loaded models."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = ModelStore(settings.model_dir)
        self.jobs = QueueJobRunner(self.store, settings) if settings.redis_url \
            else JobRunner(self.store, self._run_job)
        self._models: dict[int, tuple[str, Any, Any]] = {}  # project -> (version, adapter, model)
        self._models_lock = threading.Lock()
        # Label Studio sends its URL and the project owner's token in /setup; used only when
        # LABEL_STUDIO_API_KEY is not configured. Kept in memory, never logged or stored.
        self._setup_credentials: dict[int, tuple[str, str]] = {}

    def client(self, project_id: int) -> LabelStudioClient:
        if self.settings.label_studio_api_key:
            return LabelStudioClient(self.settings.label_studio_url, self.settings.label_studio_api_key)
        if project_id in self._setup_credentials:
            return LabelStudioClient(*self._setup_credentials[project_id])
        raise RequestError(503, "the backend has no Label Studio credentials: set LABEL_STUDIO_URL and "
                                "LABEL_STUDIO_API_KEY (a legacy token or a personal access token)")

    def remember_setup(self, project_id: int, hostname: Any, token: Any) -> None:
        if isinstance(hostname, str) and hostname.startswith("http") and isinstance(token, str) and token:
            self._setup_credentials[project_id] = (hostname, token)

    def project_settings(self, project_id: int) -> Settings:
        return self.settings.with_overrides(self.store.project_settings(project_id))

    def _run_job(self, job: dict, progress) -> dict:
        return run_training_job(job, progress, self.settings, self.store, self.client(job["project"]))

    def start_training(self, project_id: int, write_predictions: bool = True) -> tuple[dict, bool]:
        """Start (or join) the project's training job.

        Errors the user must fix (unknown project, unusable tasks, too few labels) are answered in the
        response when the job finds them within RELABEL_CHECK_WAIT seconds; the failed job's record
        keeps the message too, for callers that only see the status code (Label Studio does).
        """
        try:
            self.client(project_id).get_project(project_id)
        except LabelStudioError as error:
            status = 404 if "HTTP 404" in str(error) else 502
            raise RequestError(status, f"project {project_id}: {error}") from None
        job, started = self.jobs.start(project_id, {"write_predictions": write_predictions})
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

    def media_fetcher(self, project_id: int):
        """Downloads the project's images with the backend's credentials, for /predict. The client is made
        on the first download: projects without images never need Label Studio here."""
        clients: list[LabelStudioClient] = []

        def fetch(url: str, task_id: Any) -> str:
            if not clients:
                clients.append(self.client(project_id))
            return clients[0].download_media(url, task_id, self.settings.media_cache_dir)
        return fetch

    def model(self, project_id: int) -> tuple[str, Any, Any] | None:
        """(version, adapter, model) of the project's latest model, or None before the first training."""
        latest = self.store.latest(project_id)
        if latest is None:
            return None
        with self._models_lock:
            loaded = self._models.get(project_id)
            if loaded is None or loaded[0] != latest["version"]:
                adapter = adapter_for_config(latest["label_config"], **self.settings.adapter_options(),
                                             fetch_media=self.media_fetcher(project_id))
                model = adapter.load_model(self.store.version_dir(project_id, latest["version"]))
                loaded = self._models[project_id] = (latest["version"], adapter, model)
            return loaded


def _json_body() -> Any:
    """The request's JSON, or None when it is not JSON (or nested too deeply for the parser)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise RequestError(400, "the request body is nested too deeply") from None


def _body() -> dict:
    body = _json_body()
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return body


def _adapter(label_config: Any, project_id: int, field_name: str, options: dict):
    try:
        return adapter_for_config(label_config or "", **options)
    except UnsupportedLabelConfig as error:
        raise RequestError(422, f"project {project_id}: field '{field_name}': {error}") from None


# Label Studio's ids are 64-bit integers.
PROJECT_ID_PATTERN = "[0-9]{1,19}"
MAX_PROJECT_ID = 2 ** 63 - 1


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


def _project(value: Any) -> int:
    try:
        return project_id_of(value)
    except ValueError as error:
        raise RequestError(400, f"field 'project': {error}") from None


def create_app(settings: Settings | None = None) -> Flask:
    configure_logging()
    settings = settings or Settings.from_env()
    backend = Backend(settings)
    app = Flask("relabel-backend")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024
    app.extensions["relabel"] = backend

    @app.before_request
    def require_basic_auth():
        if not settings.basic_auth_user or request.path == "/health":
            return None
        auth = request.authorization
        if auth and hmac.compare_digest(auth.username or "", settings.basic_auth_user) and \
                hmac.compare_digest(auth.password or "", settings.basic_auth_pass):
            return None
        return Response('{"error": "authentication required"}', 401, mimetype="application/json",
                        headers={"WWW-Authenticate": 'Basic realm="relabel"'})

    @app.url_value_preprocessor
    def check_project_id(endpoint, values):
        if values and "project_id" in values:  # /projects/<int:project_id>/...: any length of digits gets here
            values["project_id"] = _project(str(values["project_id"]))

    @app.errorhandler(RequestError)
    def request_error(error: RequestError):
        return jsonify(error=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=f"{error.name}: {error.description}"), error.code

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(error: QueueUnavailable):
        return jsonify(error=str(error)), 503

    @app.errorhandler(LabelStudioError)
    def label_studio_error(error: LabelStudioError):
        return jsonify(error=str(error)), 502

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unexpected error", extra={"path": request.path})
        return jsonify(error=f"internal error: {type(error).__name__}: {error}"), 500

    @app.get("/health")
    @app.get("/")
    def health():
        return jsonify(status="UP", model_class="Re-Label")

    @app.post("/setup")
    def setup():
        body = _body()
        project_id = _project(body.get("project"))
        _adapter(body.get("schema"), project_id, "schema", settings.adapter_options())
        backend.remember_setup(project_id, body.get("hostname"), body.get("access_token"))
        latest = backend.store.latest(project_id)
        return jsonify(model_version=latest["version"] if latest else "untrained")

    @app.post("/predict")
    def predict():
        body = _body()
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise RequestError(400, "field 'tasks' must be a list of task objects")
        project_id = _project(body.get("project"))
        label_config = body.get("label_config")
        if label_config is not None and not isinstance(label_config, str):
            raise RequestError(400, "field 'label_config' must be a string")
        current = _adapter(label_config, project_id, "label_config", settings.adapter_options()) \
            if label_config else None
        loaded = backend.model(project_id)
        if loaded is None or not tasks:
            return jsonify(results=[], model_version=None)
        version, adapter, model = loaded
        missing = [] if current is None else \
            [c for c in getattr(adapter, "classes", []) if c not in getattr(current, "classes", [])]
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
        return jsonify(results=results, model_version=version)

    @app.post("/webhook")
    def webhook():
        body = _body()
        action = body.get("action")
        if not isinstance(action, str):
            raise RequestError(400, "field 'action' must be a string")
        if action != "START_TRAINING":
            return jsonify(status="ignored", action=action)
        project_id = _project(body.get("project"))
        job, started = backend.start_training(project_id)
        return jsonify(job=job["id"], started=started, status=job["state"]), 201 if started else 200

    @app.post("/jobs")
    def start_job():
        body = _body()
        project_id = _project(body.get("project"))
        write_predictions = body.get("write_predictions", True)
        if not isinstance(write_predictions, bool):
            raise RequestError(400, "field 'write_predictions' must be true or false")
        job, started = backend.start_training(project_id, write_predictions)
        return jsonify(job=job, started=started), 201 if started else 200

    @app.get("/jobs")
    def list_jobs():
        project_id = _project(request.args.get("project"))
        return jsonify(jobs=backend.jobs.jobs(project_id))

    def find_job(job_id: str) -> dict:
        try:
            project_id = project_id_of(job_id.split("-")[0]) if re.fullmatch("[0-9]{1,19}-[0-9]{1,19}", job_id) else None
        except ValueError:
            project_id = None
        job = backend.jobs.get(project_id, job_id) if project_id is not None else None
        if job is None:
            raise RequestError(404, f"no job {job_id[:60]!r}")
        return job

    @app.get("/jobs/<job_id>")
    def get_job(job_id: str):
        """One job's record: state (queued, running, done, failed), stage, done/total, error, result."""
        return jsonify(job=find_job(job_id))

    @app.post("/job_status")
    def job_status():
        job = find_job(str(_body().get("job", "")))
        return jsonify(job=job["id"], status=job["state"], error=job["error"])

    @app.get("/versions")
    def versions():
        body = _json_body() or {}
        project = request.args.get("project") or (body.get("project") if isinstance(body, dict) else None)
        stored = backend.store.versions(_project(project))
        return jsonify(versions=[v["version"] for v in stored],
                       details=[{k: v.get(k) for k in ("version", "created_at", "labeled", "adapter", "prediction_source")}
                                for v in stored])

    def settings_answer(project_id: int):
        effective = backend.project_settings(project_id)
        return jsonify(overrides=backend.store.project_settings(project_id),
                       effective={name: getattr(effective, name) for name in PROJECT_SETTINGS})

    @app.get("/projects/<int:project_id>/settings")
    def get_project_settings(project_id: int):
        return settings_answer(project_id)

    @app.put("/projects/<int:project_id>/settings")
    def put_project_settings(project_id: int):
        """Replace the project's own detection settings; a missing or null one means the backend's default."""
        overrides = {name: value for name, value in _body().items() if value is not None}
        try:
            settings.with_overrides(overrides)
        except ValueError as error:
            raise RequestError(400, str(error)) from None
        backend.store.save_project_settings(project_id, overrides)
        return settings_answer(project_id)

    @app.get("/projects/<int:project_id>/predictions")
    def stored_predictions(project_id: int):
        version = request.args.get("model_version") or (backend.store.latest(project_id) or {}).get("version")
        if not version or backend.store.find(project_id, version) is None:
            raise RequestError(404, f"project {project_id} has no model {version or '(none trained yet)'}")
        return jsonify(backend.store.predictions(project_id, version))

    return app
