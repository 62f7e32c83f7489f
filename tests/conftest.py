"""Fixtures that start the real parts: Label Studio (SQLite, its own virtualenv) and the backend."""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.services import free_port, start_backend, start_label_studio  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass
class LabelStudioServer:
    url: str
    token: str
    username: str
    password: str

    def sdk(self):
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LabelStudioServer:
    root = tmp_path_factory.mktemp("label-studio")
    token = secrets.token_hex(20)
    server = LabelStudioServer(url="", token=token, username="tester@example.com", password="relabel-test-pw")
    service = start_label_studio(root / "data", free_port(), server.username, server.password, token,
                                 root / "label-studio.log")
    server.url = service.url
    yield server
    service.stop()


@dataclass
class BackendServer:
    url: str
    model_dir: Path
    log_path: Path


@pytest.fixture(scope="session")
def backend(label_studio, tmp_path_factory) -> BackendServer:
    root = tmp_path_factory.mktemp("backend")
    service = start_backend(free_port(), label_studio.url, label_studio.token, root / "models", root / "backend.log")
    yield BackendServer(service.url, root / "models", service.log_path)
    service.stop()
