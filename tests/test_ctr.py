"""The CTR (click / no-click) adapter: config, tasks, features, detection rules and its click model."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters.base import InvalidTask, UnsupportedLabelConfig
from relabel.adapters.models.click_model import ClickModel, dev_metrics_with_and_without, featurize_rows
from relabel.adapters.noise.clicks import click_errors, flag_click_errors
from relabel.adapters.tasks.clicks import ClickAdapter
from relabel.adapters.noise.flags import FlagOptions
from relabel.demo.data import LABEL_CONFIG as TOPIC_CONFIG

CONFIG = ('<View><Text name="user" value="$user"/><Text name="item" value="$item"/>'
          '<Text name="round" value="$relabel_round"/>'
          '<Choices name="click" toName="user" choice="single"><Choice value="click"/><Choice value="no_click"/>'
          '</Choices></View>')
TABLE_CONFIG = ('<View><Table name="row" value="$row"/><Choices name="clicked" toName="row">'
                '<Choice value="Not clicked"/><Choice value="Clicked"/></Choices></View>')


def choices_config(*values: str, mode: str = "single") -> str:
    return ('<View><Text name="t" value="$text"/><Choices name="c" toName="t" choice="' + mode + '">'
            + "".join(f'<Choice value="{v}"/>' for v in values) + "</Choices></View>")


def annotated(task_id, data, choice=None, annotation_id=1):
    result = [{"from_name": "click", "to_name": "user", "type": "choices", "value": {"choices": [choice]}}]
    return {"id": task_id, "data": data, "annotations": [] if choice is None else
            [{"id": annotation_id, "result": result, "updated_at": "2026-01-01"}]}


@pytest.fixture
def adapter():
    return ClickAdapter(CONFIG, label_field="clicked")


# --- the labeling config -------------------------------------------------------------------------------
@pytest.mark.parametrize("values, positive", [(["Click", "No click"], "Click"), (["no-click", "click"], "click"),
                                              (["Not clicked", "Clicked"], "Clicked"), (["0", "1"], "1")])
def test_click_like_choices_are_supported_and_the_positive_class_found(values, positive):
    config = choices_config(*values)
    assert ClickAdapter.supports(config)
    adapter = ClickAdapter(config)
    assert adapter.choices[1] == positive and adapter.choices[0] != positive


@pytest.mark.parametrize("config", [
    TOPIC_CONFIG, choices_config("positive", "negative"), choices_config("click", "no_click", mode="multiple"),
    choices_config("click", "no_click", "maybe"), choices_config("click", "clicked"), "<View><broken", "",
    "<View></View>"])
def test_other_configs_are_not_claimed(config):
    assert not ClickAdapter.supports(config)
    with pytest.raises(UnsupportedLabelConfig, match="click / no click"):
        ClickAdapter(config)


def test_a_config_whose_tags_read_no_data_field_needs_named_features():
    config = choices_config("click", "no_click").replace('value="$text"', 'value="fixed"')
    with pytest.raises(UnsupportedLabelConfig, match="name the features"):
        ClickAdapter(config)
    assert ClickAdapter(config, features=["user"]).input_from_task({"id": 1, "data": {"user": "a"}}) == {"user": "a"}


# --- reading tasks ---------------------------------------------------------------------------------------
def test_features_come_from_the_object_tags_without_the_drivers_or_the_label_field(adapter):
    task = {"id": 1, "data": {"user": "u1", "item": 7, "relabel_round": 2, "clicked": 1, "other": "x"}}
    assert adapter.input_from_task(task) == {"user": "u1", "item": 7}


def test_features_come_from_a_table_row_key_by_key():
    adapter = ClickAdapter(TABLE_CONFIG, label_field="clicked")
    row = {"user": "u1", "price": 9.5, "premium": True, "age": None, "clicked": 1, "relabel_rank": 3}
    assert adapter.input_from_task({"id": 1, "data": {"row": row}}) == {"user": "u1", "price": 9.5, "premium": True,
                                                                       "age": None}
    named = ClickAdapter(TABLE_CONFIG, features=["price", "site"])
    assert named.input_from_task({"id": 1, "data": {"row": row, "site": "s2"}}) == {"price": 9.5, "site": "s2"}
    assert adapter.input_from_task({"id": 2, "data": {"row": {"user": "u1", "age": float("nan")}}})["age"] is None
    assert adapter.example_from_task({"id": 3, "data": {"row": row}}).target == 1  # the logged click in the row


@pytest.mark.parametrize("config, features, data, field, problem", [
    (CONFIG, None, {"user": "u1"}, "data.item", "missing"),
    (CONFIG, None, {"user": "u1", "item": [1, 2]}, "data.item", "got list"),
    (TABLE_CONFIG, None, {"row": {"user": {"id": 3}}}, "data.row.user", "got dict"),
    (TABLE_CONFIG, ["user", "site"], {"row": {"user": "u1"}}, "data.site", "missing"),
    (CONFIG, None, "not a dict", "data", "not a JSON object"),
])
def test_bad_task_data_names_the_task_and_field(config, features, data, field, problem):
    with pytest.raises(InvalidTask) as raised:
        ClickAdapter(config, features=features).example_from_task({"id": 42, "data": data})
    assert str(raised.value).startswith(f"task 42: {field}:") and problem in str(raised.value)


@pytest.mark.parametrize("logged, target", [(1, 1), (0, 0), (True, 1), (False, 0), ("1", 1), ("false", 0),
                                            (1.0, 1), (None, None)])
def test_the_logged_click_labels_a_task_without_annotation(adapter, logged, target):
    example = adapter.example_from_task(annotated(5, {"user": "u", "item": "i", "clicked": logged}))
    assert example.target == target and example.annotation_id is None


def test_an_annotation_wins_over_the_logged_click(adapter):
    example = adapter.example_from_task(annotated(5, {"user": "u", "item": "i", "clicked": 1}, "no_click", 9))
    assert (example.target, example.annotation_id) == (0, 9)
    assert adapter.example_from_task(annotated(6, {"user": "u", "item": "i"})).target is None
    assert ClickAdapter(CONFIG).example_from_task(annotated(7, {"user": "u", "item": "i", "clicked": 1})).target \
        is None


@pytest.mark.parametrize("task, field, problem", [
    (annotated(8, {"user": "u", "item": "i", "clicked": "maybe"}), "data.clicked", "'maybe'"),
    (annotated(9, {"user": "u", "item": "i", "clicked": 2}), "data.clicked", "1/0 or true/false"),
    (annotated(10, {"user": "u", "item": "i"}, "purchase", 3), "annotation 3 click",
     "'purchase' is not in the labeling config (choices: click, no_click)"),
])
def test_bad_labels_name_the_task_and_field(adapter, task, field, problem):
    with pytest.raises(InvalidTask) as raised:
        adapter.example_from_task(task)
    assert str(raised.value).startswith(f"task {task['id']}: {field}:") and problem in str(raised.value)


def test_targets_predictions_and_outputs(adapter):
    assert (adapter.target_key(1), adapter.target_key(0)) == ("click", "no_click")
    assert adapter.to_prediction({"click_probability": 0.73, "segments": {}}) == {
        "result": [{"from_name": "click", "to_name": "user", "type": "choices", "value": {"choices": ["click"]}}],
        "score": 0.73}
    assert adapter.to_prediction({"click_probability": 0.2})["result"][0]["value"]["choices"] == ["no_click"]
    output = {"click_probability": np.float64(0.1234567), "segments": {"user": "u1", "item": None}}
    assert adapter.output_from_json(adapter.output_to_json(output)) == {"click_probability": 0.123457,
                                                                        "segments": {"user": "u1", "item": None}}
    assert adapter.training_problem([1, 1, 1, 1, 1], 5) and adapter.training_problem([1, 0], 5)
    assert adapter.training_problem([1, 0, 0, 1, 0], 5) is None


# --- features ------------------------------------------------------------------------------------------------
def test_numbers_with_many_distinct_values_are_numeric_and_the_rest_categorical():
    rows = [{"price": float(i), "rating": i % 5, "flag": i % 2 == 0, "site": f"s{i % 3}", "id": i} for i in range(30)]
    rows.append({"price": None, "rating": None, "flag": None, "site": None, "id": None})
    features = featurize_rows(rows, categorical_fields=["id"])
    assert features.encoding.numeric == ["price"]
    assert features.encoding.categorical == ["rating", "flag", "site", "id"]
    assert features.encoding.sizes() == [6, 3, 4, 31]
    assert abs(features.numeric[:30, 0].mean()) < 1e-6 and abs(features.numeric[:30, 0].std() - 1) < 1e-4
    assert features.numeric[30, 0] == 0 and features.categorical[30].tolist() == [0, 0, 0, 0]
    assert len(set(features.categorical[:30, 0])) == 5 and 0 not in features.categorical[:30]
    subset = features.take([3, 30])
    assert len(subset) == 2 and subset.segments()[1] == {"rating": None, "flag": None, "site": None, "id": None}
    # another set of rows is re-encoded with this encoding: unseen values are unknown (0), True is not 1
    other = featurize_rows([{"rating": 1, "flag": 1, "site": "new", "price": "n/a"}]).encoded_with(features.encoding)
    assert other.categorical[0, :3].tolist() == [features.categorical[1, 0], 0, 0] and other.numeric[0, 0] == 0


# --- detection ----------------------------------------------------------------------------------------------
def test_click_errors_and_thresholds():
    errors = click_errors(np.array([1, 0, 1, 0]), np.array([0.9, 0.9, 0.2, 0.5]))
    assert np.allclose(errors, [0.1, 0.9, 0.8, 0.5])
    assert flag_click_errors(errors, threshold=0.5).tolist() == [False, True, True, False]
    with pytest.raises(ValueError):
        click_errors(np.array([1, 2]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError):
        click_errors(np.array([1]), np.array([1.5]))


def test_the_quantile_rule_overall_with_ties_and_per_segment():
    errors = np.arange(100) / 100
    assert np.flatnonzero(flag_click_errors(errors, quantile=0.9)).tolist() == list(range(90, 100))
    assert not flag_click_errors(np.full(50, 0.3)).any()  # ties at the cutoff are never flagged
    tied_top = np.r_[np.zeros(80), np.full(20, 0.7)]
    assert flag_click_errors(tied_top, quantile=0.9).sum() == 0  # the cutoff is 0.7 itself
    assert flag_click_errors(tied_top, quantile=0.7).sum() == 20
    # segment a errs a lot everywhere, segment b little: each flags its own worst tenth
    errors = np.r_[np.linspace(0.5, 1.0, 20), np.linspace(0.0, 0.3, 20), [0.4]]
    segments = ["a"] * 20 + ["b"] * 20 + ["c"]
    overall = flag_click_errors(errors, quantile=0.9)
    per_segment = flag_click_errors(errors, quantile=0.9, segments=segments)
    assert overall[:20].sum() == 4 and not overall[20:].any()
    assert per_segment[:20].sum() == 2 and per_segment[20:40].sum() == 2
    assert not per_segment[40]  # a segment of one row is held to the overall cutoff
    assert flag_click_errors(np.array([0.0] * 20 + [0.99]), quantile=0.9, segments=["a"] * 20 + ["b"])[-1]


def test_each_flag_rule_in_find_disagreements(adapter):
    probabilities = np.arange(21) / 20
    targets = [0] * 21
    outputs = [{"click_probability": p, "segments": {"user": f"u{i % 2}"}} for i, p in enumerate(probabilities)]
    ids = list(range(100, 121))

    def flagged(**options):
        found = adapter.find_disagreements(ids, targets, outputs, FlagOptions(**options))
        return [d.task_id - 100 for d in found if d.flagged]

    assert flagged() == [19, 20]  # errors above the 0.9 quantile (18.0 of 0..20 twentieths)
    assert flagged(drop_threshold=0.7) == list(range(15, 21))
    assert flagged(budget=3) == [18, 19, 20]
    assert flagged(quality_threshold=0.22, budget=3) == [16, 17, 18, 19, 20]  # a quality threshold wins, as in noise.py
    assert flagged(flag_rule="disagreement") == list(range(11, 21))
    assert flagged(segment_field="user", drop_quantile=0.8) == [17, 18, 19, 20]
    # confident learning needs both classes: 4 clicks the model is sure are not clicks among 40 clear rows
    labels = [i % 2 for i in range(40)]
    sure = [{"click_probability": 0.05 if i in (1, 3, 5, 7) else 0.9 if label else 0.1}
            for i, label in enumerate(labels)]
    found = adapter.find_disagreements(list(range(40)), labels, sure, FlagOptions(flag_rule="confident_learning"))
    assert [d.task_id for d in found if d.flagged] == [1, 3, 5, 7]
    found = adapter.find_disagreements(ids, targets, outputs, FlagOptions(segment_field="user"))
    assert (found[20].human, found[20].model, found[20].label_quality) == ("no_click", "click", 0.0)
    assert found[5].detail == {"click_probability": 0.25, "click_error": 0.25, "segment": "u1"}
    assert adapter.find_disagreements([], [], []) == []
    with pytest.raises(ValueError, match="'item' is not a categorical feature.*known: user"):
        adapter.find_disagreements(ids, targets, outputs, FlagOptions(segment_field="item"))
    assert 0 <= adapter.estimate_noise_rate(targets, outputs) <= 1


# --- the click model ------------------------------------------------------------------------------------------
def interaction_tasks(n_rows: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """Click logs where a click depends on user x item only: users and items fall in two groups, and a user
    clicks items of their own group (85%) far more than others (15%); every user and item clicks half the time."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 30, n_rows), rng.integers(0, 30, n_rows)
    clicks = (rng.random(n_rows) < np.where(users % 2 == items % 2, 0.85, 0.15)).astype(int)
    tasks = [{"id": i, "data": {"user": f"u{u}", "item": f"i{it}", "clicked": int(c)}}
             for i, (u, it, c) in enumerate(zip(users, items, clicks))]
    return tasks, clicks


