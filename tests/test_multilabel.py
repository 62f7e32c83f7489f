"""Multi-label tags (<Choices choice="multiple">): labels, one-vs-rest model, missing and extra tags."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters import adapter_class_for_config
from relabel.adapters.base import InvalidTask
from relabel.adapters.models.text_classifiers import OneVsRestEnsemble, TextFeatures
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.metrics import multilabel_metrics
from relabel.adapters.noise.multilabel import doubtful_tags, find_label_issues, get_label_quality_scores, tag_disagreements
from relabel.adapters.tasks.multilabel import MultiLabelTextAdapter
from relabel.adapters.tasks.text_classification import TextClassificationAdapter

TAGS = ("billing", "bug", "praise")
CONFIG = ('<View><Text name="text" value="$text"/><Choices name="tags" toName="text" choice="multiple">'
          + "".join(f'<Choice value="{t}"/>' for t in TAGS) + "</Choices></View>")


def annotation(*tags, annotation_id=1):
    return {"id": annotation_id, "result": [{"from_name": "tags", "to_name": "text", "type": "choices",
                                             "value": {"choices": list(tags)}}] if tags else []}


def test_multiple_choices_get_the_multi_label_adapter_and_single_ones_keep_theirs():
    assert adapter_class_for_config(CONFIG) is MultiLabelTextAdapter
    assert adapter_class_for_config(CONFIG.replace(' choice="multiple"', "")) is TextClassificationAdapter
    html = CONFIG.replace('<Text name="text" value="$text"/>', '<HyperText name="text" value="$html"/>')
    assert adapter_class_for_config(html) is MultiLabelTextAdapter


def test_labels_are_tag_sets_in_config_order_and_bad_ones_name_the_task():
    adapter = MultiLabelTextAdapter(CONFIG)
    task = {"id": 4, "data": {"text": "charged twice and it crashed"}, "annotations": [annotation("bug", "billing")]}
    assert adapter.example_from_task(task).target == ["billing", "bug"]
    assert adapter.example_from_task({**task, "annotations": [annotation()]}).target == []  # "no tag applies"
    assert adapter.target_key([]) == "(no tags)" and adapter.target_key(["billing", "bug"]) == "billing|bug"
    with pytest.raises(InvalidTask, match=r"4.*annotation 1 tags.*'refund'.*not in the labeling config"):
        adapter.example_from_task({**task, "annotations": [annotation("refund")]})


def noisy_tags(n=300, seed=0):
    """Tags with model probabilities that know the truth, and 20 labels with a tag dropped or added."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 3)) < 0.35
    pred_probs = np.clip(np.where(truth, 0.85, 0.1) + rng.normal(0, 0.07, truth.shape), 0.01, 0.99)
    tags = truth.copy()
    wrong = rng.choice(n, 20, replace=False)
    for i in wrong:
        k = rng.integers(3)
        tags[i, k] = ~tags[i, k]
    return tags, pred_probs, set(wrong.tolist())


def test_missing_and_extra_tags_and_the_quality_ranking_find_the_planted_errors():
    tags, pred_probs, wrong = noisy_tags()
    missing, extra = tag_disagreements(tags, pred_probs)
    assert set(np.flatnonzero((missing | extra).any(axis=1))) == wrong
    quality = get_label_quality_scores(tags, pred_probs)
    assert set(np.argsort(quality)[:20].tolist()) == wrong
    assert set(np.flatnonzero(find_label_issues(tags, pred_probs))) >= wrong - {min(wrong)}  # (nearly) all
    assert doubtful_tags(np.array([[True, False]]), np.array([[0.9, 0.3]])) == [[1]]  # no disagreement: the closest


def test_adapter_flags_the_planted_errors_and_says_which_tags():
    tags, pred_probs, wrong = noisy_tags()
    adapter = MultiLabelTextAdapter(CONFIG)
    targets = [[t for t, chosen in zip(TAGS, row) if chosen] for row in tags]
    found = adapter.find_disagreements(list(range(1, len(targets) + 1)), targets, list(pred_probs))
    flagged = {d.task_id - 1 for d in found if d.flagged}
    assert len(flagged & wrong) >= 18 and len(flagged) <= 30
    planted = next(d for d in found if d.task_id - 1 in wrong and d.flagged)
    kind = "missing" if set(planted.errors.get("missing", {})) else "extra"
    assert sum(planted.errors[kind].values()) == 1
    reason = adapter.flag_reason(planted)
    assert reason.startswith(kind) and f"human: {planted.human}" in reason
    paper = adapter.find_disagreements(list(range(len(targets))), targets, list(pred_probs),
                                       FlagOptions(flag_rule="disagreement"))
    assert {d.task_id for d in paper if d.flagged} == wrong


def test_predictions_are_multi_choice_and_metrics_count_tags():
    adapter = MultiLabelTextAdapter(CONFIG)
    prediction = adapter.to_prediction(np.array([0.9, 0.2, 0.6]))
    assert prediction["result"][0]["value"] == {"choices": ["billing", "praise"]} and prediction["score"] == 0.6
    metrics = multilabel_metrics(np.array([[True, False], [True, True]]), np.array([[True, False], [False, True]]))
    assert metrics["exact_match"] == 0.5 and metrics["micro_f1"] == pytest.approx(0.8)


def test_one_vs_rest_model_learns_each_tag_and_survives_a_tag_nobody_chose():
    rng = np.random.default_rng(1)
    texts = [f"{'refund charge' if i % 2 else 'crash error'} item {i}" for i in range(40)]
    features = TextFeatures(texts, rng.normal(size=(40, 8)))
    targets = [["billing"] if i % 2 else ["bug"] for i in range(40)]
    model = OneVsRestEnsemble(list(TAGS)).fit(features, targets)
    probabilities = model.predict(features)
    assert probabilities.shape == (40, 3) and (probabilities[:, 2] == 0).all()  # "praise": never chosen
    assert (probabilities[1::2, 0] > 0.5).all() and (probabilities[::2, 1] > 0.5).all()


def test_a_saved_model_loads_back_and_refuses_a_project_whose_tags_changed(tmp_path):
    rng = np.random.default_rng(2)
    features = TextFeatures([f"ticket {i}" for i in range(20)], rng.normal(size=(20, 4)))
    adapter = MultiLabelTextAdapter(CONFIG)
    model = adapter.new_model().fit(features, [["bug"], ["billing", "praise"]] * 10)
    adapter.save_model(model, str(tmp_path))
    assert np.allclose(adapter.load_model(str(tmp_path)).predict(features), model.predict(features))
    with pytest.raises(ValueError, match="train a new model"):
        MultiLabelTextAdapter(CONFIG.replace('<Choice value="praise"/>', "")).load_model(str(tmp_path))
