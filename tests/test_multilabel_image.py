"""Multi-label tags on images (<Choices choice="multiple"> on <Image>): config, tasks, the tag-set model."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters import (ImageClassificationAdapter, InvalidTask, MultiLabelImageAdapter, MultiLabelTextAdapter,
                              adapter_class_for_config, adapter_for_config)
from relabel.adapters.models.image_tagger import PowersetImageTagger
from relabel.adapters.noise.flags import FlagOptions
from relabel.backend.config import Settings
from tests.image_data import IMAGE_CONFIG, SHAPE_CLASSES, TAGS_CONFIG, tags_result, write_tagged_shapes


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    return write_tagged_shapes(tmp_path_factory.mktemp("tagged"), 72, seed=3)


def test_multiple_choices_on_an_image_get_the_image_tags_adapter():
    assert adapter_class_for_config(TAGS_CONFIG) is MultiLabelImageAdapter
    assert adapter_class_for_config(IMAGE_CONFIG) is ImageClassificationAdapter
    on_text = TAGS_CONFIG.replace('<Image name="image" value="$image"/>', '<Text name="image" value="$text"/>')
    assert adapter_class_for_config(on_text) is MultiLabelTextAdapter
    adapter = adapter_for_config(TAGS_CONFIG)
    assert (adapter.from_name, adapter.to_name, adapter.data_key, adapter.classes) == (
        "shapes", "image", "image", list(SHAPE_CLASSES))


def test_the_backend_gives_it_the_image_classifiers_settings(monkeypatch):
    for name, value in {"RELABEL_IMAGE_EPOCHS": "7", "RELABEL_IMAGE_SIZE": "32", "RELABEL_DEVICE": "cpu"}.items():
        monkeypatch.setenv(name, value)
    adapter = Settings.from_env().build_adapter(TAGS_CONFIG)
    assert (adapter.epochs, adapter.image_size, adapter.device) == (7, 32, "cpu")


def test_a_task_is_its_image_and_tag_set_and_a_bad_tag_names_the_task(tagged):
    path, shapes = tagged[3]
    adapter = adapter_for_config(TAGS_CONFIG, fetch_media=lambda url, task_id: str(path))
    task = {"id": 8, "data": {"image": "/data/upload/1/x.png"},
            "annotations": [{"id": 2, "result": tags_result(["square", "circle"])}]}
    example = adapter.example_from_task(task)
    assert (example.input, example.target) == (str(path), ["circle", "square"])
    with pytest.raises(InvalidTask, match=r"8.*annotation 2 shapes.*'star'.*not in the labeling config"):
        adapter.example_from_task({**task, "annotations": [{"id": 2, "result": tags_result(["star"])}]})


def test_a_missing_tag_is_flagged_and_named():
    adapter = adapter_for_config(TAGS_CONFIG)
    outputs = [np.array([0.95, 0.9, 0.05])] * 6 + [np.array([0.05, 0.05, 0.95])] * 6
    targets = [["circle", "square"]] * 5 + [["circle"]] + [["triangle"]] * 6  # task 5: the square left out
    rows = adapter.find_disagreements(list(range(12)), targets, outputs, FlagOptions(flag_rule="disagreement"))
    assert [row.task_id for row in rows if row.flagged] == [5]
    assert rows[5].errors == {"missing": {"square": 1}}


@pytest.fixture(scope="module")
def tagger(tagged):
    paths = [str(p) for p, _ in tagged]
    model = PowersetImageTagger(list(SHAPE_CLASSES), epochs=15, image_size=48, batch_size=16, device="cpu")
    return model.fit(paths[:54], [t for _, t in tagged[:54]]), paths, [t for _, t in tagged]


def test_the_tag_set_model_gives_each_tag_its_probability(tagger):
    model, paths, tags = tagger
    assert len(model.sets_) == 6  # three single shapes and three pairs
    probabilities = model.predict(paths[54:])
    assert probabilities.shape == (18, 3) and np.all((0 <= probabilities) & (probabilities <= 1))
    truth = np.array([[shape in t for shape in SHAPE_CLASSES] for t in tags[54:]])
    assert ((probabilities >= 0.5) == truth).mean() >= 0.8, probabilities.round(2)


def test_a_saved_tag_set_model_predicts_the_same_and_refuses_other_tags(tagger, tmp_path):
    model, paths, _ = tagger
    model.save(str(tmp_path))
    loaded = PowersetImageTagger.load(str(tmp_path), list(SHAPE_CLASSES), image_size=48, device="cpu")
    assert np.allclose(loaded.predict(paths[54:]), model.predict(paths[54:]), atol=1e-5)
    with pytest.raises(ValueError, match="predicts the tags"):
        PowersetImageTagger.load(str(tmp_path), ["circle", "star"], image_size=48, device="cpu")
