"""The text-generation adapter without Label Studio: config, annotations, predictions, flag rules, and
the real default seq2seq model on a small generated rewrite task."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from relabel.adapters.tasks import text_generation
from relabel.adapters.base import InvalidTask, UnsupportedLabelConfig
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.models.seq2seq import (FINETUNE_LEARNING_RATE, Seq2SeqGenerator, generation_budget,
                                     learning_rate_factor, training_epochs)
from relabel.adapters.models.torch_threads import available_cpus
from relabel.adapters.tasks.text_generation import (CANDIDATES_FIELD, DEFAULT_CHRF_THRESHOLD, TextGenerationAdapter,
                                      relabel_outcome)
from tests.textgen_data import (TEXTAREA_ONLY_CONFIG, TEXTGEN_CONFIG, as_label_studio_tasks, candidate_result,
                                corrupt_answers, make_pairs, textarea_result)

CLASSIFICATION_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
                         '<Choice value="a"/><Choice value="b"/></Choices></View>')
IMAGE_CAPTION_CONFIG = '<View><Image name="image" value="$image"/><TextArea name="caption" toName="image"/></View>'
NER_WITH_NOTES_CONFIG = ('<View><Labels name="label" toName="text"><Label value="PER"/></Labels>'
                         '<Text name="text" value="$text"/>'
                         '<TextArea name="note" toName="text" perRegion="true"/></View>')


# ---- config

def test_supports_a_textarea_on_a_text_only():
    assert TextGenerationAdapter.supports(TEXTGEN_CONFIG)
    assert TextGenerationAdapter.supports(TEXTAREA_ONLY_CONFIG)
    for config in (CLASSIFICATION_CONFIG, IMAGE_CAPTION_CONFIG, NER_WITH_NOTES_CONFIG, "<View>", "not xml", ""):
        assert not TextGenerationAdapter.supports(config), config
    with pytest.raises(UnsupportedLabelConfig, match="TextArea"):
        TextGenerationAdapter(CLASSIFICATION_CONFIG)


def test_reads_names_and_the_candidate_choices():
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG)
    assert (adapter.from_name, adapter.to_name, adapter.data_key, adapter.candidate_name) == \
        ("answer", "text", "text", "candidate")
    assert TextGenerationAdapter(TEXTAREA_ONLY_CONFIG).candidate_name is None
    documented = text_generation.__doc__[text_generation.__doc__.index("<View>"):
                                         text_generation.__doc__.index("</View>") + len("</View>")]
    assert (TextGenerationAdapter(documented).data_key, TextGenerationAdapter(documented).candidate_name) == \
        ("text", "candidate")
    # Choices with fixed options, or on another field, are not the candidates
    other = TEXTAREA_ONLY_CONFIG.replace("</View>", '<Choices name="ok" toName="text"><Choice value="y"/>'
                                                    '</Choices></View>')
    assert TextGenerationAdapter(other).candidate_name is None
    assert CANDIDATES_FIELD == "relabel_candidates"
    assert TextGenerationAdapter.name == "text-generation" and TextGenerationAdapter.default_folds == 5


# ---- tasks and annotations

def task(answer_result=None, annotation_id=7, text="03/04/2030"):
    annotations = [] if answer_result is None else [{"id": annotation_id, "result": answer_result}]
    return {"id": 42, "data": {"text": text}, "annotations": annotations}


def test_input_must_be_non_empty_text():
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG)
    assert adapter.input_from_task(task()) == "03/04/2030"
    with pytest.raises(InvalidTask, match=r"task 42: data.text"):
        adapter.input_from_task(task(text="  "))
    with pytest.raises(InvalidTask, match=r"task 5: data.text: missing"):
        adapter.input_from_task({"id": 5, "data": {"source": "x"}})


def test_reads_the_typed_answer_or_else_the_chosen_candidate():
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG)
    read = lambda result: adapter.example_from_task(task(result)).target  # noqa: E731
    assert read(textarea_result("  2030-04-03 ")) == "2030-04-03"
    assert read([{"from_name": "answer", "value": {"text": ["first", "second "]}}]) == "first\nsecond"
    assert read(candidate_result("2030-04-03")) == "2030-04-03"
    assert read(textarea_result("typed") + candidate_result("chosen")) == "typed"
    assert read(textarea_result("   ") + candidate_result("chosen")) == "chosen"
    assert read([]) is None
    assert adapter.example_from_task(task()).target is None  # never annotated
    textarea_only = TextGenerationAdapter(TEXTAREA_ONLY_CONFIG)
    assert textarea_only.example_from_task(task(candidate_result("chosen"))).target is None


@pytest.mark.parametrize("result, field", [
    ([{"from_name": "answer", "value": {"text": "not a list"}}], "annotation 7 answer"),
    ([{"from_name": "answer", "value": {"text": [3]}}], "annotation 7 answer"),
    ([{"from_name": "candidate", "value": {"choices": ["a", "b"]}}], "annotation 7 candidate"),
    ([{"from_name": "candidate", "value": {}}], "annotation 7 candidate"),
    ("not a list", "annotation 7 answer"),
])
def test_malformed_annotations_name_task_and_field(result, field):
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG)
    with pytest.raises(InvalidTask) as raised:
        adapter.example_from_task(task(result))
    assert (raised.value.task_id, raised.value.field_name) == (42, field)


def test_prediction_is_a_textarea_result():
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG)
    assert adapter.to_prediction("2030-04-03") == {"result": [
        {"from_name": "answer", "to_name": "text", "type": "textarea", "value": {"text": ["2030-04-03"]}}]}


def test_folds_outputs_and_settings():
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG, min_steps=50, seed=3)
    assert adapter.fold_strata(["a", "b", "a"]) == ["", "", ""]
    assert adapter.average_outputs(["x", "y", "y"]) == "y"
    assert adapter.average_outputs(["x", "y"]) == "x"
    assert adapter.featurize(("a", "b")) == ["a", "b"]
    assert adapter.training_problem(["a"] * 4, 5) is not None
    assert adapter.training_problem(["a"] * 5, 5) is None
    settings = adapter.settings()
    assert settings["generation_model"] == "" and settings["min_steps"] == 50 and settings["seed"] == 3
    assert settings["learning_rate"] > 0


# ---- flag rules

HUMANS = ["2030-10-07", "2030-10", "1999-12-31", "2030-07-10", "2031-10-07"]
MODELS = ["2030-10-07", "2030-10-07", "2030-10-07", "2030-10-07", "2030-10-07"]


def flags(options, humans=HUMANS, models=MODELS):
    found = TextGenerationAdapter(TEXTGEN_CONFIG).find_disagreements(list(range(10, 10 + len(humans))), humans,
                                                                     models, options)
    return [d.flagged for d in found], found


def test_default_rule_is_the_chrf_threshold():
    flagged, found = flags(None)
    qualities = [d.label_quality for d in found]
    assert flagged == [q < DEFAULT_CHRF_THRESHOLD or i == 2 for i, q in enumerate(qualities)]
    assert flagged == [False, True, True, True, True]
    assert flags(FlagOptions(flag_rule="disagreement"))[0] == flagged
    first, cut = found[0], found[1]
    assert (first.task_id, first.label_quality, first.human, first.model) == (10, 1.0, "2030-10-07", "2030-10-07")
    assert set(cut.detail) == {"chrf", "bleu", "shares_token", "model_key"}
    assert cut.detail["model_key"] == "2030-10-07" and cut.detail["shares_token"] is True
    assert cut.detail["chrf"] == pytest.approx(cut.label_quality * 100, abs=0.01)
    assert found[2].detail["shares_token"] is False


def test_threshold_and_bleu_options():
    # chrF of HUMANS against the model's answer: 100, 63.0, 10.2, 53.9, 54.4; BLEU: 100, 51.3, 12.7, 35.4, 66.9
    assert flags(FlagOptions(quality_threshold=0.6))[0] == [False, False, True, True, True]
    assert flags(FlagOptions(quality_threshold=0.54))[0] == [False, False, True, True, False]
    assert flags(FlagOptions(quality_threshold=0.0))[0] == [False, False, True, False, False]  # shares no token
    assert flags(FlagOptions(quality_threshold=0.0, bleu_threshold=0.6))[0] == [False, True, True, True, False]
    assert flags(FlagOptions(quality_threshold=0.0, bleu_threshold=0.99))[0] == [False, True, True, True, True]


def test_budget_flags_the_lowest_chrf_among_differing_answers():
    _, found = flags(None)
    order = np.argsort([d.label_quality for d in found], kind="stable")
    two, _ = flags(FlagOptions(budget=2))
    assert [i for i, f in enumerate(two) if f] == sorted(order[:2].tolist())
    everything, _ = flags(FlagOptions(budget=50))
    assert everything == [False, True, True, True, True]  # the model's own answer is never flagged
    assert flags(FlagOptions(budget=0))[0] == [False] * 5
    # a quality threshold wins over the budget, as for the other adapters
    assert flags(FlagOptions(budget=4, quality_threshold=0.0))[0] == [False, False, True, False, False]


def test_confident_learning_is_refused_and_nothing_gives_nothing():
    with pytest.raises(ValueError, match="not available for text generation"):
        flags(FlagOptions(flag_rule="confident_learning"))
    assert TextGenerationAdapter(TEXTGEN_CONFIG).find_disagreements([], [], [], None) == []


def test_relabel_outcome():
    assert relabel_outcome("2030-10", "2030-10-07", " 2030-10 ") == "kept"
    assert relabel_outcome("2030-10", "2030-10-07", "2030-10-07\n") == "replaced"
    assert relabel_outcome("2030-10", "2030-10-07", "2030-10-08") == "rewritten"
    assert relabel_outcome("same", "same", "same") == "kept"


# ---- the model's helpers

def test_training_schedule_helpers():
    assert training_epochs(n_pairs=400, batch_size=32, epochs=10, min_steps=700) == 54  # 13 batches an epoch
    assert training_epochs(n_pairs=5000, batch_size=32, epochs=10, min_steps=700) == 10
    assert generation_budget([10, 4], limit=512) == 23 and generation_budget([1000], limit=512) == 512
    factors = [learning_rate_factor(step, 100, warmup_share=0.1) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0 and max(factors) == 1.0
    assert factors[50] == pytest.approx(50 / 90) and factors[-1] == pytest.approx(1 / 90)
    assert 1 <= available_cpus()


# ---- the real default model

@pytest.fixture(scope="module")
def trained():
    """The default model, with its default training, fitted on 160 generated pairs (~25 s on 2 cores)."""
    pairs = make_pairs(220, seed=1)
    train, held_out = pairs[:160], pairs[160:]
    adapter = TextGenerationAdapter(TEXTGEN_CONFIG)
    model = adapter.new_model().fit(adapter.featurize([s for s, _ in train]), [t for _, t in train])
    return adapter, model, held_out


def test_default_model_learns_the_rewrite_and_generalises(trained):
    adapter, model, held_out = trained
    outputs = model.predict([source for source, _ in held_out])
    exact = np.mean([output == answer for output, (_, answer) in zip(outputs, held_out)])
    assert exact >= 0.9, list(zip(outputs, held_out))[:5]
    # its answers are what catches corrupted human answers
    noisy, wrong = corrupt_answers([answer for _, answer in held_out], 0.2, seed=2)
    found = adapter.find_disagreements(list(range(len(noisy))), noisy, outputs)
    assert all(d.flagged for d, w in zip(found, wrong) if w)
    assert np.mean([d.flagged for d, w in zip(found, wrong) if not w]) <= 0.1


def test_save_load_round_trip_predicts_the_same_from_threads(trained, tmp_path):
    adapter, model, held_out = trained
    sources = [source for source, _ in held_out]
    adapter.save_model(model, str(tmp_path))
    loaded = adapter.load_model(str(tmp_path))
    assert loaded.max_new_tokens_ == model.max_new_tokens_
    with ThreadPoolExecutor(4) as pool:  # the backend's request threads share one loaded model
        concurrent = list(pool.map(lambda source: loaded.predict([source])[0], sources[:12]))
    assert concurrent == model.predict(sources[:12])
    assert loaded.predict(sources) == model.predict(sources)
    other = TextGenerationAdapter(TEXTGEN_CONFIG, generation_model=str(tmp_path), min_steps=20)
    with pytest.raises(ValueError, match="train a new model"):
        other.load_model(str(tmp_path))
    # a named model (here the saved one, as a local directory) is fine-tuned, gently
    fine_tuned = other.new_model()
    assert fine_tuned.peak_learning_rate() == FINETUNE_LEARNING_RATE
    fine_tuned.fit(sources[:8], [answer for _, answer in held_out[:8]])
    assert sum(a == b for a, b in zip(fine_tuned.predict(sources[:8]), model.predict(sources[:8]))) >= 6


def test_training_is_seeded_and_deterministic():
    pairs = make_pairs(24, seed=5)
    sources, answers = [s for s, _ in pairs], [t for _, t in pairs]

    def weights(seed):
        model = Seq2SeqGenerator(min_steps=20, seed=seed).fit(sources, answers)
        return model, np.concatenate([p.detach().numpy().ravel() for p in model.model_.parameters()])

    first, first_weights = weights(0)
    second, second_weights = weights(0)
    _, other_weights = weights(1)
    assert np.array_equal(first_weights, second_weights)
    assert first.predict(sources) == second.predict(sources)
    assert not np.array_equal(first_weights, other_weights)


def test_generated_data_helpers():
    pairs = make_pairs(50, seed=0)
    assert len({source for source, _ in pairs}) == 50
    source, answer = pairs[0]
    day, month, year = source.split("/")
    assert answer == f"{year}-{month}-{day}"
    noisy, wrong = corrupt_answers([a for _, a in pairs], 0.2, seed=0)
    assert wrong.sum() == 10
    assert all((n != a) == w for n, (_, a), w in zip(noisy, pairs, wrong))
    tasks = as_label_studio_tasks(pairs[:2], noisy[:2])
    assert tasks[0]["data"] == {"text": pairs[0][0]}
    assert TextGenerationAdapter(TEXTGEN_CONFIG).example_from_task({"id": 1, **tasks[0]}).target == noisy[0]
