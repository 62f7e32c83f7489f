"""The image classification adapter on generated images: config, reading tasks, the YOLO classifier."""
from __future__ import annotations

import base64
import threading

import numpy as np
import pytest

from relabel.adapters import ImageClassificationAdapter, InvalidTask, TextClassificationAdapter, adapter_for_config
from relabel.adapters.models.image_classifier import YoloImageClassifier
from relabel.adapters.data.media import save_data_url
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.models.yolo_runtime import resolve_weights, ultralytics_device
from tests.image_data import IMAGE_CONFIG, SHAPE_CLASSES, choice_result, write_shapes


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("shapes"), per_class=20)


def fetcher(files: dict):
    """A stand-in for the backend's Label Studio download: URL -> local file."""
    def fetch(url, task_id):
        if url not in files:
            raise OSError(f"HTTP 404 for {url}")
        return str(files[url])
    return fetch


def test_choices_on_an_image_go_to_the_image_adapter():
    adapter = adapter_for_config(IMAGE_CONFIG)
    assert isinstance(adapter, ImageClassificationAdapter)
    assert (adapter.from_name, adapter.to_name, adapter.data_key) == ("shape", "image", "image")
    assert adapter.classes == list(SHAPE_CLASSES)
    assert not TextClassificationAdapter.supports(IMAGE_CONFIG)
    assert not ImageClassificationAdapter.supports(IMAGE_CONFIG.replace('"single"', '"multiple"'))


def test_backend_options_reach_the_image_adapter_only():
    options = {"object-detection": {"epochs": 2}, "image-classification": {"epochs": 7, "image_size": 32}}
    adapter = adapter_for_config(IMAGE_CONFIG, options, device="cpu")
    assert (adapter.epochs, adapter.image_size, adapter.device) == (7, 32, "cpu")
    assert adapter.settings()["image_model"] == "yolo11n-cls.yaml"


def test_a_task_is_read_into_its_downloaded_image_and_label(shapes):
    adapter = adapter_for_config(IMAGE_CONFIG, fetch_media=fetcher({"/data/upload/1/a.png": shapes[0][0]}))
    task = {"id": 5, "data": {"image": "/data/upload/1/a.png"},
            "annotations": [{"id": 9, "result": choice_result("square"), "updated_at": "2026-01-01"}]}
    example = adapter.example_from_task(task)
    assert (example.task_id, example.input, example.target, example.annotation_id) == (5, str(shapes[0][0]),
                                                                                       "square", 9)


def test_unreadable_images_name_the_task_and_field(tmp_path, shapes):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text")
    adapter = adapter_for_config(IMAGE_CONFIG, fetch_media=fetcher({"/data/upload/1/notes.png": not_an_image}))
    cases = [({"id": 1, "data": {"image": "/data/upload/1/gone.png"}}, "HTTP 404"),
             ({"id": 2, "data": {"image": "/data/upload/1/notes.png"}}, "not a readable image"),
             ({"id": 3, "data": {"image": ""}}, "expected an image URL"),
             ({"id": 4, "data": {"picture": "x.png"}}, "missing")]
    for task, problem in cases:
        with pytest.raises(InvalidTask, match=problem) as error:
            adapter.input_from_task(task)
        assert (error.value.task_id, error.value.field_name) == (task["id"], "data.image")


def test_without_credentials_an_image_cannot_be_downloaded():
    adapter = adapter_for_config(IMAGE_CONFIG)  # the round driver's adapter: only scores disagreements
    with pytest.raises(InvalidTask, match="no Label Studio credentials"):
        adapter.input_from_task({"id": 1, "data": {"image": "/data/upload/1/a.png"}})


def test_a_label_not_in_the_config_names_the_task(shapes):
    adapter = adapter_for_config(IMAGE_CONFIG, fetch_media=fetcher({"u": shapes[0][0]}))
    task = {"id": 6, "data": {"image": "u"}, "annotations": [{"id": 2, "result": choice_result("hexagon")}]}
    with pytest.raises(InvalidTask, match="task 6: annotation 2 shape: label 'hexagon' is not in the labeling config"):
        adapter.example_from_task(task)


def test_data_urls_are_saved_by_content(tmp_path, shapes):
    url = "data:image/png;base64," + base64.b64encode(shapes[0][0].read_bytes()).decode()
    path = save_data_url(url, str(tmp_path))
    assert path.endswith(".png") and open(path, "rb").read() == shapes[0][0].read_bytes()
    assert save_data_url(url, str(tmp_path)) == path


def test_weights_that_are_not_on_disk_become_the_model_yaml(tmp_path):
    assert resolve_weights("yolo11n-cls.pt") == "yolo11n-cls.yaml"  # no download offline
    own = tmp_path / "mine.pt"
    own.write_bytes(b"weights")
    assert resolve_weights(str(own)) == str(own)
    assert resolve_weights("yolo11s-cls.yaml") == "yolo11s-cls.yaml"
    assert (ultralytics_device("cpu"), ultralytics_device("cuda"), ultralytics_device("cuda:1")) == ("cpu", "0", "1")