@pytest.fixture(scope="module")
def planted():
    adapter = ClickAdapter(CONFIG, label_field="clicked")
    tasks, clicks = interaction_tasks(2500)
    examples = [adapter.example_from_task(t) for t in tasks]
    assert [e.target for e in examples] == clicks.tolist()
    features = adapter.featurize([e.input for e in examples])
    train, test = np.arange(2000), np.arange(2000, 2500)
    model = adapter.new_model().fit(features.take(train), clicks[train])
    return adapter, examples, features, clicks, model, test


def test_the_model_learns_a_user_item_interaction(planted):
    from sklearn.metrics import roc_auc_score

    _, _, features, clicks, model, test = planted
    outputs = model.predict(features.take(test))
    assert len(outputs) == 500 and set(outputs[0]) == {"click_probability", "segments"}
    assert outputs[0]["segments"] == {"user": features.rows[2000]["user"], "item": features.rows[2000]["item"]}
    auc = roc_auc_score(clicks[test], [o["click_probability"] for o in outputs])
    assert auc > 0.8, auc  # the best possible is about 0.85; a model without interactions gets about 0.5


def test_a_saved_model_predicts_the_same_also_on_rows_featurized_anew(planted, tmp_path):
    adapter, examples, features, _, model, test = planted
    adapter.save_model(model, str(tmp_path))
    loaded = adapter.load_model(str(tmp_path))
    expected = [o["click_probability"] for o in model.predict(features.take(test))]
    # /predict featurizes only the requested rows: their own vocabulary, which the model must not trust
    fresh = adapter.featurize([examples[i].input for i in test[::-1]])
    again = [o["click_probability"] for o in loaded.predict(fresh)][::-1]
    assert np.allclose(expected, again, atol=1e-6)


