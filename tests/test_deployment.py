"""docker-compose.yml runs the commands the tests run without Docker (relabel/stack.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from relabel.backend.config import Settings
from relabel.stack import (PREDICTION_IMPORT_FLAG, backend_command, label_studio_environment, postgres_environment,
                           worker_command)

COMPOSE = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())


def test_backend_service_runs_the_tested_command():
    assert COMPOSE["services"]["backend"]["command"] == ["python", "-m", "relabel.backend", "--host", "0.0.0.0",
                                                         "--port", "9090"]
    assert backend_command("0.0.0.0", 9090)[1:] == COMPOSE["services"]["backend"]["command"][1:]


def test_label_studio_keeps_its_ssrf_protection_and_reaches_the_backend_like_the_tests():
    service = COMPOSE["services"]["label-studio"]
    assert service["image"] == "heartexlabs/label-studio:1.23.2"
    assert "--enable-legacy-api-token" in service["command"]
    tested = label_studio_environment(Path("/tmp"))
    environment = service["environment"]
    assert environment["SSRF_PROTECTION_ENABLED"] == tested["SSRF_PROTECTION_ENABLED"] == "true"
    assert "ML_BLOCK_LOCAL_IP" not in environment and "ML_BLOCK_LOCAL_IP" not in tested  # its default: on
    assert environment["USE_DEFAULT_BANNED_SUBNETS"] == tested["USE_DEFAULT_BANNED_SUBNETS"] == "false"
    # the same reserved ranges, and in compose loopback too (the tests' backend listens on it)
    banned = environment["USER_ADDITIONAL_BANNED_SUBNETS"].split(",")
    assert set(banned) - set(tested["USER_ADDITIONAL_BANNED_SUBNETS"].split(",")) == {"127.0.0.0/8", "::1/128"}
    assert "169.254.0.0/16" in banned and not {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} & set(banned)
    assert environment["LATEST_VERSION_CHECK"] == tested["LATEST_VERSION_CHECK"] == "false"
    assert environment[PREDICTION_IMPORT_FLAG] == tested[PREDICTION_IMPORT_FLAG] == "true"


def test_compose_publishes_on_loopback_and_requires_every_secret():
    services = COMPOSE["services"]
    assert services["backend"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["label-studio"]["ports"] == ["${LABEL_STUDIO_PUBLISH:-127.0.0.1}:8080:8080"]
    environment = services["backend"]["environment"]
    assert environment["BASIC_AUTH_USER"].endswith(":?set BASIC_AUTH_USER}")
    assert environment["BASIC_AUTH_PASS"].endswith(":?set BASIC_AUTH_PASS}")
    assert environment["REDIS_URL"] == "redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD}@redis:6379/0"
    assert services["redis"]["command"][-2:] == ["--requirepass", "${REDIS_PASSWORD:?set REDIS_PASSWORD}"]
    assert "ports" not in services["redis"] and "ports" not in services["postgres"]


def test_worker_service_runs_the_tested_command_with_the_backends_settings():
    worker = COMPOSE["services"]["worker"]
    assert worker["command"] == ["python", "-m", "relabel.backend.worker"] == ["python", *worker_command()[1:]]
    backend = COMPOSE["services"]["backend"]
    assert worker["build"] == backend["build"] and worker["volumes"] == backend["volumes"]
    shared = {name: value for name, value in backend["environment"].items()
              if name not in ("BASIC_AUTH_USER", "BASIC_AUTH_PASS", "RELABEL_WEB_WORKERS")}
    assert worker["environment"] == shared and shared["REDIS_URL"].endswith("@redis:6379/0")
    assert COMPOSE["services"]["redis"]["command"][0] == "redis-server"


def test_label_studio_service_uses_postgresql_like_the_tests():
    environment = COMPOSE["services"]["label-studio"]["environment"]
    tested = postgres_environment("postgresql://labelstudio:pw@postgres:5432/labelstudio")
    assert {name: environment[name] for name in tested if name != "POSTGRE_PASSWORD"} == \
           {name: value for name, value in tested.items() if name != "POSTGRE_PASSWORD"}
    postgres = COMPOSE["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_DB"] == environment["POSTGRE_NAME"] and postgres["POSTGRES_USER"] == environment["POSTGRE_USER"]
    assert postgres["POSTGRES_PASSWORD"] == environment["POSTGRE_PASSWORD"]


def test_backend_service_defaults_are_the_backends_own():
    environment = COMPOSE["services"]["backend"]["environment"]
    assert environment["RELABEL_WEB_WORKERS"] == "${RELABEL_WEB_WORKERS:-2}"  # python -m relabel.backend's with REDIS_URL
    assert environment["RELABEL_FOLD_JOBS"] == "${RELABEL_FOLD_JOBS:-1}" and Settings.fold_jobs is True
    defaults = {"RELABEL_JOB_TIMEOUT": Settings.job_timeout,
                "RELABEL_JOB_HEARTBEAT_TIMEOUT": int(Settings.job_heartbeat_timeout),"RELABEL_FOLDS": Settings.n_folds, "RELABEL_REPEATS": Settings.n_repeats,
                "RELABEL_PREDICTION_SOURCE": Settings.prediction_source, "RELABEL_TEXT_MODE": Settings.text_mode,
                "RELABEL_NER_EPOCHS": Settings.ner_epochs, "RELABEL_DEVICE": Settings.device,
                "RELABEL_IMAGE_MODEL": Settings.image_model, "RELABEL_IMAGE_EPOCHS": Settings.image_epochs,
                "RELABEL_IMAGE_SIZE": Settings.image_size, "RELABEL_DETECTION_MODEL": Settings.detection_model,
                "RELABEL_DETECTION_EPOCHS": Settings.detection_epochs, "RELABEL_DETECTION_SIZE": Settings.detection_size,
                "RELABEL_GENERATION_MODEL": Settings.generation_model,
                "RELABEL_GENERATION_EPOCHS": Settings.generation_epochs, "RELABEL_CTR_FEATURES": Settings.ctr_features,
                "RELABEL_CTR_LABEL_FIELD": Settings.ctr_label_field, "RELABEL_CTR_EPOCHS": Settings.ctr_epochs,
                "RELABEL_CTR_CATEGORICAL_FIELDS": Settings.ctr_categorical_fields,
                "RELABEL_FIT_PROCESSES": Settings.fit_processes}
    for name, default in defaults.items():
        assert environment[name] == f"${{{name}:-{'' if default is None else default}}}", name


def test_several_backend_processes_need_the_queue():
    environment = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    refused = subprocess.run([sys.executable, "-m", "relabel.backend", "--workers", "2"], env=environment,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "need REDIS_URL" in refused.stderr


def test_the_backend_and_its_worker_let_waiting_torch_threads_sleep_as_the_image_does(monkeypatch):
    from relabel.stack import OPENMP_WAIT, _backend_environment

    dockerfile = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text()
    assert all(f"{name}={value}" in dockerfile for name, value in OPENMP_WAIT.items())
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert _backend_environment("http://ls", "t", Path("m"), None)["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a person's own choice wins
    assert _backend_environment("http://ls", "t", Path("m"), None)["OMP_WAIT_POLICY"] == "ACTIVE"
