"""One round at a time per project: a lease the round driver takes from the backend before it starts.

Two round drivers on one project would take the same round number, mix tags from two snapshots and
make two tabs; the second one is told who runs the round and since when. The lease lapses unless
its holder renews it (a driver that died does not block the project for ever). With REDIS_URL the
lease lives in Redis, so every backend process and machine of a deployment sees the same one;
without it, the one backend process keeps its leases in memory: a restart ends them (the driver of a
round then running finds its lock gone at its next renewal, and writes nothing more), and a driver
that died with the backend does not block the re-run.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Protocol

#: (shortest, longest) lease a driver may ask for, in seconds
TTL_BOUNDS = (10, 3600)


class RoundLockHeld(Exception):
    """Someone else holds the project's round lock; `lock` says who and since when (without its token)."""

    def __init__(self, project_id: int, lock: dict):
        self.lock = public(lock)
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(lock["since"]))
        lapses = max(0, round(lock["expires_at"] - time.time()))
        super().__init__(f"project {project_id}'s round is being run by {lock['holder']} since {since}; its lock "
                         f"lapses in {lapses} s unless that run renews it")


class RoundLockLost(Exception):
    """The caller's token does not hold the project's lock (it lapsed, or was never taken)."""


def public(lock: dict) -> dict:
    return {key: value for key, value in lock.items() if key != "token"}


def new_lock(project_id: int, holder: str, ttl: float) -> dict:
    now = time.time()
    return {"project": project_id, "holder": holder, "since": now, "expires_at": now + ttl,
            "token": secrets.token_hex(16)}


class RoundLocks(Protocol):
    def held(self, project_id: int) -> dict | None:
        """The lock that has not lapsed, or None."""

    def acquire(self, project_id: int, holder: str, ttl: float) -> dict:
        """The new lock, with its token; RoundLockHeld when someone else holds one that has not lapsed."""

    def renew(self, project_id: int, token: str, ttl: float) -> dict:
        """The lock, `ttl` seconds from now; RoundLockLost when `token` does not hold it."""

    def release(self, project_id: int, token: str) -> bool:
        """Give the lock back; False when `token` did not hold it."""


class LocalRoundLocks:
    """Leases in this process's memory, for the one backend process of an embedded deployment."""

    def __init__(self):
        self._locks: dict[int, dict] = {}
        self._lock = threading.Lock()

    def held(self, project_id: int) -> dict | None:
        lock = self._locks.get(project_id)
        return dict(lock) if lock and lock["expires_at"] > time.time() else None

    def acquire(self, project_id: int, holder: str, ttl: float) -> dict:
        with self._lock:
            held = self.held(project_id)
            if held is not None:
                raise RoundLockHeld(project_id, held)
            lock = self._locks[project_id] = new_lock(project_id, holder, ttl)
            return dict(lock)

    def renew(self, project_id: int, token: str, ttl: float) -> dict:
        with self._lock:
            held = self.held(project_id)
            if held is None or not secrets.compare_digest(held["token"], token):
                raise RoundLockLost(f"project {project_id}'s round lock is not held by this run (it lapsed)")
            self._locks[project_id]["expires_at"] = time.time() + ttl
            return dict(self._locks[project_id])

    def release(self, project_id: int, token: str) -> bool:
        with self._lock:
            held = self.held(project_id)
            if held is None or not secrets.compare_digest(held["token"], token):
                return False
            del self._locks[project_id]
            return True


# Redis scripts: a check of the token and the change it allows, in one atomic step.
_RENEW = """
local held = redis.call('GET', KEYS[1])
if not held then return nil end
local lock = cjson.decode(held)
if lock['token'] ~= ARGV[1] then return nil end
lock['expires_at'] = tonumber(ARGV[3])
local renewed = cjson.encode(lock)
redis.call('SET', KEYS[1], renewed, 'PX', ARGV[2])
return renewed
"""
_RELEASE = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
if cjson.decode(held)['token'] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisRoundLocks:
    """Leases in Redis, shared by every backend process and machine that uses it."""

    def __init__(self, connection):
        self.connection = connection
        self._renew = connection.register_script(_RENEW)
        self._release = connection.register_script(_RELEASE)

    @staticmethod
    def _key(project_id: int) -> str:
        return f"relabel:round-lock:{project_id}"

    def held(self, project_id: int) -> dict | None:
        held = self.connection.get(self._key(project_id))
        return json.loads(held) if held else None

    def acquire(self, project_id: int, holder: str, ttl: float) -> dict:
        lock = new_lock(project_id, holder, ttl)
        if self.connection.set(self._key(project_id), json.dumps(lock), nx=True, px=int(ttl * 1000)):
            return lock
        held = self.connection.get(self._key(project_id))
        if held is None:  # it lapsed just now: try once more
            return self.acquire(project_id, holder, ttl)
        raise RoundLockHeld(project_id, json.loads(held))

    def renew(self, project_id: int, token: str, ttl: float) -> dict:
        renewed = self._renew(keys=[self._key(project_id)], args=[token, int(ttl * 1000), time.time() + ttl])
        if renewed is None:
            raise RoundLockLost(f"project {project_id}'s round lock is not held by this run (it lapsed)")
        return json.loads(renewed)

    def release(self, project_id: int, token: str) -> bool:
        return bool(self._release(keys=[self._key(project_id)], args=[token]))