def test_fits_are_deterministic_and_depend_on_the_seed(planted):
    _, _, features, clicks, _, _ = planted
    part = features.take(np.arange(600))

    def fit(seed):
        return ClickModel(seed=seed, epochs=2, min_steps=0).fit(part, clicks[:600]).predict(part)

    first = fit(0)
    assert np.array_equal(first, fit(0)) and not np.allclose(first, fit(1))


def test_dropping_the_flipped_rows_does_not_hurt_the_dev_metrics(planted):
    _, _, features, clicks, _, _ = planted
    rng = np.random.default_rng(5)
    flipped = np.zeros(len(clicks), dtype=bool)
    flipped[rng.choice(len(clicks), 500, replace=False)] = True
    noisy = np.where(flipped, 1 - clicks, clicks)
    result = dev_metrics_with_and_without(ClickModel, features, noisy, flipped, dev_fraction=0.2, seed=0)
    assert result["dev_rows"] == 400 and result["dropped_rows"] == 500
    assert result["with_dropped"]["train_rows"] == 2100 and result["without_dropped"]["train_rows"] == 1600
    with_dropped, without_dropped = result["with_dropped"], result["without_dropped"]
    assert 0.75 < without_dropped["auc"] <= 1 and 0 < without_dropped["log_loss"] < 0.69
    assert without_dropped["auc"] >= with_dropped["auc"] - 0.01
    assert without_dropped["log_loss"] < with_dropped["log_loss"]
    # dev drawn from all rows: the flipped rows in it keep their wrong label, the others are what the models differ by
    everywhere = dev_metrics_with_and_without(ClickModel, features, noisy, flipped, dev_fraction=0.2, dev_from="all")
    assert everywhere["dev_rows"] == 500 and everywhere["with_dropped"]["train_rows"] == 2000
    assert 1500 < everywhere["without_dropped"]["train_rows"] < 1700
    assert everywhere["without_dropped"]["auc"] >= everywhere["with_dropped"]["auc"] - 0.01
    with pytest.raises(ValueError, match="dev_from"):
        dev_metrics_with_and_without(ClickModel, features, noisy, flipped, dev_from="flagged")


def test_the_adapter_compares_with_and_without_the_dropped_rows(planted):
    adapter, examples, _, clicks, _, _ = planted
    dropped = np.zeros(600, dtype=bool)
    dropped[:60] = True
    result = adapter.evaluate_dropping([e.input for e in examples[:600]], clicks[:600], dropped)
    assert set(result) == {"dev_rows", "dropped_rows", "dev_from", "with_dropped", "without_dropped"}
    assert result["dev_rows"] == 108 and result["with_dropped"]["train_rows"] == 492
    assert set(result["without_dropped"]) == {"auc", "log_loss", "train_rows"}
