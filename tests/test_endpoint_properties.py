"""Property-based tests (hypothesis) of every HTTP endpoint of the backend's Flask app, via its test client.

Requests are drawn from: arbitrary JSON values; JSON objects holding each endpoint's real keys ("project", "tasks",
"label_config", "schema", "action", "write_predictions", "compare_dropped", "job", "holder", "token", "ttl",
the PROJECT_SETTINGS names) with arbitrary values;
raw non-JSON bytes; deeply nested JSON; wrong content types; arbitrary query strings; project and job ids of up to
5000 digits or of other Unicode digits.
Label Studio is unreachable (a free port). For every request, every endpoint must:
1. never answer 5xx, but for 502/503 on the endpoints that need Label Studio (START_TRAINING, POST /jobs);
2. answer every 4xx/5xx with a JSON object whose "error" is a non-empty string;
3. answer every 2xx with JSON (3xx, werkzeug's slash redirects, are not checked);
4. keep serving: /health answers 200 after each request.
Also: an unknown project has no stored predictions (404 naming it) and no versions, and every route of
`app.url_map` has a request strategy in ROUTE_REQUESTS (a new route without one fails that test).
"""
from __future__ import annotations

import json
from urllib.parse import quote, quote_from_bytes

import label_studio_sdk.core.http_client as label_studio_http
import pytest
from hypothesis import given, settings, strategies as st

from relabel.adapters.data.folds import PREDICTION_SOURCES
from relabel.backend.app import create_app
from relabel.backend.config import PROJECT_SETTINGS, Settings
from relabel.demo.data import LABEL_CONFIG
from relabel.stack import free_port

LABEL_CONFIGS = [
    LABEL_CONFIG, "", "<View>", "<View/>",
    '<View><Text name="text" value="$text"/><Labels name="ents" toName="text"><Label value="PER"/></Labels></View>',
    '<View><Text name="user" value="$user"/><Choices name="click" toName="user" choice="single">'
    '<Choice value="click"/><Choice value="no_click"/></Choices></View>',
    '<View><Image name="image" value="$image"/><RectangleLabels name="objects" toName="image">'
    '<Label value="square"/><Label value="circle"/></RectangleLabels></View>',
    '<View><Image name="image" value="$image"/><Choices name="shape" toName="image" choice="single">'
    '<Choice value="circle"/><Choice value="square"/></Choices></View>',
    '<View><Text name="text" value="$text"/><TextArea name="answer" toName="text"/></View>',
    '<View><Image name="img" value="$image"/><KeyPointLabels name="kp" toName="img"><Label value="nose"/>'
    '</KeyPointLabels></View>',  # a task type no adapter supports
]
LABEL_STUDIO_ROUTES = {("POST", "/webhook"), ("POST", "/jobs")}  # START_TRAINING reads the project first

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=10)
# "12"; longer than a file name may be (250-300 digits) or than int() reads (over 4300 digits);
# other Unicode digits: decimal ("٣") or not ("²", "①")
digit_strings = st.one_of(st.text("0123456789", min_size=1, max_size=12),
                          st.builds(lambda digit, length: digit * length, st.sampled_from("123456789"),
                                    st.integers(250, 300) | st.integers(4301, 5000)),
                          st.text(st.characters(categories=["Nd"]) | st.characters(categories=["No"]).filter(
                              str.isdigit), min_size=1, max_size=3))
job_ids = st.builds("{}-{}".format, digit_strings, digit_strings) | st.text()
url_project_ids = st.integers(min_value=0, max_value=2**63) | st.integers(min_value=10**250, max_value=10**300)
project_values = st.one_of(digit_strings, digit_strings.map(lambda digits: f"{digits}.1700000000"),
                           st.integers(), st.fixed_dictionaries({"id": digit_strings | json_values}), json_values)
label_configs = st.sampled_from(LABEL_CONFIGS) | st.text() | json_values
tasks = st.lists(st.fixed_dictionaries({"id": json_values, "data": st.dictionaries(
    st.sampled_from(["text", "image", "user"]), json_values)}), max_size=3) | json_values
