"""Label Studio I/O, shared by the backend and the round driver.

Everything that reads from or writes to Label Studio goes through `LabelStudioClient`, a thin layer
over label-studio-sdk that turns connection failures into one clear error, pages through tasks, and
writes predictions in few large requests (each import request costs seconds, whatever its size).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterator, Sequence

import httpx

from relabel.clients.media import MediaFetcher, MediaPolicy

log = logging.getLogger(__name__)

#: predictions per import request: at least 2,000, at most 10,000, about ten requests for a big project. Each
#: request costs seconds, and with Label Studio's default import path a full recount of the project's tasks
#: (relabel/stack.py PREDICTION_IMPORT_FLAG): for big projects, fewer and larger requests.
PREDICTION_CHUNK = (2_000, 10_000)
#: seconds one import request may take (a large request into a large project takes minutes by default)
IMPORT_TIMEOUT = 1800.0
TASK_PAGE = 1000
#: what a read with labels asks Label Studio for: the task's id and data, its annotations, and of each
#: annotation what the adapters and the round read
TASK_ANNOTATION_FIELDS = ("id", "result", "completed_by", "was_cancelled", "ground_truth", "created_at", "updated_at")
LABELED_TASK_FIELDS = ",".join(["data", "annotations", *TASK_ANNOTATION_FIELDS])


class LabelStudioError(RuntimeError):
    """Label Studio is unreachable, refused the credentials, or answered with an error.

    The message holds the status, never Label Studio's answer itself: the backend passes messages on to
    its callers. `detail` keeps the start of the answer for whoever talks to Label Studio directly (the
    round driver prints it).
    """

    def __init__(self, message: str, detail: str = "", status: int | None = None):
        super().__init__(message)
        self.detail = detail
        #: the HTTP status Label Studio answered with; None when it did not answer (unreachable, no key)
        self.status = status


class LabelStudioClient:
    def __init__(self, url: str, api_key: str, timeout: float = 60.0, media_policy: MediaPolicy | None = None):
        from label_studio_sdk import LabelStudio

        if not api_key:
            raise LabelStudioError("no Label Studio API key: set LABEL_STUDIO_API_KEY "
                                   "(a legacy token or a personal access token)")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._sdk = LabelStudio(base_url=self.url, api_key=api_key, timeout=timeout)
        #: where task files may be downloaded from (default: Label Studio's own host alone)
        self.media_policy = media_policy or MediaPolicy(self.url)

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (httpx.TransportError, OSError) as error:
            raise LabelStudioError(f"Label Studio at {self.url} is not reachable ({what}): {error}") from error
        except Exception as error:
            status = getattr(error, "status_code", None)
            if status is None:
                raise
            detail = str(getattr(error, "body", "") or "")[:300]
            log.info("Label Studio refused a request", extra={"what": what, "status": status, "detail": detail})
            raise LabelStudioError(f"Label Studio refused {what}: HTTP {status}", detail, status) from error

    # --- projects and tasks -------------------------------------------------------------------
    def get_project(self, project_id: int) -> dict:
        project = self._call(f"reading project {project_id}", self._sdk.projects.get, id=project_id)
        return project.model_dump(mode="json")

    def update_project(self, project_id: int, **fields: Any) -> None:
        self._call(f"updating project {project_id}", self._sdk.projects.update, id=project_id, **fields)

    def iter_tasks(self, project_id: int, with_labels: bool = True) -> Iterator[dict]:
        """Every task of the project, page by page, as plain JSON dicts: its id and data and, `with_labels`,
        its annotations (each with TASK_ANNOTATION_FIELDS). Predictions are not read (`tasks_with_predictions`
        asks which tasks hold a model's). Data is as stored (cloud URIs not resolved), so what is written back
        is what was there."""
        yield from self._tasks(f"listing tasks of project {project_id}", project=project_id,
                               fields="all" if with_labels else "task_only",
                               include=LABELED_TASK_FIELDS if with_labels else "id,data")

    def _tasks(self, what: str, **query: Any) -> Iterator[dict]:
        # `include` names every field Label Studio serializes, the annotations' too (its flex fields apply
        # it to nested serializers): naming only what is used costs about a quarter of reading whole tasks
        # (benchmarks/RESULTS.md 20).
        pager = self._call(what, self._sdk.tasks.list, page_size=TASK_PAGE, resolve_uri=False, **query)
        iterator = iter(pager)
        while True:
            task = self._call(what, next, iterator, None)
            if task is None:
                return
            yield task.model_dump(mode="json", exclude_unset=True)

    def tasks_with_predictions(self, project_id: int, model_version: str) -> set[int]:
        """Ids of the project's tasks that hold a prediction of `model_version` (a re-run writes only the
        missing ones). Label Studio's `contains` takes a list of names (a string would be read as its
        letters) and matches a part of a name: model names must not be parts of each other (the model
        store's model-vN-<hash> are not)."""
        holding = {"conjunction": "and", "items": [{"filter": "filter:tasks:predictions_model_versions",
                                                    "operator": "contains", "type": "List", "value": [model_version]}]}
        return {task["id"] for task in self._tasks(
            f"listing tasks of project {project_id} with predictions of {model_version}", project=project_id,
            fields="task_only", include="id", query=json.dumps({"filters": holding}))}

    def list_tasks(self, project_id: int, with_labels: bool = True) -> list[dict]:
        return list(self.iter_tasks(project_id, with_labels))

    def task_data(self, task_id: int) -> dict:
        """One task's data as it is stored now (cloud URIs not resolved)."""
        task = self._call(f"reading task {task_id}", self._sdk.tasks.get, id=str(task_id),
                          request_options={"additional_query_parameters": {"resolve_uri": False}})
        return dict(task.model_dump(mode="json").get("data") or {})

    def update_task_data(self, task_id: int, data: dict) -> None:
        """Replace a task's data. Label Studio replaces `data` whole: pass every existing field."""
        self._call(f"updating task {task_id}", self._sdk.tasks.update, id=str(task_id), data=data)

    def set_data_field(self, project_id: int, task_ids: Sequence[int], name: str, value_type: str,
                       value: Any) -> None:
        """In one request, set the data field `name` of every task in `task_ids` to `value` (value_type
        "Number" or "String"; Label Studio stores numbers as floats), or apply the expression `value`
        (value_type "Expression", e.g. replace("a", "b")) to it: the Data Manager action add_data_field.
        Only that field changes."""
        self._call(f"setting {name} in {len(task_ids)} task(s) of project {project_id}", self._sdk.actions.create,
                   id="add_data_field", project=project_id, selected_items={"all": False, "included": list(task_ids)},
                   request_options={"additional_body_parameters": {"value_name": name, "value_type": value_type,
                                                                   "value": value}})

    def import_predictions(self, project_id: int, predictions: Sequence[dict], progress=None) -> int:
        """Write predictions ({task, model_version, score, result}) in chunks; returns how many."""
        written, size = 0, prediction_chunk(len(predictions))
        for start in range(0, len(predictions), size):
            chunk = list(predictions[start:start + size])
            self._call(f"importing predictions into project {project_id}",
                       self._sdk.projects.import_predictions, id=project_id, request=chunk,
                       request_options={"timeout": max(IMPORT_TIMEOUT, self.timeout)})
            written += len(chunk)
            if progress:
                progress(written, len(predictions))
        return written

    # --- media files ----------------------------------------------------------------------------
    def _media_token(self) -> str:
        # Files are served outside the API, so the SDK's own requests cannot fetch them. The SDK's token
        # client gives the key to send: the legacy token as it is, or a personal access token exchanged
        # for a current access token (the SDK refreshes it when it expires).
        return self._sdk._client_wrapper._tokens_client.api_key

    def media_fetcher(self, cache_dir: str) -> Callable[[str, Any], str]:
        """(url, task id) -> local copy of a task's file, downloaded under this client's media policy
        (relabel.clients.media) into `cache_dir`: the `MediaFetcher` adapters take."""
        return MediaFetcher(self.media_policy, self._media_token, cache_dir).fetch

    def users(self) -> dict[int, str]:
        """Label Studio's users: id -> e-mail (for the report's annotators; never logged)."""
        users = self._call("listing users", self._sdk.users.list)
        return {user.id: user.email or user.username or f"user {user.id}" for user in users}

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


def prediction_chunk(total: int) -> int:
    """How many predictions one import request carries when `total` are written (PREDICTION_CHUNK)."""
    smallest, largest = PREDICTION_CHUNK
    return min(largest, max(smallest, -(-total // 10)))
