"""The backend's HTTP contract and its answers to bad input (real Flask app, Label Studio unreachable)."""
from __future__ import annotations

import base64

import pytest

from relabel.backend.app import create_app
from relabel.backend.config import Settings
from relabel.demo.data import LABEL_CONFIG
from relabel.stack import free_port

UNSUPPORTED_CONFIG = '<View><Image name="img" value="$image"/><KeyPointLabels name="kp" toName="img">' \
                     '<Label value="nose"/></KeyPointLabels></View>'


def make_client(tmp_path, **overrides):
    settings = Settings(label_studio_url=f"http://127.0.0.1:{free_port()}", label_studio_api_key="test-key",
                        model_dir=str(tmp_path / "models"), **overrides)
    return create_app(settings).test_client()


@pytest.fixture
def client(tmp_path):
    return make_client(tmp_path)


def test_health_setup_versions(client):
    assert client.get("/health").get_json() == {"status": "UP", "model_class": "Re-Label"}
    answer = client.post("/setup", json={"project": "3.1700000000", "schema": LABEL_CONFIG,
                                         "hostname": "http://localhost:8080", "access_token": "abc"})
    assert answer.status_code == 200 and answer.get_json() == {"model_version": "untrained"}
    assert client.get("/versions", json={"project": "3.1700000000"}).get_json()["versions"] == []
    assert client.get("/versions?project=3").get_json()["versions"] == []


def test_setup_rejects_an_unsupported_label_config(client):
    answer = client.post("/setup", json={"project": "3.1", "schema": UNSUPPORTED_CONFIG})
    assert answer.status_code == 422
    assert "schema" in answer.get_json()["error"] and "text-classification" in answer.get_json()["error"]


@pytest.mark.parametrize("body, expected", [
    (b"not json", "JSON object"),
    (b"[1, 2]", "JSON object"),
    (b'{"tasks": "x", "project": "1.1"}', "'tasks'"),
    (b'{"tasks": [1], "project": "1.1"}', "'tasks'"),
    (b'{"tasks": [], "project": "abc"}', "'project'"),
    (b'{"tasks": [], "project": "1", "label_config": 7}', "'label_config'"),
])
def test_predict_rejects_malformed_bodies(client, body, expected):
    answer = client.post("/predict", data=body, content_type="application/json")
    assert answer.status_code == 400 and expected in answer.get_json()["error"]
    assert client.get("/health").status_code == 200


def test_predict_with_unsupported_config_and_without_model(client):
    answer = client.post("/predict", json={"tasks": [{"id": 1, "data": {}}], "project": "1.1",
                                           "label_config": UNSUPPORTED_CONFIG})
    assert answer.status_code == 422 and "label_config" in answer.get_json()["error"]
    answer = client.post("/predict", json={"tasks": [{"id": 1, "data": {"text": "hi"}}], "project": "1.1",
                                           "label_config": LABEL_CONFIG})
    assert answer.status_code == 200 and answer.get_json()["results"] == []


@pytest.mark.parametrize("body, status, expected", [
    (b"{", 400, "JSON object"),
    (b'{"project": {"id": 1}}', 400, "'action'"),
    (b'{"action": "START_TRAINING", "project": {"id": "x"}}', 400, "'project'"),
    (b'{"action": "START_TRAINING"}', 400, "'project'"),
])
def test_webhook_rejects_malformed_bodies(client, body, status, expected):
    answer = client.post("/webhook", data=body, content_type="application/json")
    assert answer.status_code == status and expected in answer.get_json()["error"]


def test_webhook_ignores_annotation_events(client):
    answer = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1}})
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"


def test_training_with_label_studio_down_answers_clearly(client):
    answer = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 5}})
    assert answer.status_code == 502
    assert "not reachable" in answer.get_json()["error"] and "project 5" in answer.get_json()["error"]
    assert client.get("/health").status_code == 200


def test_unknown_routes_and_methods(client):
    assert client.get("/nowhere").status_code == 404
    assert client.get("/predict").status_code == 405
    assert client.get("/projects/9/predictions").status_code == 404


@pytest.mark.parametrize("method, path", [("POST", "/predict"), ("POST", "/setup"), ("POST", "/webhook"),
                                          ("POST", "/jobs"), ("POST", "/job_status"), ("PUT", "/projects/1/settings")])
def test_oversized_body_is_refused(tmp_path, method, path):
    client = make_client(tmp_path, max_body_mb=1)
    answer = client.open(path, method=method, data=b"x" * (2 * 1024 * 1024), content_type="application/json")
    assert answer.status_code == 413 and "Too Large" in answer.get_json()["error"]
    assert client.get("/health").status_code == 200


def test_basic_auth_is_enforced_when_set(tmp_path):
    client = make_client(tmp_path, basic_auth_user="ls", basic_auth_pass="s3cret")
    assert client.get("/health").status_code == 200
    assert client.post("/setup", json={"project": "1.1", "schema": LABEL_CONFIG}).status_code == 401
    wrong = base64.b64encode(b"ls:nope").decode()
    assert client.post("/setup", json={"project": "1.1", "schema": LABEL_CONFIG},
                       headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"ls:s3cret").decode()
    assert client.post("/setup", json={"project": "1.1", "schema": LABEL_CONFIG},
                       headers={"Authorization": f"Basic {right}"}).status_code == 200