setting_values = st.integers() | st.sampled_from(PREDICTION_SOURCES) | json_values
KEY_VALUES = {
    "project": project_values, "tasks": tasks, "label_config": label_configs, "schema": label_configs,
    "hostname": st.just("http://127.0.0.1:9") | json_values, "access_token": st.text() | json_values,
    "action": st.sampled_from(["START_TRAINING", "ANNOTATION_CREATED"]) | json_values,
    "write_predictions": st.booleans() | json_values,
    "compare_dropped": st.fixed_dictionaries({"model_version": st.text() | json_values,
                                              "dropped_tasks": st.lists(st.integers()) | json_values}) | json_values,
    "job": job_ids | json_values,
    "holder": st.text(max_size=300) | json_values, "token": st.text(max_size=40) | json_values,
    "ttl": st.integers(-10, 10_000) | st.floats(allow_nan=False) | json_values,
    "round": st.integers(0, 5) | json_values, "flagged_tasks": st.lists(json_values, max_size=3) | json_values,
    **{name: setting_values for name in PROJECT_SETTINGS},
}
deeply_nested_json = st.builds(lambda depth, pair: pair[0] * depth + pair[1] * depth, st.integers(1, 10_000),
                               st.sampled_from([(b"[", b"]"), (b'{"a":', b"1}")]))
content_types = st.just("application/json") | st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/json; charset=latin-1"])


def bodies(keys: tuple[str, ...]):
    """(bytes, content type) bodies: JSON objects with `keys` holding arbitrary values, any JSON, raw bytes, deeply
    nested JSON; with a JSON content type, or another."""
    keyed_objects = st.fixed_dictionaries({}, optional={key: KEY_VALUES[key] for key in keys})
    as_json = st.one_of(keyed_objects, json_values).map(lambda value: json.dumps(value).encode())
    return st.one_of(st.tuples(as_json, st.just("application/json")),
                     st.tuples(as_json | st.binary(max_size=200), content_types),
                     st.tuples(deeply_nested_json, st.just("application/json")))


def query_strings(keys: tuple[str, ...]):
    """Query strings: dicts with the endpoint's keys (or any) holding ids or text, or percent-encoded raw bytes."""
    named = st.dictionaries(st.sampled_from(keys or ("q",)) | st.text(max_size=8),
                            digit_strings | st.text(max_size=20), max_size=3)
    return named | st.binary(max_size=40).map(lambda raw: quote_from_bytes(raw, safe="=&"))


def route_requests(method: str, paths, body_keys: tuple[str, ...] = (), query_keys: tuple[str, ...] = ()):
    """Keyword arguments of `client.open` for arbitrary requests to one route."""
    body = bodies(body_keys) if method != "GET" or body_keys else st.none() | bodies(())
    return st.builds(lambda path, body, query: {"method": method, "path": path, "query_string": query,
                                                "data": body and body[0], "content_type": body and body[1]},
                     paths, body, query_strings(query_keys))


def project_paths(template: str):
    return url_project_ids.map(template.format)


