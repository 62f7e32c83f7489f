"""Ratings and numbers (<Rating>, <Number>): labels, the ridge model, flags far from the model's value."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters import adapter_class_for_config
from relabel.adapters.base import InvalidTask
from relabel.adapters.models.text_classifiers import TextFeatures
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.regression import get_label_quality_scores, regression_metrics, robust_residual_z
from relabel.adapters.tasks.regression import RegressionTextAdapter

RATING = '<View><Text name="review" value="$text"/><Rating name="stars" toName="review" maxRating="5"/></View>'
NUMBER = ('<View><Paragraphs name="chat" value="$dialogue"/>'
          '<Number name="minutes" toName="chat" min="0" max="120" step="1"/></View>')


def rating(value, annotation_id=1):
    return {"id": annotation_id, "result": [{"from_name": "stars", "to_name": "review", "type": "rating",
                                             "value": {"rating": value}}]}


def test_rating_and_number_configs_get_the_regression_adapter():
    assert adapter_class_for_config(RATING) is RegressionTextAdapter
    assert adapter_class_for_config(NUMBER) is RegressionTextAdapter
    stars, minutes = RegressionTextAdapter(RATING), RegressionTextAdapter(NUMBER)
    assert (stars.result_type, stars.lowest, stars.highest) == ("rating", 1.0, 5.0)
    assert (minutes.result_type, minutes.lowest, minutes.highest, minutes.step) == ("number", 0.0, 120.0, 1.0)
    assert minutes.input_from_task({"id": 1, "data": {"dialogue": [{"author": "a", "text": "hi"}]}}) == "a: hi"


@pytest.mark.parametrize("value, problem", [(7, "outside the labeling config's range"), ("4", "expected a rating"),
                                            (True, "expected a rating"), (float("nan"), "expected a rating")])
def test_bad_values_name_the_task_and_annotation(value, problem):
    with pytest.raises(InvalidTask, match=rf"3.*annotation 1 stars.*{problem}"):
        RegressionTextAdapter(RATING).example_from_task({"id": 3, "data": {"text": "ok"}, "annotations": [rating(value)]})


def test_values_read_and_predictions_written_as_label_studio_expects():
    stars = RegressionTextAdapter(RATING)
    assert stars.example_from_task({"id": 3, "data": {"text": "ok"}, "annotations": [rating(4)]}).target == 4.0
    assert stars.to_prediction(3.6)["result"][0] == {"from_name": "stars", "to_name": "review", "type": "rating",
                                                     "value": {"rating": 4}}
    assert stars.to_prediction(9.0)["result"][0]["value"] == {"rating": 5}  # within the stars


def test_outliers_among_the_residuals_are_flagged_and_ranked_first():
    rng = np.random.default_rng(0)
    truth = rng.uniform(1, 5, 200)
    predictions = truth + rng.uniform(-0.4, 0.4, 200)  # off by a little everywhere: no outlier
    labels = truth.copy()
    wrong = [3, 50, 120, 177]
    labels[wrong] = np.where(truth[wrong] > 3, 1.0, 5.0)  # a review's stars given the wrong way round
    assert set(np.flatnonzero(np.abs(robust_residual_z(labels, predictions)) > 3)) == set(wrong)
    assert set(np.argsort(get_label_quality_scores(labels, predictions))[:4]) == set(wrong)
    adapter = RegressionTextAdapter(NUMBER.replace('step="1"', ""))
    found = adapter.find_disagreements(list(range(200)), list(labels), list(predictions))
    assert {d.task_id for d in found if d.flagged} == set(wrong)
    planted = next(d for d in found if d.task_id == 3)
    kind = "below" if labels[3] < predictions[3] else "above"
    assert planted.errors == {kind: {planted.human: 1}}
    assert adapter.flag_reason(planted).startswith(f"human: {planted.human} · model: {predictions[3]:.2f} ({kind}")
    budget = adapter.find_disagreements(list(range(200)), list(labels), list(predictions), FlagOptions(budget=10))
    assert sum(d.flagged for d in budget) == 10


def test_metrics_and_the_ridge_model():
    assert regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(
        {"r2": 0.5, "mae": 1 / 3, "n": 3})
    rng = np.random.default_rng(1)
    texts = [("great " * (i % 5 + 1)) + f"item {i}" for i in range(60)]
    values = [float(i % 5 + 1) for i in range(60)]
    adapter = RegressionTextAdapter(RATING)
    model = adapter.new_model().fit(TextFeatures(texts, rng.normal(size=(60, 4))), values)
    predicted = model.predict(TextFeatures(texts, rng.normal(size=(60, 4))))
    assert predicted.shape == (60,) and predicted.min() >= 1 and predicted.max() <= 5
    assert np.corrcoef(predicted, values)[0, 1] > 0.8
