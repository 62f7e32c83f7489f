"""docker-compose.yml runs the commands the tests run without Docker (scripts/services.py)."""
from __future__ import annotations

from pathlib import Path

import yaml

from backend.config import Settings
from scripts.services import backend_command, label_studio_environment

COMPOSE = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())


def test_backend_service_runs_the_tested_command():
    assert COMPOSE["services"]["backend"]["command"] == ["python", "-m", "backend", "--host", "0.0.0.0", "--port", "9090"]
    assert backend_command("0.0.0.0", 9090)[1:] == COMPOSE["services"]["backend"]["command"][1:]


def test_label_studio_service_allows_the_local_backend_like_the_tests():
    service = COMPOSE["services"]["label-studio"]
    assert service["image"] == "heartexlabs/label-studio:1.23.2"
    assert "--enable-legacy-api-token" in service["command"]
    tested = label_studio_environment(Path("/tmp"))
    for name in ("ML_BLOCK_LOCAL_IP", "SSRF_PROTECTION_ENABLED", "LATEST_VERSION_CHECK"):
        assert service["environment"][name] == tested[name] == "false"


def test_backend_service_defaults_are_the_backends_own():
    environment = COMPOSE["services"]["backend"]["environment"]
    defaults = {"RELABEL_FOLDS": Settings.n_folds, "RELABEL_REPEATS": Settings.n_repeats,
                "RELABEL_PREDICTION_SOURCE": Settings.prediction_source, "RELABEL_TEXT_MODE": Settings.text_mode,
                "RELABEL_NER_EPOCHS": Settings.ner_epochs, "RELABEL_DEVICE": Settings.device,
                "RELABEL_IMAGE_MODEL": Settings.image_model, "RELABEL_IMAGE_EPOCHS": Settings.image_epochs,
                "RELABEL_IMAGE_SIZE": Settings.image_size, "RELABEL_DETECTION_MODEL": Settings.detection_model,
                "RELABEL_DETECTION_EPOCHS": Settings.detection_epochs, "RELABEL_DETECTION_SIZE": Settings.detection_size,
                "RELABEL_GENERATION_MODEL": Settings.generation_model,
                "RELABEL_GENERATION_EPOCHS": Settings.generation_epochs, "RELABEL_CTR_FEATURES": Settings.ctr_features,
                "RELABEL_CTR_LABEL_FIELD": Settings.ctr_label_field, "RELABEL_CTR_EPOCHS": Settings.ctr_epochs,
                "RELABEL_CTR_CATEGORICAL_FIELDS": Settings.ctr_categorical_fields}
    for name, default in defaults.items():
        assert environment[name] == f"${{{name}:-{'' if default is None else default}}}", name
