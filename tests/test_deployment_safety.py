"""Safe to deploy: authentication where it matters, /setup cannot re-point the backend, answers give
nothing away, logs hold no secret, and no setting or request asks for unbounded work."""
from __future__ import annotations

import base64
import hmac
import logging
import os
import subprocess
import sys

import pytest

from relabel.backend import auth
from relabel.backend.app import create_app
from relabel.backend.config import Settings
from relabel.backend.logs import JsonFormatter, add_secret, redact
from relabel.backend.service import Backend
from relabel.demo.data import LABEL_CONFIG
from relabel.stack import free_port


def client_for(tmp_path, **settings):
    return create_app(Settings(label_studio_url=f"http://127.0.0.1:{free_port()}", model_dir=str(tmp_path),
                               **settings)).test_client()


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_half_set_or_empty_credentials_are_refused_at_start():
    for user, password in (("relabel", ""), ("", "s3cret-password")):
        with pytest.raises(ValueError, match="BASIC_AUTH_USER and BASIC_AUTH_PASS must be set together"):
            Settings(basic_auth_user=user, basic_auth_pass=password)
    Settings(basic_auth_user="relabel", basic_auth_pass="s3cret-password")  # both: fine
    Settings()  # neither: no basic auth (then only on loopback)


def test_non_ascii_credentials_are_compared_as_bytes(tmp_path):
    client = client_for(tmp_path, basic_auth_user="zoë", basic_auth_pass="pässwörd-ü")
    assert client.get("/versions?project=1", headers=basic("zoë", "pässwörd-ü")).status_code == 200
    for user, password in (("zoë", "passwörd-ü"), ("zoe", "pässwörd-ü"), ("ä", "ö")):
        answer = client.get("/versions?project=1", headers=basic(user, password))
        assert answer.status_code == 401 and answer.get_json() == {"error": "authentication required"}
    raw_latin1 = {"Authorization": "Basic " + base64.b64encode("zoë:pässwörd-ü".encode("latin-1")).decode()}
    assert client.get("/versions?project=1", headers=raw_latin1).status_code == 401


