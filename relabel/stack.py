"""Start Label Studio, the Re-Label backend, its training workers, Redis and PostgreSQL as local
processes (the demo, the tests and the load benchmarks use this).

The commands are the ones docker-compose.yml runs, so testing them here tests the deployment
without Docker. Label Studio runs from its own virtual environment, so its pins never fight the ML
stack's: LABEL_STUDIO_BIN, else .venv-ls/bin/label-studio under the current folder (where
scripts/setup.sh puts it), else `label-studio` on the PATH. PostgreSQL and Redis come from Debian's
packages (postgresql, redis-server).
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

#: where scripts/setup.sh installs Label Studio, relative to the checkout it runs in
SETUP_LABEL_STUDIO_BIN = Path(".venv-ls") / "bin" / "label-studio"


def label_studio_binary() -> Path:
    """The label-studio executable to run (see the module docstring); RuntimeError saying how to get one."""
    if os.environ.get("LABEL_STUDIO_BIN"):
        return Path(os.environ["LABEL_STUDIO_BIN"])
    if SETUP_LABEL_STUDIO_BIN.exists():
        return SETUP_LABEL_STUDIO_BIN.resolve()
    found = shutil.which("label-studio")
    if found:
        return Path(found)
    raise RuntimeError("Label Studio is not installed: run scripts/setup.sh (it installs .venv-ls), "
                       "or point LABEL_STUDIO_BIN at a label-studio executable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _spawn(name: str, command: list[str], env: dict, log_path: Path, cwd: Path) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                            start_new_session=True)


def _wait_until_ready(service: Service, is_ready, what: str, timeout: float, poll: float) -> None:
    """Poll `is_ready()` until it holds; fail with the service's last log lines if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with code {service.process.returncode}; "
                               f"last lines of {service.log_path}:\n{service.log_tail()}")
        if is_ready():
            return
        time.sleep(poll)
    service.stop()
    raise RuntimeError(f"{service.name} did not {what} within {timeout:.0f} s; "
                       f"last lines of {service.log_path}:\n{service.log_tail()}")


