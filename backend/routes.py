"""The HTTP routes: each parses its request, delegates to the Backend object (backend/service.py) and answers."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from relabel.backend.round_locks import TTL_BOUNDS
from relabel.backend.service import Backend, RequestError, project_id_of

routes = Blueprint("relabel", __name__)


def backend() -> Backend:
    return current_app.extensions["relabel"]


def json_body() -> Any:
    """The request's JSON, or None when it is not JSON (or nested too deeply for the parser)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise RequestError(400, "the request body is nested too deeply") from None


def body() -> dict:
    parsed = json_body()
    if not isinstance(parsed, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return parsed


def project_field(value: Any) -> int:
    try:
        return project_id_of(value)
    except ValueError as error:
        raise RequestError(400, f"field 'project': {error}") from None


@routes.url_value_preprocessor
def check_project_id(endpoint, values):
    if values and "project_id" in values:  # /projects/<int:project_id>/...: any length of digits gets here
        values["project_id"] = project_field(str(values["project_id"]))


@routes.get("/health")
@routes.get("/")
def health():
    return jsonify(status="UP", model_class="Re-Label")


@routes.post("/setup")
def setup():
    fields = body()
    # Label Studio also sends its "hostname": never used, the backend talks to the configured LABEL_STUDIO_URL
    version = backend().setup(project_field(fields.get("project")), fields.get("schema"), fields.get("access_token"))
    return jsonify(model_version=version)


@routes.post("/predict")
def predict():
    fields = body()
    tasks = fields.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise RequestError(400, "field 'tasks' must be a list of task objects")
    project_id = project_field(fields.get("project"))
    label_config = fields.get("label_config")
    if label_config is not None and not isinstance(label_config, str):
        raise RequestError(400, "field 'label_config' must be a string")
    return jsonify(backend().predict(project_id, tasks, label_config))


@routes.post("/webhook")
def webhook():
    fields = body()
    action = fields.get("action")
    if not isinstance(action, str):
        raise RequestError(400, "field 'action' must be a string")
    if action != "START_TRAINING":
        return jsonify(status="ignored", action=action)
    job, started = backend().start_job(project_field(fields.get("project")), {"write_predictions": True})
    return jsonify(job=job["id"], started=started, status=job["state"]), 201 if started else 200


def compare_dropped_option(value: Any) -> dict:
    """{model_version, dropped_tasks} of a compare_dropped job, checked."""
    if not isinstance(value, dict) or not isinstance(value.get("model_version"), str) or \
            not isinstance(value.get("dropped_tasks"), list) or \
            not all(isinstance(t, int) and not isinstance(t, bool) for t in value["dropped_tasks"]):
        raise RequestError(400, "field 'compare_dropped' must be {model_version: text, dropped_tasks: [task ids]}")
    return {"model_version": value["model_version"], "dropped_tasks": value["dropped_tasks"]}


@routes.post("/jobs")
def start_job():
    fields = body()
    project_id = project_field(fields.get("project"))
    write_predictions = fields.get("write_predictions", True)
    if not isinstance(write_predictions, bool):
        raise RequestError(400, "field 'write_predictions' must be true or false")
    options: dict = {"write_predictions": write_predictions}
    if fields.get("compare_dropped") is not None:
        options["compare_dropped"] = compare_dropped_option(fields["compare_dropped"])
    job, started = backend().start_job(project_id, options)
    return jsonify(job=job, started=started), 201 if started else 200


@routes.get("/jobs")
def list_jobs():
    return jsonify(jobs=backend().jobs.jobs(project_field(request.args.get("project"))))


@routes.get("/jobs/<job_id>")
def get_job(job_id: str):
    """One job's record: state (queued, running, done, failed), stage, done/total, error, result."""
    return jsonify(job=backend().job(job_id))


@routes.delete("/jobs/<job_id>")
def cancel_job(job_id: str):
    """Cancel a job: its record ends as cancelled at once, its work stops at its next step."""
    return jsonify(job=backend().cancel_job(job_id))


@routes.post("/job_status")
def job_status():
    job = backend().job(str(body().get("job", "")))
    return jsonify(job=job["id"], status=job["state"], error=job["error"])


@routes.get("/versions")
def versions():
    fields = json_body() or {}
    project = request.args.get("project") or (fields.get("project") if isinstance(fields, dict) else None)
    return jsonify(backend().versions(project_field(project)))


@routes.get("/projects/<int:project_id>/settings")
def get_project_settings(project_id: int):
    return jsonify(backend().settings_answer(project_id))


@routes.put("/projects/<int:project_id>/settings")
def put_project_settings(project_id: int):
    """Replace the project's own detection settings; a missing or null one means the backend's default."""
    return jsonify(backend().replace_project_settings(project_id, body()))


@routes.get("/projects/<int:project_id>/predictions")
def stored_predictions(project_id: int):
    """?model_version=V (default: the latest); ?fields=task,target keeps only those keys of each entry."""
    fields = request.args.get("fields")
    return jsonify(backend().stored_predictions(project_id, request.args.get("model_version"),
                                                fields.split(",") if fields else None))


def text_field(fields: dict, name: str, longest: int = 200) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise RequestError(400, f"field '{name}' must be a text of 1 to {longest} characters")
    return value


def ttl_field(fields: dict) -> float:
    value = fields.get("ttl", 300)
    lowest, highest = TTL_BOUNDS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lowest <= value <= highest:
        raise RequestError(400, f"field 'ttl' must be a number of seconds from {lowest} to {highest}")
    return float(value)


@routes.get("/projects/<int:project_id>/rounds")
def rounds(project_id: int):
    """Every completed round's report, oldest first: the history the next round reads."""
    return jsonify(rounds=backend().store.rounds(project_id))


@routes.put("/projects/<int:project_id>/rounds/<int:round_number>")
def save_round(project_id: int, round_number: int):
    if not 1 <= round_number <= 1_000_000:
        raise RequestError(400, "the round number must be from 1 to 1000000")
    backend().save_round(project_id, round_number, body())
    return jsonify(saved=round_number)


@routes.get("/projects/<int:project_id>/round-lock")
def round_lock(project_id: int):
    """Who holds the project's round lock and since when (never its token); 404 when nobody does."""
    return jsonify(lock=backend().round_lock(project_id))


@routes.post("/projects/<int:project_id>/round-lock")
def acquire_round_lock(project_id: int):
    """Take the project's round lock: one round driver at a time. 409 says who holds it and since when."""
    fields = body()
    lock = backend().acquire_round_lock(project_id, text_field(fields, "holder"), ttl_field(fields))
    return jsonify(lock=lock), 201


@routes.put("/projects/<int:project_id>/round-lock")
def renew_round_lock(project_id: int):
    fields = body()
    return jsonify(lock=backend().renew_round_lock(project_id, text_field(fields, "token"), ttl_field(fields)))


@routes.delete("/projects/<int:project_id>/round-lock")
def release_round_lock(project_id: int):
    return jsonify(released=backend().release_round_lock(project_id, text_field(body(), "token")))
