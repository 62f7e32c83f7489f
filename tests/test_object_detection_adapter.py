"""The object-detection adapter without a model: config, reading boxes, predictions, flag rules."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters import ObjectDetectionAdapter, InvalidTask, adapter_for_config
from relabel.adapters.models.object_detector import BoxSet
from relabel.adapters.noise.flags import FlagOptions
from relabel.backend.config import Settings
from tests.object_detection_data import DETECTION_CONFIG, rectangle_results


@pytest.fixture
def adapter(tmp_path):
    from PIL import Image

    image = tmp_path / "x.png"
    Image.new("RGB", (64, 64)).save(image)
    return adapter_for_config(DETECTION_CONFIG, fetch_media=lambda url, task_id: str(image))


def task_with(boxes_or_results, task_id=3, as_results=False):
    result = boxes_or_results if as_results else rectangle_results(boxes_or_results)
    return {"id": task_id, "data": {"image": "/data/upload/1/x.png"}, "annotations": [{"id": 8, "result": result}]}


def test_rectangle_labels_on_an_image_go_to_the_detection_adapter(adapter):
    assert isinstance(adapter, ObjectDetectionAdapter)
    assert (adapter.from_name, adapter.to_name, adapter.data_key) == ("objects", "image", "image")
    assert adapter.classes == ["square", "circle"]
    assert adapter.default_folds == 3
    assert Settings().for_adapter(adapter).n_folds == 3 and Settings(n_folds=4).for_adapter(adapter).n_folds == 4
    options = adapter_for_config(DETECTION_CONFIG, {"object-detection": {"epochs": 9, "image_size": 64},
                                                   "image-classification": {"epochs": 2}})
    assert (options.epochs, options.image_size) == (9, 64)


def test_boxes_are_read_from_percent_rectangles(adapter):
    example = adapter.example_from_task(task_with([[0.25, 0.5, 0.2, 0.4, "circle"], [0.5, 0.5, 0.5, 0.5, "square"]]))
    assert example.target == [[0.25, 0.5, 0.2, 0.4, "circle"], [0.5, 0.5, 0.5, 0.5, "square"]]
    assert adapter.example_from_task(task_with([])).target == []  # a labeled image showing no object


@pytest.mark.parametrize("value, problem", [
    ({"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 30, "rectanglelabels": ["square"]}, "rotated"),
    ({"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["hexagon"]}, "'hexagon' is not in the labeling"),
    ({"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["square", "circle"]}, "exactly one label"),
    ({"x": 10, "width": 20, "height": 20, "rectanglelabels": ["square"]}, "'y'"),
])
def test_unusable_boxes_name_the_task_annotation_and_box(adapter, value, problem):
    results = [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels", "value": value}]
    with pytest.raises(InvalidTask, match=problem) as error:
        adapter.example_from_task(task_with(results, as_results=True))
    assert error.value.task_id == 3 and error.value.field_name == "annotation 8 objects box 0"


def test_predictions_are_rectangles_with_a_score_each(adapter):
    output = BoxSet([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]], [1, 0], [0.9, 0.1])
    prediction = adapter.to_prediction(output)
    [shown] = prediction["result"]  # the 0.1 box is kept for scoring, not shown to annotators
    assert shown["type"] == "rectanglelabels" and shown["value"]["rectanglelabels"] == ["circle"]
    assert shown["value"]["x"] == pytest.approx(40) and shown["score"] == pytest.approx(0.9)
    assert prediction["score"] == pytest.approx(0.9)
    assert adapter.output_from_json(adapter.output_to_json(output)).to_json() == output.to_json()


def scenario():
    """Four images: agreeing, a box the human overlooked, a shifted box, a swapped class."""
    targets = [[[0.3, 0.3, 0.2, 0.2, "square"]],
               [[0.3, 0.3, 0.2, 0.2, "square"]],
               [[0.45, 0.3, 0.2, 0.2, "circle"]],
               [[0.7, 0.7, 0.2, 0.2, "square"]]]
    outputs = [BoxSet([[0.3, 0.3, 0.2, 0.2]], [0], [0.9]),
               BoxSet([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]], [0, 1], [0.9, 0.95]),
               BoxSet([[0.3, 0.3, 0.2, 0.2]], [1], [0.8]),
               BoxSet([[0.7, 0.7, 0.2, 0.2]], [1], [0.6])]
    return [10, 11, 12, 13], targets, outputs


def test_the_papers_rule_flags_every_box_error_with_its_kind_and_class(adapter):
    rows = adapter.find_disagreements(*scenario(), FlagOptions(flag_rule="disagreement"))
    assert [r.flagged for r in rows] == [False, True, True, True]
    assert rows[0].label_quality == 1.0 and rows[0].detail["errors"] == {}
    assert rows[1].detail["errors"] == {"overlooked": {"circle": 1}} and rows[1].detail["classes"] == ["circle"]
    assert rows[2].detail["errors"] == {"badly_located": {"circle": 1}}
    assert rows[3].detail["errors"] == {"swapped": {"square": 1}} and rows[3].detail["label_classes"] == ["square"]
    assert (rows[1].human, rows[1].model) == ("1 square", "1 circle, 1 square")
    # the most certain error first: a confident overlooked box (0.95) before a swap at 0.6
    assert rows[1].label_quality < rows[3].label_quality


def test_budget_threshold_and_cleanlab_rules(adapter):
    default = adapter.find_disagreements(*scenario(), FlagOptions())
    assert [r.flagged for r in default] == [False, True, True, True]  # budget = images with a box error
    two = adapter.find_disagreements(*scenario(), FlagOptions(budget=2))
    assert sum(r.flagged for r in two) == 2 and not two[0].flagged
    threshold = adapter.find_disagreements(*scenario(), FlagOptions(quality_threshold=0.1))
    assert [r.flagged for r in threshold] == [False, True, False, False]
    cleanlab = adapter.find_disagreements(*scenario(), FlagOptions(flag_rule="confident_learning"))
    assert len(cleanlab) == 4 and not cleanlab[0].flagged


def test_folds_are_stratified_by_the_classes_an_image_shows(adapter):
    targets = [[[0.1, 0.1, 0.1, 0.1, "circle"], [0.5, 0.5, 0.1, 0.1, "square"]], [], [[0.1, 0.1, 0.1, 0.1, "square"]]]
    assert adapter.fold_strata(targets) == [("circle", "square"), (), ("square",)]
    assert adapter.training_problem(targets, 3) is None
    assert "at least one box" in adapter.training_problem([[], [], []], 3)
    assert adapter.target_key(targets[2]) == adapter.target_key([[0.1000001, 0.1, 0.1, 0.1, "square"]])
    assert np.all(adapter.human_boxes(targets[0]).classes == [1, 0])
