"""The Re-Label ML backend: an HTTP server speaking Label Studio's ML backend protocol.

Label Studio calls GET /health, POST /setup, POST /predict, POST /webhook (START_TRAINING) and
GET /versions. The round driver also uses GET/POST /jobs, GET /jobs/<id>, GET/PUT
/projects/<id>/settings and GET /projects/<id>/predictions (backend/routes.py).

Run it with `python -m relabel.backend` (gunicorn). Without REDIS_URL, training jobs are threads of its
one worker process; with REDIS_URL they go to an RQ queue that `python -m relabel.backend.worker`
processes take, and the backend may run several worker processes.
"""
from __future__ import annotations

import logging
import uuid

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from relabel.backend.auth import credentials_match
from relabel.backend.config import Settings
from relabel.backend.logs import configure_logging
from relabel.backend.queue import QueueUnavailable
from relabel.backend.routes import routes
from relabel.backend.service import Backend, RequestError
from relabel.clients.label_studio import LabelStudioError

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(secrets=settings.secrets())
    app = Flask("relabel-backend")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024
    app.extensions["relabel"] = Backend(settings)
    app.register_blueprint(routes)

    @app.before_request
    def require_basic_auth():
        if not settings.basic_auth_user or request.path == "/health":
            return None
        auth = request.authorization
        if auth and auth.type == "basic" and credentials_match(auth.username, auth.password, settings):
            return None
        return Response('{"error": "authentication required"}', 401, mimetype="application/json",
                        headers={"WWW-Authenticate": 'Basic realm="relabel"'})

    @app.errorhandler(RequestError)
    def request_error(error: RequestError):
        return jsonify(error=error.message, **error.fields), error.status

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
        # The details (paths, values) are for the operator's log; the caller gets a reference to them.
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error", extra={"path": request.path, "reference": reference})
        return jsonify(error=f"internal error (reference {reference} in the backend's log)"), 500

    return app