ROUTE_REQUESTS = {
    ("GET", "/health"): route_requests("GET", st.just("/health")),
    ("GET", "/"): route_requests("GET", st.just("/")),
    ("POST", "/setup"): route_requests("POST", st.just("/setup"), ("project", "schema", "hostname", "access_token")),
    ("POST", "/predict"): route_requests("POST", st.just("/predict"), ("project", "tasks", "label_config")),
    ("POST", "/webhook"): route_requests("POST", st.just("/webhook"), ("action", "project")),
    ("POST", "/jobs"): route_requests("POST", st.just("/jobs"), ("project", "write_predictions",
                                                                         "compare_dropped")),
    ("GET", "/jobs"): route_requests("GET", st.just("/jobs"), query_keys=("project",)),
    ("GET", "/jobs/<job_id>"): route_requests("GET", job_ids.map(lambda job_id: "/jobs/" + quote(job_id, safe=""))),
    ("DELETE", "/jobs/<job_id>"): route_requests("DELETE", job_ids.map(lambda job_id: "/jobs/" + quote(job_id, safe=""))),
    ("POST", "/job_status"): route_requests("POST", st.just("/job_status"), ("job",)),
    ("GET", "/versions"): route_requests("GET", st.just("/versions"), ("project",), ("project",)),
    ("GET", "/projects/<int:project_id>/settings"): route_requests("GET", project_paths("/projects/{}/settings")),
    ("PUT", "/projects/<int:project_id>/settings"): route_requests("PUT", project_paths("/projects/{}/settings"),
                                                                   tuple(PROJECT_SETTINGS)),
    ("GET", "/projects/<int:project_id>/predictions"): route_requests(
        "GET", project_paths("/projects/{}/predictions"), query_keys=("model_version",)),
    ("GET", "/projects/<int:project_id>/rounds"): route_requests("GET", project_paths("/projects/{}/rounds")),
    ("PUT", "/projects/<int:project_id>/rounds/<int:round_number>"): route_requests(
        "PUT", st.builds("/projects/{}/rounds/{}".format, url_project_ids, url_project_ids),
        ("round", "project", "flagged_tasks")),
    ("GET", "/projects/<int:project_id>/round-lock"): route_requests("GET", project_paths("/projects/{}/round-lock")),
    ("POST", "/projects/<int:project_id>/round-lock"): route_requests(
        "POST", project_paths("/projects/{}/round-lock"), ("holder", "ttl")),
    ("PUT", "/projects/<int:project_id>/round-lock"): route_requests(
        "PUT", project_paths("/projects/{}/round-lock"), ("token", "ttl")),
    ("DELETE", "/projects/<int:project_id>/round-lock"): route_requests(
        "DELETE", project_paths("/projects/{}/round-lock"), ("token",)),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("endpoint-properties") / "models"
    model_dir.mkdir()  # as in a deployed backend: a missing model dir would hide path errors behind "not found"
    with pytest.MonkeyPatch.context() as patch:
        # The SDK retries refused connections after 1 s and 2 s sleeps; retry at once so each example is fast.
        patch.setattr(label_studio_http, "INITIAL_RETRY_DELAY_SECONDS", 0.0)
        yield create_app(Settings(label_studio_url=f"http://127.0.0.1:{free_port()}", label_studio_api_key="test-key",
                                  model_dir=str(model_dir))).test_client()


def app_routes(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def assert_clean_answer(client, answer, allowed_server_errors=frozenset()):
    status, text = answer.status_code, answer.get_data(as_text=True)
    assert status < 500 or status in allowed_server_errors, f"HTTP {status}: {text[:400]}"
    if status >= 400:
        body = answer.get_json(silent=True)
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip(), \
            f"HTTP {status} without a JSON error: {text[:400]}"
    elif 200 <= status < 300:  # 3xx: werkzeug's redirects, e.g. /jobs//1 to /jobs/1
        assert answer.is_json, f"HTTP {status} answered {answer.mimetype}: {text[:400]}"
        json.loads(text)
    assert client.get("/health").status_code == 200, "the app stopped serving"


def test_every_route_has_a_property_test(client):
    untested = app_routes(client.application) - set(ROUTE_REQUESTS)
    assert not untested, f"routes without a request strategy in ROUTE_REQUESTS: {sorted(untested)}"


@pytest.mark.parametrize("route", sorted(ROUTE_REQUESTS), ids=" ".join)
@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_endpoint_answers_arbitrary_requests_cleanly(client, route, data):
    assert route in app_routes(client.application), f"{route} is no longer a route of the app"
    answer = client.open(**data.draw(ROUTE_REQUESTS[route], label="request"))
    assert_clean_answer(client, answer, {502, 503} if route in LABEL_STUDIO_ROUTES else frozenset())


@settings(max_examples=60, deadline=None, database=None)
@given(project_id=st.integers(min_value=1, max_value=2**63 - 1))
def test_unknown_project_has_no_predictions_and_no_versions(client, project_id):
    answer = client.get(f"/projects/{project_id}/predictions")
    assert answer.status_code == 404 and f"project {project_id}" in answer.get_json()["error"], answer.get_data()[:400]
    answer = client.get(f"/versions?project={project_id}")
    assert answer.status_code == 200 and answer.get_json()["versions"] == [], answer.get_data()[:400]


@settings(max_examples=30, deadline=None, database=None)
@given(project_id=st.integers(min_value=2**63, max_value=10**300))
def test_a_project_id_beyond_label_studios_is_refused(client, project_id):
    # Label Studio's ids are 64-bit; a longer one would also make a file name too long for the model store.
    for answer in (client.get(f"/projects/{project_id}/settings"), client.get(f"/versions?project={project_id}")):
        assert answer.status_code == 400 and "bad project id" in answer.get_json()["error"], answer.get_data()[:400]


@pytest.mark.parametrize("project", ["0", 0, [0], None])
def test_a_round_report_whose_project_is_no_object_is_refused(client, project):
    # found by the property test on 2026-12-07: {"project": "0"} answered 500 ('str' object has no attribute 'get')
    answer = client.put("/projects/0/rounds/1", json={"round": 1, "project": project, "flagged_tasks": []})
    assert answer.status_code == 400 and "round 1's report of project 0" in answer.get_json()["error"]