def wait_for_port(service: Service, port: int, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:port (PostgreSQL, Redis)."""
    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    _wait_until_ready(service, listening, f"listen on port {port}", timeout, poll=0.2)


def wait_healthy(service: Service, path: str, timeout: float) -> None:
    def healthy() -> bool:
        try:
            return requests.get(service.url + path, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    _wait_until_ready(service, healthy, f"answer {path}", timeout, poll=1)


#: the reserved address ranges Label Studio refuses to call (webhooks, ML backends, storages, URL imports),
#: in place of its default list: that one holds the private and loopback ranges where the backend listens.
#: docker-compose.yml sets this list and loopback (there the backend has a private address).
LABEL_STUDIO_BANNED_SUBNETS = ("0.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24",
                               "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
                               "255.255.255.255/32", "fe80::/10", "ff00::/8")


#: Label Studio 1.23's own faster prediction import (its feature flag, off by default): it recounts only the
#: tasks a request writes to, where the default path recounts every task of the project on each request
#: (a 2,000-prediction request took 13 s in a 100,000-task project, 1.8 s with the flag; RESULTS.md 20).
PREDICTION_IMPORT_FLAG = "fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short"


def label_studio_environment(data_dir: Path) -> dict:
    """Environment for a local Label Studio whose SSRF protection stays on, but lets it call an ML backend
    on 127.0.0.1."""
    return {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "SSRF_PROTECTION_ENABLED": "true",
            "USE_DEFAULT_BANNED_SUBNETS": "false", "USER_ADDITIONAL_BANNED_SUBNETS": ",".join(LABEL_STUDIO_BANNED_SUBNETS),
            "LATEST_VERSION_CHECK": "false", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            PREDICTION_IMPORT_FLAG: "true"}


def postgres_environment(database_url: str) -> dict:
    """Label Studio's database settings for a postgresql://user@host:port/name URL (docker-compose.yml sets the same)."""
    from urllib.parse import urlsplit

    parts = urlsplit(database_url)
    return {"DJANGO_DB": "default", "POSTGRE_NAME": parts.path.lstrip("/"), "POSTGRE_USER": parts.username or "",
            "POSTGRE_PASSWORD": parts.password or "", "POSTGRE_HOST": parts.hostname or "",
            "POSTGRE_PORT": str(parts.port or 5432)}


def start_label_studio(data_dir: Path, port: int, username: str, password: str, token: str,
                       log_path: Path, timeout: float = 300, database_url: str | None = None,
                       extra_env: dict | None = None) -> Service:
    """Label Studio on 127.0.0.1:port; the user's legacy API token is `token`. Its database is SQLite
    under data_dir, or the PostgreSQL database at `database_url` (uploaded files stay under data_dir).
    `extra_env` goes over label_studio_environment (e.g. a feature flag off)."""
    binary = label_studio_binary()
    if not binary.exists():
        raise RuntimeError(f"Label Studio is not installed at {binary}: run scripts/setup.sh, "
                           f"or point LABEL_STUDIO_BIN at a label-studio executable")
    command = [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(data_dir), "--username", username, "--password", password,
               "--user-token", token, "--enable-legacy-api-token"]
    env = label_studio_environment(data_dir)
    if database_url:
        env.update(postgres_environment(database_url))
    env.update(extra_env or {})
    process = _spawn("Label Studio", command, env, log_path, data_dir.parent)
    service = Service("Label Studio", f"http://127.0.0.1:{port}", process, log_path)
    wait_healthy(service, "/health", timeout)
    return service


def backend_command(host: str, port: int) -> list[str]:
    """The backend's server command, as docker-compose.yml runs it."""
    return [sys.executable, "-m", "relabel.backend", "--host", host, "--port", str(port)]


def worker_command() -> list[str]:
    """A training worker's command (RQ), as docker-compose.yml runs it."""
    return [sys.executable, "-m", "relabel.backend.worker"]


#: torch's OpenMP threads sleep, not spin, while they wait: the backend and its training worker share the CPUs,
#: and a spinning thread holds a core another process needs (30 NER training steps beside a busy torch process:
#: 26.1 s spinning, 10.3 s sleeping; 9.3 and 8.7 s alone; benchmarks/RESULTS.md 33). The Dockerfile sets the same.
OPENMP_WAIT = {"OMP_WAIT_POLICY": "PASSIVE"}


def _backend_environment(label_studio_url: str, api_key: str, model_dir: Path, extra_env: dict | None) -> dict:
    return {**OPENMP_WAIT, **os.environ, "LABEL_STUDIO_URL": label_studio_url, "LABEL_STUDIO_API_KEY": api_key,
            "MODEL_DIR": str(model_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(extra_env or {})}


def start_backend(port: int, label_studio_url: str, api_key: str, model_dir: Path, log_path: Path,
                  extra_env: dict | None = None, timeout: float = 120) -> Service:
    env = _backend_environment(label_studio_url, api_key, model_dir, extra_env)
    process = _spawn("Re-Label backend", backend_command("127.0.0.1", port), env, log_path, log_path.parent)
    service = Service("Re-Label backend", f"http://127.0.0.1:{port}", process, log_path)
    wait_healthy(service, "/health", timeout)
    return service


def start_worker(label_studio_url: str, api_key: str, model_dir: Path, redis_url: str, log_path: Path,
                 extra_env: dict | None = None) -> Service:
    """A training worker taking jobs from the Redis queue at redis_url (it has no HTTP port: its health
    is the heartbeat of the jobs it runs)."""
    env = _backend_environment(label_studio_url, api_key, model_dir, {"REDIS_URL": redis_url, **(extra_env or {})})
    process = _spawn("training worker", worker_command(), env, log_path, log_path.parent)
    return Service("training worker", redis_url, process, log_path)


def _debian_binary(name: str, package: str) -> str:
    """A server binary from PATH or, for PostgreSQL, Debian's versioned folder (not on PATH)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(f"{name} is not installed: install Debian's '{package}' package "
                           f"(scripts/test.sh does when run as root)")
    return found


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; CI runs as root, so its servers run as Debian's 'postgres' user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_redis(port: int, log_path: Path, password: str | None = None) -> Service:
    """A throw-away Redis on 127.0.0.1:port that keeps nothing on disk; with `password` required (as
    docker-compose.yml runs it), and in the service's URL."""
    command = [_debian_binary("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", *(["--requirepass", password] if password else [])]
    url = f"redis://:{password}@127.0.0.1:{port}/0" if password else f"redis://127.0.0.1:{port}/0"
    service = Service("Redis", url, _spawn("Redis", command, dict(os.environ), log_path, log_path.parent), log_path)
    wait_for_port(service, port, 30)
    return service


def start_postgres(data_dir: Path, port: int, log_path: Path, database: str = "labelstudio") -> Service:
    """A throw-away PostgreSQL cluster under data_dir on 127.0.0.1:port, with an empty `database`.
    Trust authentication on loopback and no fsync: for tests and demos, not for keeping data."""
    initdb, postgres, createdb = (_debian_binary(name, "postgresql") for name in ("initdb", "postgres", "createdb"))
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    subprocess.run(_as_postgres_user([initdb, "-D", str(data_dir), "-U", "relabel", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    command = _as_postgres_user([postgres, "-D", str(data_dir), "-p", str(port), "-k", str(data_dir),
                                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
    service = Service("PostgreSQL", f"postgresql://relabel@127.0.0.1:{port}/{database}",
                      _spawn("PostgreSQL", command, dict(os.environ), log_path, data_dir.parent), log_path)
    wait_for_port(service, port, 60)
    subprocess.run([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "relabel", database],
                   check=True, capture_output=True)
    return service