def test_both_fields_are_always_compared(monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    settings = Settings(basic_auth_user="relabel", basic_auth_pass="s3cret-password")
    assert not auth.credentials_match("wrong-user", "s3cret-password", settings)
    assert len(compared) == 2 and all(isinstance(a, bytes) for a, _ in compared)


def run_backend(arguments: list[str], **environment) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BASIC_AUTH", "RELABEL_", "REDIS_URL"))}
    return subprocess.run([sys.executable, "-m", "relabel.backend", *arguments], env={**env, **environment},
                          capture_output=True, text=True, timeout=60)


def test_the_backend_refuses_a_network_address_without_credentials():
    refused = run_backend(["--host", "0.0.0.0", "--port", str(free_port())])
    assert refused.returncode == 2
    for name in ("BASIC_AUTH_USER", "BASIC_AUTH_PASS", "RELABEL_ALLOW_UNAUTHENTICATED", "127.0.0.1"):
        assert name in refused.stderr
    half = run_backend(["--host", "127.0.0.1"], BASIC_AUTH_PASS="only-a-password")
    assert half.returncode == 2 and "must be set together" in half.stderr
    # gunicorn started by hand gets the same refusal
    direct = subprocess.run([sys.executable, "-m", "gunicorn", "--bind", f"0.0.0.0:{free_port()}", "--config",
                             "python:relabel.backend.gunicorn_conf", "relabel.backend.app:create_app()"],
                            env={k: v for k, v in os.environ.items() if not k.startswith("BASIC_AUTH")},
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode != 0 and "refusing to serve 0.0.0.0 without authentication" in direct.stderr
    assert auth.exposure_problem(["127.0.0.1", "::1", "localhost"], Settings()) is None
    assert auth.exposure_problem(["0.0.0.0"], Settings(allow_unauthenticated=True)) is None


def test_setup_never_re_points_the_backend(tmp_path):
    settings = Settings(label_studio_url="http://127.0.0.1:8080", model_dir=str(tmp_path))
    backend = Backend(settings)
    backend.setup(3, LABEL_CONFIG, "token-from-setup-123")
    assert backend.client(3).url == "http://127.0.0.1:8080"  # the URL /setup sent plays no part
    client = create_app(settings).test_client()
    answer = client.post("/setup", json={"project": 4, "schema": LABEL_CONFIG, "hostname": "http://evil.example:1",
                                         "access_token": "token-from-setup-456"})
    assert answer.status_code == 200
    service = client.application.extensions["relabel"]
    assert service.client(4).url == "http://127.0.0.1:8080"


def test_an_unexpected_error_answers_a_reference_not_its_details(tmp_path, monkeypatch, caplog):
    client = client_for(tmp_path)
    service = client.application.extensions["relabel"]
    monkeypatch.setattr(service, "versions", lambda project_id: open("/srv/models/secret-path/model.pt"))
    with caplog.at_level(logging.ERROR):
        answer = client.get("/versions?project=1")
    assert answer.status_code == 500
    error = answer.get_json()["error"]
    assert error.startswith("internal error (reference ") and "secret-path" not in error and "Errno" not in error
    reference = error.split("reference ")[1].split(" ")[0]
    assert any(getattr(record, "reference", None) == reference and record.exc_info for record in caplog.records)


def test_logs_redact_configured_secrets_authorization_values_and_url_credentials():
    add_secret("configured-api-key-98765")
    line = JsonFormatter().format(logging.LogRecord(
        "x", logging.INFO, "", 0, "called with configured-api-key-98765 and %s", ("Authorization: Token abcdef0123456789xyz",),
        None))
    assert "configured-api-key-98765" not in line and "abcdef0123456789xyz" not in line
    assert redact("redis://:redis-pass-1@redis:6379/0") == "redis://***@redis:6379/0"
    assert redact("Bearer eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.sig") == "Bearer ***"
    assert redact("the token expired") == "the token expired"  # words are no secrets
    assert "redis-pass-2" in Settings(redis_url="redis://:redis-pass-2@h:6379/0").secrets()
    assert "redis-pass-2" not in repr(Settings(redis_url="redis://:redis-pass-2@h:6379/0"))


@pytest.mark.parametrize("name, value", [("n_repeats", 10 ** 9), ("n_folds", 1000), ("finetune_epochs", 0),
                                         ("job_timeout", 10 ** 9), ("max_body_mb", 10 ** 6), ("check_wait", 10 ** 4),
                                         ("media_max_mb", 0), ("seed", -1), ("max_predict_tasks", 0)])
def test_every_number_setting_is_bounded(name, value):
    with pytest.raises(ValueError, match=f"{name} .*at least .* and at most"):
        Settings(**{name: value})


def test_project_settings_and_predict_batches_are_bounded(tmp_path):
    client = client_for(tmp_path, label_studio_api_key="key", max_predict_tasks=3)
    answer = client.put("/projects/1/settings", json={"n_repeats": 10 ** 9})
    assert answer.status_code == 400 and "n_repeats" in answer.get_json()["error"]
    tasks = [{"id": i, "data": {"text": "x"}} for i in range(4)]
    answer = client.post("/predict", json={"project": 1, "tasks": tasks})
    assert answer.status_code == 413 and "RELABEL_MAX_PREDICT_TASKS" in answer.get_json()["error"]


def test_label_studio_errors_carry_its_status_and_keep_its_body_apart():
    """The backend passes messages on to its callers: they hold Label Studio's status, not its body (which
    could be anything); the round driver, which talks to Label Studio itself, prints `detail` too."""
    from relabel.clients.label_studio import LabelStudioClient, LabelStudioError

    class Refused(Exception):
        status_code, body = 400, {"detail": "<html>internal page of another service</html>"}

    client = LabelStudioClient("http://127.0.0.1:9", "key")
    with pytest.raises(LabelStudioError) as refused:
        client._call("reading project 1", lambda: (_ for _ in ()).throw(Refused()))
    assert str(refused.value) == "Label Studio refused reading project 1: HTTP 400"
    assert "internal page" in refused.value.detail