def test_flags_come_from_the_shared_classification_rules():
    adapter = adapter_for_config(IMAGE_CONFIG)
    outputs = [np.array([0.9, 0.05, 0.05])] * 5 + [np.array([0.05, 0.9, 0.05])] * 5
    targets = ["circle"] * 4 + ["square"] + ["square"] * 5  # task 4: a circle labeled "square"
    rows = adapter.find_disagreements(list(range(10)), targets, outputs, FlagOptions(flag_rule="disagreement"))
    assert [row.task_id for row in rows if row.flagged] == [4]
    assert (rows[4].human, rows[4].model) == ("square", "circle")


@pytest.fixture(scope="module")
def trained(shapes):
    paths = [str(path) for path, _ in shapes]
    labels = [shape for _, shape in shapes]
    model = YoloImageClassifier(SHAPE_CLASSES, epochs=10, image_size=32, batch_size=16, device="cpu")
    errors = []

    def fit():  # the backend trains in a job thread
        try:
            model.fit(paths[:45], labels[:45])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
    thread = threading.Thread(target=fit)
    thread.start()
    thread.join()
    assert not errors, errors
    return model, paths, labels


def test_yolo_classifier_learns_shapes_from_scratch(trained):
    model, paths, labels = trained
    probabilities = model.predict(paths[45:])
    assert probabilities.shape == (15, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    accuracy = np.mean(np.array(SHAPE_CLASSES)[probabilities.argmax(axis=1)] == np.array(labels[45:]))
    assert accuracy >= 0.8, probabilities


def test_saved_classifier_predicts_the_same(trained, tmp_path):
    model, paths, _ = trained
    model.save(str(tmp_path))
    loaded = YoloImageClassifier.load(str(tmp_path), SHAPE_CLASSES, None, image_size=32, device="cpu")
    np.testing.assert_allclose(loaded.predict(paths[45:]), model.predict(paths[45:]), atol=1e-5)


def test_a_fold_without_some_class_still_predicts_every_class(shapes):
    two_shapes = [(str(p), s) for p, s in shapes if s != "triangle"][:20]
    model = YoloImageClassifier(SHAPE_CLASSES, epochs=1, min_steps=5, image_size=32, device="cpu")
    model.fit([p for p, _ in two_shapes], [s for _, s in two_shapes])
    probabilities = model.predict([p for p, _ in two_shapes[:4]])
    assert probabilities.shape == (4, 3) and np.all(probabilities[:, 2] == 0)
    single = YoloImageClassifier(SHAPE_CLASSES, image_size=32, device="cpu").fit([two_shapes[0][0]], ["square"])
    assert single.predict([two_shapes[0][0]]).tolist() == [[0.0, 1.0, 0.0]]


def test_training_starts_from_a_users_weights_file(trained, shapes, tmp_path):
    model, paths, labels = trained
    model.save(str(tmp_path))  # stands in for a user's yolo11n-cls.pt
    weights = str(tmp_path / "image_classifier.pt")
    adapter = adapter_for_config(IMAGE_CONFIG, {"image-classification": {"image_model": weights, "epochs": 3,
                                                                         "image_size": 32}}, device="cpu")
    assert adapter.settings()["image_model"] == weights
    tuned = adapter.new_model()
    assert tuned.epochs_for(45) == 3  # from trained weights, the epochs asked for; from scratch, at least 150 steps
    assert adapter_for_config(IMAGE_CONFIG, {"image-classification": {"epochs": 1, "batch_size": 16}}
                              ).new_model().epochs_for(45) == 50
    tuned.fit(paths[:45], labels[:45])
    accuracy = np.mean(np.array(SHAPE_CLASSES)[tuned.predict(paths[45:]).argmax(axis=1)] == np.array(labels[45:]))
    assert accuracy >= 0.8  # 6 steps from the trained weights; from scratch they give about chance (1/3)


def test_a_label_studio_that_stops_answering_does_not_hold_the_download(tmp_path):
    import socket

    from relabel.clients.label_studio import LabelStudioClient

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = LabelStudioClient(f"http://127.0.0.1:{silent.getsockname()[1]}", "token", timeout=1.0)
        adapter = adapter_for_config(IMAGE_CONFIG, fetch_media=client.media_fetcher(str(tmp_path)))
        errors = []

        def download():
            try:
                adapter.input_from_task({"id": 4, "data": {"image": "/data/upload/1/a.png"}})
            except InvalidTask as error:
                errors.append(error)
        thread = threading.Thread(target=download, daemon=True)
        thread.start()
        thread.join(15)
        assert not thread.is_alive(), "the download is still waiting for an answer"
        assert "task 4: data.image: image /data/upload/1/a.png cannot be downloaded" in str(errors[0])


def test_images_of_a_kind_lie_close_in_the_similarity_vectors(shapes):
    from relabel.adapters.noise.neighbours import reduce_dimensions

    paths, labels = [str(path) for path, _ in shapes], [label for _, label in shapes]
    vectors = reduce_dimensions(adapter_for_config(IMAGE_CONFIG).similarity_vectors(paths), dimensions=8)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    assert np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]) > 0.8
