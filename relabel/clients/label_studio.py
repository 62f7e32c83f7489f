"""Label Studio I/O, shared by the backend and the round driver.

Everything that reads from or writes to Label Studio goes through `LabelStudioClient`, a thin layer
over label-studio-sdk that turns connection failures into one clear error, pages through tasks, and
writes predictions in few large requests (each import request costs seconds, whatever its size).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Iterator, Sequence

import httpx
import requests

log = logging.getLogger(__name__)

PREDICTION_CHUNK = 2000


class LabelStudioError(RuntimeError):
    """Label Studio is unreachable, refused the credentials, or answered with an error."""


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    body = getattr(error, "body", None)
    if status is not None:
        return f"HTTP {status}: {str(body)[:300]}"
    return f"{type(error).__name__}: {error}"


class _TimedSession(requests.Session):
    """A requests session whose every request has a timeout (label-studio-sdk's media download sets none,
    so a Label Studio that stops answering would hold a training job for ever)."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


class LabelStudioClient:
    def __init__(self, url: str, api_key: str, timeout: float = 60.0):
        from label_studio_sdk import LabelStudio

        if not api_key:
            raise LabelStudioError("no Label Studio API key: set LABEL_STUDIO_API_KEY "
                                   "(a legacy token or a personal access token)")
        self.url = url.rstrip("/")
        self._sdk = LabelStudio(base_url=self.url, api_key=api_key, timeout=timeout)
        self._media_session = _TimedSession(timeout)

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (httpx.TransportError, OSError) as error:
            raise LabelStudioError(f"Label Studio at {self.url} is not reachable ({what}): {error}") from error
        except Exception as error:
            if getattr(error, "status_code", None) is None:
                raise
            raise LabelStudioError(f"Label Studio refused {what}: {_describe(error)}") from error

    # --- projects and tasks -------------------------------------------------------------------
    def get_project(self, project_id: int) -> dict:
        project = self._call(f"reading project {project_id}", self._sdk.projects.get, id=project_id)
        return project.model_dump(mode="json")

    def update_project(self, project_id: int, **fields: Any) -> None:
        self._call(f"updating project {project_id}", self._sdk.projects.update, id=project_id, **fields)

    def iter_tasks(self, project_id: int) -> Iterator[dict]:
        """Every task of the project with its annotations and predictions, as plain JSON dicts."""
        pager = self._call(f"listing tasks of project {project_id}", self._sdk.tasks.list,
                           project=project_id, fields="all", page_size=500)
        iterator = iter(pager)
        while True:
            task = self._call(f"listing tasks of project {project_id}", next, iterator, None)
            if task is None:
                return
            yield task.model_dump(mode="json")

    def list_tasks(self, project_id: int) -> list[dict]:
        return list(self.iter_tasks(project_id))

    def update_task_data(self, task_id: int, data: dict) -> None:
        """Replace a task's data. Label Studio replaces `data` whole: pass every existing field."""
        self._call(f"updating task {task_id}", self._sdk.tasks.update, id=str(task_id), data=data)

    def import_predictions(self, project_id: int, predictions: Sequence[dict], progress=None) -> int:
        """Write predictions ({task, model_version, score, result}) in chunks; returns how many."""
        written = 0
        for start in range(0, len(predictions), PREDICTION_CHUNK):
            chunk = list(predictions[start:start + PREDICTION_CHUNK])
            self._call(f"importing predictions into project {project_id}",
                       self._sdk.projects.import_predictions, id=project_id, request=chunk)
            written += len(chunk)
            if progress:
                progress(written, len(predictions))
        return written

    # --- media files ----------------------------------------------------------------------------
    def download_media(self, url: str, task_id: Any, cache_dir: str) -> str:
        """A local copy of a task's file (upload, local or cloud storage, http(s) or data: URL), cached in
        `cache_dir`; label-studio-sdk resolves Label Studio's URL forms and sends the credentials."""
        from label_studio_sdk._extensions.label_studio_tools.core.utils.io import get_local_path, http_session

        from relabel.adapters.data.media import save_data_url

        if url.startswith("data:"):
            return save_data_url(url, cache_dir)
        os.makedirs(cache_dir, exist_ok=True)
        with http_session(self._media_session):
            return get_local_path(url, cache_dir=cache_dir, hostname=self.url, access_token=self._media_token(),
                                  task_id=task_id)

    def _media_token(self) -> str:
        # Files are served outside the API, so the SDK's own requests cannot fetch them. The SDK's token
        # client gives the key to send: the legacy token as it is, or a personal access token exchanged
        # for a current access token (the SDK refreshes it when it expires).
        return self._sdk._client_wrapper._tokens_client.api_key

    def media_fetcher(self, cache_dir: str):
        """`download_media` with the cache folder bound: the `relabel.adapters.data.media.MediaFetcher` adapters take."""
        return lambda url, task_id: self.download_media(url, task_id, cache_dir)

    # --- Data Manager tabs ----------------------------------------------------------------------
    def list_views(self, project_id: int) -> list[dict]:
        views = self._call(f"listing tabs of project {project_id}", self._sdk.views.list, project=project_id)
        return [view.model_dump(mode="json") for view in views]

    def create_view(self, project_id: int, data: dict) -> dict:
        view = self._call(f"creating a tab in project {project_id}", self._sdk.views.create,
                          project=project_id, data=data)
        return view.model_dump(mode="json")

    def delete_view(self, view_id: int) -> None:
        self._call(f"deleting tab {view_id}", self._sdk.views.delete, id=str(view_id))

    # --- ML backends ----------------------------------------------------------------------------
    def list_ml_backends(self, project_id: int) -> list[dict]:
        backends = self._call(f"listing ML backends of project {project_id}", self._sdk.ml.list, project=project_id)
        return [backend.model_dump(mode="json") for backend in backends]

    def add_ml_backend(self, project_id: int, url: str, title: str, basic_auth: tuple[str, str] | None) -> dict:
        options: dict[str, Any] = {"url": url, "project": project_id, "title": title, "is_interactive": False}
        if basic_auth:
            options.update(auth_method="BASIC_AUTH", basic_auth_user=basic_auth[0], basic_auth_pass=basic_auth[1])
        backend = self._call(f"connecting the ML backend {url} to project {project_id}", self._sdk.ml.create, **options)
        return backend.model_dump(mode="json")

    def get_ml_backend(self, ml_backend_id: int) -> dict:
        backend = self._call(f"reading ML backend {ml_backend_id}", self._sdk.ml.get, id=ml_backend_id)
        return backend.model_dump(mode="json")

    def train(self, ml_backend_id: int) -> None:
        """Ask Label Studio to send START_TRAINING to the ML backend."""
        self._call(f"starting training on ML backend {ml_backend_id}", self._sdk.ml.train, id=ml_backend_id)


def existing_prediction_tasks(tasks: Iterable[dict], model_version: str) -> set[int]:
    """Ids of the tasks that already hold a prediction of `model_version` (re-runs skip them)."""
    return {task["id"] for task in tasks
            if any(p.get("model_version") == model_version for p in task.get("predictions") or [])}
