"""Fixtures that start the real parts, as docker-compose.yml runs them: PostgreSQL, Label Studio on it
(its own virtualenv), the backend; Redis for the training queue.

Every integration test checks the invariant that human annotations are never changed or deleted:
a trigger in Label Studio's database records any change to an existing annotation row (its table
`task_completion`), and the record must stay empty.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from relabel.stack import Service, free_port, start_backend, start_label_studio, start_postgres, start_redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Label Studio as scripts/setup.sh installs it, in this checkout's own virtual environment
os.environ.setdefault("LABEL_STUDIO_BIN", str(Path(__file__).resolve().parent.parent / ".venv-ls" / "bin" / "label-studio"))


AUDIT_TABLE = "relabel_annotation_changes"
# Any UPDATE that changes an annotation row, and any DELETE, is written down.
AUDIT_SQL = f"""
CREATE TABLE {AUDIT_TABLE} (operation text, annotation_id integer, old_row jsonb, new_row jsonb);
CREATE FUNCTION relabel_record_annotation_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO {AUDIT_TABLE} VALUES ('DELETE', OLD.id, to_jsonb(OLD), NULL);
    RETURN OLD;
  END IF;
  IF to_jsonb(OLD) IS DISTINCT FROM to_jsonb(NEW) THEN
    INSERT INTO {AUDIT_TABLE} VALUES ('UPDATE', OLD.id, to_jsonb(OLD), to_jsonb(NEW));
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER relabel_annotation_changes AFTER UPDATE OR DELETE ON task_completion
  FOR EACH ROW EXECUTE FUNCTION relabel_record_annotation_change();
"""


def psql(database_url: str, sql: str) -> str:
    return subprocess.run(["psql", database_url, "-v", "ON_ERROR_STOP=1", "-Atc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


@dataclass
class LabelStudioServer:
    url: str
    token: str
    username: str
    password: str
    database_url: str = ""
    start_service: Callable[[], Service] | None = field(default=None, repr=False)
    service: Service | None = field(default=None, repr=False)

    def sdk(self):
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token)

    def stop(self) -> None:
        self.service.stop()

    def start(self) -> None:
        """Start it (again, after stop(): same port, same database)."""
        self.service = self.start_service()
        self.url = self.service.url

    def take_annotation_changes(self) -> list[str]:
        """Changes to or deletions of human annotations since the last call (there should be none)."""
        rows = psql(self.database_url, f"WITH taken AS (DELETE FROM {AUDIT_TABLE} RETURNING *) "
                                       f"SELECT operation || ' annotation ' || annotation_id || ': ' || "
                                       f"old_row::text || ' -> ' || coalesce(new_row::text, '(deleted)') FROM taken")
        return rows.splitlines() if rows else []


@pytest.fixture(scope="session")
def postgres() -> Service:
    # PostgreSQL runs as the 'postgres' user when tests run as root: its folder lies outside pytest's private tmp.
    root = Path(tempfile.mkdtemp(prefix="relabel-postgres-"))
    root.chmod(0o755)
    service = start_postgres(root / "data", free_port(), root / "postgres.log")
    yield service
    service.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Service:
    service = start_redis(free_port(), tmp_path_factory.mktemp("redis") / "redis.log")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory, postgres) -> LabelStudioServer:
    root = tmp_path_factory.mktemp("label-studio")
    token = secrets.token_hex(20)
    server = LabelStudioServer(url="", token=token, username="tester@example.com", password="relabel-test-pw",
                               database_url=postgres.url)
    port = free_port()
    server.start_service = lambda: start_label_studio(root / "data", port, server.username, server.password, token,
                                                      root / "label-studio.log", database_url=postgres.url)
    server.start()
    psql(postgres.url, AUDIT_SQL)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def human_annotations_unchanged(request):
    """After every integration test: no human annotation was changed or deleted, by anything."""
    yield
    if request.node.get_closest_marker("integration") and "label_studio" in request.fixturenames:
        changes = request.getfixturevalue("label_studio").take_annotation_changes()
        assert not changes, "human annotations were changed or deleted:\n" + "\n".join(changes[:5])


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