def test_project_settings_override_the_defaults_per_project(client):
    assert client.get("/projects/4/settings").get_json() == {
        "overrides": {}, "effective": {"n_folds": None, "n_repeats": 1, "prediction_source": None, "seed": 0,
                                       "drop_flagged_before_round": None, "neighbour_vote": False,
                                       "in_sample_outputs": None, "second_pass": None}}
    answer = client.put("/projects/4/settings", json={"n_folds": 3, "n_repeats": 2, "prediction_source": "in_sample",
                                                      "seed": None})
    assert answer.get_json() == {"overrides": {"n_folds": 3, "n_repeats": 2, "prediction_source": "in_sample"},
                                 "effective": {"n_folds": 3, "n_repeats": 2, "prediction_source": "in_sample",
                                               "seed": 0, "drop_flagged_before_round": None,
                                               "neighbour_vote": False, "in_sample_outputs": None,
                                               "second_pass": None}}
    assert client.get("/projects/5/settings").get_json()["overrides"] == {}
    assert client.put("/projects/4/settings", json={}).get_json()["effective"]["n_folds"] is None  # the task type's own K


@pytest.mark.parametrize("body, expected", [
    ({"n_folds": 1}, "at least 2"),
    ({"n_repeats": 0}, "at least 1"),
    ({"n_folds": "5"}, "must be a int"),
    ({"n_folds": True}, "must be a int"),
    ({"prediction_source": "vibes"}, "must be one of"),
    ({"neighbour_vote": 1}, "must be a bool"),
    ({"second_pass": "yes"}, "must be a bool"),
    ({"in_sample_outputs": "yes"}, "must be a bool"),
    ({"learning_rate": 0.1}, "unknown project setting"),
])
def test_project_settings_refuse_bad_values(client, body, expected):
    answer = client.put("/projects/4/settings", json=body)
    assert answer.status_code == 400 and expected in answer.get_json()["error"]
    assert client.get("/projects/4/settings").get_json()["overrides"] == {}


def test_predict_checks_the_config_label_studio_sends_each_time(tmp_path):
    # Label Studio sends the project's labeling config with every /predict; the backend parses each
    # distinct config once, and a config that dropped a label the model predicts is refused every time.
    from relabel.backend.model_store import ModelStore
    from relabel.demo.data import make_dataset

    settings = Settings(label_studio_url=f"http://127.0.0.1:{free_port()}", label_studio_api_key="test-key",
                        model_dir=str(tmp_path / "models"))
    adapter = settings.build_adapter(LABEL_CONFIG)
    items = make_dataset(n_items=40, noise_rate=0.0, seed=3)
    model = adapter.new_model().fit(adapter.featurize([i["text"] for i in items]), [i["label"] for i in items])
    with ModelStore(settings.model_dir).writing_version(7, "model-v1-test", {
            "fingerprint": "test", "adapter": adapter.name, "labeled": 40, "unlabeled": 0,
            "label_config": LABEL_CONFIG, "settings": adapter.settings(), "prediction_source": None}) as scratch:
        adapter.save_model(model, scratch)
    client = create_app(settings).test_client()
    without_food = LABEL_CONFIG.replace('<Choice value="food"/>', "")
    body = {"project": "7.1700000000", "tasks": [{"id": 1, "data": {"text": "a late goal wins the match"}}]}
    for config, status in [(LABEL_CONFIG, 200), (without_food, 422), (LABEL_CONFIG, 200), (without_food, 422)]:
        answer = client.post("/predict", json={**body, "label_config": config})
        assert answer.status_code == status, answer.get_json()
        if status == 422:
            assert "project 7" in answer.get_json()["error"] and "'food'" in answer.get_json()["error"]
        else:
            assert answer.get_json()["results"][0]["model_version"] == "model-v1-test"


def test_stored_predictions_can_be_read_with_only_some_keys_of_each_entry(tmp_path):
    # A round reads an earlier model's labels only: (task, target) pairs, not every stored output.
    from relabel.backend.model_store import ModelStore, write_json_atomic

    settings = Settings(label_studio_url=f"http://127.0.0.1:{free_port()}", label_studio_api_key="test-key",
                        model_dir=str(tmp_path / "models"))
    record = {"model_version": "model-v1-x", "evaluation": {"tasks": 0},
              "items": [{"task": 1, "target": "food", "output": [0.1, 0.9], "annotation": 5}],
              "unlabeled": [{"task": 2, "output": [0.8, 0.2]}]}
    with ModelStore(settings.model_dir).writing_version(3, "model-v1-x", {"fingerprint": "x"}) as scratch:
        write_json_atomic(f"{scratch}/predictions.json", record)
    client = create_app(settings).test_client()
    assert client.get("/projects/3/predictions?model_version=model-v1-x").get_json() == record
    answer = client.get("/projects/3/predictions?model_version=model-v1-x&fields=task,target").get_json()
    assert answer["items"] == [{"task": 1, "target": "food"}] and answer["unlabeled"] == [{"task": 2}]
    assert answer["evaluation"] == {"tasks": 0}
    bad = client.get("/projects/3/predictions?model_version=model-v1-x&fields=task,../x")
    assert bad.status_code == 400 and "fields" in bad.get_json()["error"]
