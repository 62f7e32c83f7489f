"""Start Label Studio and the Re-Label backend as local processes (the demo and the tests use this).

The commands are the ones docker-compose.yml runs, so testing them here tests the deployment
without Docker. Label Studio runs from its own virtual environment (LABEL_STUDIO_BIN), so its pins
never fight the ML stack's.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LABEL_STUDIO_BIN = REPO_ROOT / ".venv-ls" / "bin" / "label-studio"


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


def wait_healthy(service: Service, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with code {service.process.returncode}; "
                               f"last lines of {service.log_path}:\n{service.log_tail()}")
        try:
            if requests.get(service.url + path, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    service.stop()
    raise RuntimeError(f"{service.name} did not answer {path} within {timeout:.0f} s; "
                       f"last lines of {service.log_path}:\n{service.log_tail()}")


def label_studio_environment(data_dir: Path) -> dict:
    """Environment for a local Label Studio that may call an ML backend on 127.0.0.1."""
    return {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "ML_BLOCK_LOCAL_IP": "false",
            "SSRF_PROTECTION_ENABLED": "false", "LATEST_VERSION_CHECK": "false",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}


def start_label_studio(data_dir: Path, port: int, username: str, password: str, token: str,
                       log_path: Path, timeout: float = 300) -> Service:
    """Label Studio on 127.0.0.1:port with SQLite under data_dir; the user's legacy API token is `token`."""
    binary = Path(os.environ.get("LABEL_STUDIO_BIN", DEFAULT_LABEL_STUDIO_BIN))
    if not binary.exists():
        raise RuntimeError(f"Label Studio is not installed at {binary}: run scripts/setup.sh, "
                           f"or point LABEL_STUDIO_BIN at a label-studio executable")
    command = [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(data_dir), "--username", username, "--password", password,
               "--user-token", token, "--enable-legacy-api-token"]
    process = _spawn("Label Studio", command, label_studio_environment(data_dir), log_path, data_dir.parent)
    service = Service("Label Studio", f"http://127.0.0.1:{port}", process, log_path)
    wait_healthy(service, "/health", timeout)
    return service


def backend_command(host: str, port: int) -> list[str]:
    """The backend's server command, as docker-compose.yml runs it."""
    return [sys.executable, "-m", "backend", "--host", host, "--port", str(port)]


def start_backend(port: int, label_studio_url: str, api_key: str, model_dir: Path, log_path: Path,
                  extra_env: dict | None = None, timeout: float = 120) -> Service:
    env = {**os.environ, "LABEL_STUDIO_URL": label_studio_url, "LABEL_STUDIO_API_KEY": api_key,
           "MODEL_DIR": str(model_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(extra_env or {})}
    process = _spawn("Re-Label backend", backend_command("127.0.0.1", port), env, log_path, REPO_ROOT)
    service = Service("Re-Label backend", f"http://127.0.0.1:{port}", process, log_path)
    wait_healthy(service, "/health", timeout)
    return service
