"""The project's round lock, held while a round runs: one round driver at a time per project.

The backend keeps the lock (across all its processes and machines, see relabel.backend.round_locks);
this side takes it, renews it in the background while the round works, and gives it back at the end.
A run that lost it (it could not renew in time) stops before it writes tags or tabs.
"""
from __future__ import annotations

import getpass
import logging
import os
import socket
import threading

from relabel.clients.backend import BackendClient, BackendError
from relabel.rounds.errors import RoundError

log = logging.getLogger(__name__)

#: seconds the lock lasts unless renewed; renewed every third of it
LOCK_TTL = 300.0


def holder_name() -> str:
    """Who runs this round, as the second run's error names it: user, machine and process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} (process {os.getpid()})"


class RoundLock:
    """`with RoundLock(backend, project_id): ...` holds the project's round lock for the block."""

    def __init__(self, backend: BackendClient, project_id: int, ttl: float = LOCK_TTL):
        self.backend, self.project_id, self.ttl = backend, project_id, ttl
        self.token: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()

    def __enter__(self) -> "RoundLock":
        try:
            self.token = self.backend.acquire_round_lock(self.project_id, holder_name(), self.ttl)["token"]
        except BackendError as error:
            if error.status == 409:
                raise RoundError(f"another round is running: {str(error).split(': ', 1)[-1]}") from None
            raise
        threading.Thread(target=self._renew, name=f"round-lock-{self.project_id}", daemon=True).start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.backend.renew_round_lock(self.project_id, self.token, self.ttl)
            except BackendError as error:
                if error.status == 409:  # it lapsed: someone else may hold it now
                    self.lost = str(error)
                    return
                log.debug("round lock not renewed this time", extra={"reason": str(error)})

    def check(self) -> None:
        """RoundError when the lock was lost: the round must not write to Label Studio any more."""
        if self.lost:
            raise RoundError(f"this round lost its lock on project {self.project_id} ({self.lost}); nothing more "
                             f"was written: run it again")

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self.token and not self.lost:
            try:
                self.backend.release_round_lock(self.project_id, self.token)
            except BackendError as error:  # it lapses by itself
                log.debug("round lock not released", extra={"reason": str(error)})
