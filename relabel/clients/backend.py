"""The Re-Label backend's own endpoints (jobs, project settings, stored predictions), as the round driver
calls them: the driver reaches the backend only over HTTP."""
from __future__ import annotations

from typing import Sequence

import requests


class BackendError(RuntimeError):
    """The backend is unreachable or answered with an error; the message says which and why. `status` is
    the HTTP status it answered (None: unreachable)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class BackendClient:
    def __init__(self, url: str, basic_auth: tuple[str, str] | None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = basic_auth

    def _request(self, method: str, path: str, **kwargs) -> dict:
        for attempt in (1, 2):
            try:
                response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
                break
            except requests.RequestException as error:
                # The server may close a kept-alive connection just as a request goes out on it (gunicorn
                # drops idle ones after 2 s): GET and PUT are safe to send once more, on a new connection.
                if attempt == 2 or method not in ("GET", "PUT") or not isinstance(error, requests.ConnectionError):
                    raise BackendError(f"the Re-Label backend at {self.url} is not reachable: {error}") from error
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise BackendError(f"the Re-Label backend answered {response.status_code} to {method} {path}: {message}",
                               response.status_code)
        return response.json()

    def health(self) -> dict:
        return self._request("GET", "/health")

    def jobs(self, project_id: int) -> list[dict]:
        return self._request("GET", "/jobs", params={"project": project_id})["jobs"]

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/jobs/{job_id}")["job"]

    def start_job(self, project_id: int, write_predictions: bool = True, **options) -> dict:
        """Start a job: training (the default), or one named by `options` (e.g. compare_dropped)."""
        return self._request("POST", "/jobs", json={"project": project_id, "write_predictions": write_predictions,
                                                    **options})["job"]

    def set_project_settings(self, project_id: int, settings: dict) -> dict:
        return self._request("PUT", f"/projects/{project_id}/settings", json=settings)["effective"]

    def predictions(self, project_id: int, model_version: str, fields: Sequence[str] | None = None) -> dict:
        """A model version's stored outputs; `fields` (e.g. task, target): only those keys of each entry."""
        params = {"model_version": model_version, **({"fields": ",".join(fields)} if fields else {})}
        return self._request("GET", f"/projects/{project_id}/predictions", params=params)

    def acquire_round_lock(self, project_id: int, holder: str, ttl: float) -> dict:
        """The project's round lock (with its token); BackendError status 409 names who holds it."""
        return self._request("POST", f"/projects/{project_id}/round-lock", json={"holder": holder, "ttl": ttl})["lock"]

    def renew_round_lock(self, project_id: int, token: str, ttl: float) -> dict:
        return self._request("PUT", f"/projects/{project_id}/round-lock", json={"token": token, "ttl": ttl})["lock"]

    def release_round_lock(self, project_id: int, token: str) -> bool:
        return self._request("DELETE", f"/projects/{project_id}/round-lock", json={"token": token})["released"]

    def rounds(self, project_id: int) -> list[dict]:
        """The project's completed rounds' reports, oldest first."""
        return self._request("GET", f"/projects/{project_id}/rounds")["rounds"]

    def save_round(self, project_id: int, report: dict) -> None:
        self._request("PUT", f"/projects/{project_id}/rounds/{report['round']}", json=report)
