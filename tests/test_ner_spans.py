"""Unit tests of span/token/tag alignment, the per-class span diff and NER disagreement (no model, no I/O)."""
from __future__ import annotations

import numpy as np
import pytest

from relabel.adapters import InvalidTask, NerAdapter, adapter_for_config
from relabel.adapters.tasks.ner import TagProbabilities
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.spans import (class_probabilities, compare_spans, differing_classes, locate_span, sentence_scores,
                            spans_to_tags, tag_names, tags_to_spans, tokenize, utf16_to_code_points)

CLASSES = ["PER", "LOC"]
CONFIG = """<View><Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
<Text name="text" value="$sentence"/></View>"""


def test_tokenize_gives_code_point_offsets_of_words_and_punctuation():
    text = "Zoë met Bob, in São Paulo 🙂!"
    assert [text[s:e] for s, e in tokenize(text)] == ["Zoë", "met", "Bob", ",", "in", "São", "Paulo", "🙂", "!"]
    assert tokenize("") == [] and tokenize("   ") == []


def test_spans_round_trip_through_bio_tags():
    text = "Ann Lee flew from New York to Paris"
    offsets = tokenize(text)
    spans = [(0, 7, "PER"), (18, 26, "LOC"), (30, 35, "LOC")]
    tags, snapped, problems = spans_to_tags(offsets, spans, CLASSES)
    names = tag_names(CLASSES)
    assert [names[t] for t in tags] == ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC"]
    assert snapped == spans and problems == []
    assert tags_to_spans(offsets, tags, CLASSES) == spans


def test_adjacent_entities_of_one_class_stay_apart():
    text = "Ann Bob"
    offsets = tokenize(text)
    tags, _, _ = spans_to_tags(offsets, [(0, 3, "PER"), (4, 7, "PER")], CLASSES)
    assert tags_to_spans(offsets, tags, CLASSES) == [(0, 3, "PER"), (4, 7, "PER")]


def test_an_i_tag_without_its_b_starts_a_span():
    offsets = tokenize("a b c")
    assert tags_to_spans(offsets, [0, 2, 4], CLASSES) == [(2, 3, "PER"), (4, 5, "LOC")]


def test_misaligned_empty_and_overlapping_spans_are_reported_not_fatal():
    text = "Johnson went to Rome"
    offsets = tokenize(text)
    spans = [(0, 4, "PER"), (7, 8, "LOC"), (16, 20, "LOC"), (16, 18, "PER")]
    tags, snapped, problems = spans_to_tags(offsets, spans, CLASSES)
    assert snapped == [(0, 7, "PER"), (16, 20, "LOC")]  # "John" widened to the word "Johnson"
    assert sorted(p.kind for p in problems) == ["empty", "misaligned", "overlapping"]


def test_utf16_offsets_after_an_emoji_are_converted():
    text = "🙂 Paris is nice"
    assert utf16_to_code_points(text, 3) == 2  # the emoji is two UTF-16 units, one code point
    assert locate_span(text, 2, 7, "Paris") == (2, 7)  # code points, as Python counts
    assert locate_span(text, 3, 8, "Paris") == (2, 7)  # UTF-16 units, as JavaScript counts
    assert locate_span(text, 0, 4, "Rome") is None
    assert locate_span(text, 5, 99, None) is None


def test_compare_spans_names_each_kind_per_class():
    human = [(0, 3, "PER"), (10, 15, "LOC"), (20, 25, "PER"), (30, 35, "LOC")]
    model = [(0, 3, "PER"), (10, 15, "PER"), (20, 28, "PER"), (40, 45, "LOC")]
    errors = compare_spans(human, model)
    assert errors["retyped"] == {"LOC": 1}
    assert errors["misbounded"] == {"PER": 1}
    assert errors["added"] == {"LOC": 1}
    assert errors["missed"] == {"LOC": 1}
    assert differing_classes(human, model) == ["LOC", "PER"]
    assert differing_classes(human, human) == []
    assert differing_classes([(0, 3, "PER")], [(0, 3, "LOC")]) == ["LOC", "PER"]


def test_sentence_score_is_the_worst_token_and_b_i_are_merged():
    assert np.allclose(sentence_scores([0.9, 0.2, 0.8, 0.7, 0.6], [3, 0, 2]), [0.2, 1.0, 0.6])
    merged = class_probabilities(np.array([[0.1, 0.3, 0.4, 0.1, 0.1]]))
    assert np.allclose(merged, [[0.1, 0.7, 0.2]])


def tag_probs(text: str, spans: list, confidence: float = 0.9) -> TagProbabilities:
    """Model output whose most likely tags are `spans`, each word at `confidence`."""
    offsets = tokenize(text)
    tags, _, _ = spans_to_tags(offsets, spans, CLASSES)
    probabilities = np.full((len(offsets), 5), (1 - confidence) / 4)
    probabilities[np.arange(len(offsets)), tags] = confidence
    return TagProbabilities(text, offsets, probabilities)


def test_adapter_reads_the_config_and_is_chosen_for_labels_on_text():
    adapter = adapter_for_config(CONFIG)
    assert isinstance(adapter, NerAdapter)
    assert (adapter.from_name, adapter.to_name, adapter.data_key, adapter.classes) == ("ner", "text", "sentence", CLASSES)


def test_example_snaps_spans_and_rejects_unknown_labels():
    adapter = NerAdapter(CONFIG)
    task = {"id": 7, "data": {"sentence": "Johnson went to Rome"}, "annotations": [{"id": 3, "result": [
        {"from_name": "ner", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 4, "text": "John", "labels": ["PER"]}},
        {"from_name": "ner", "to_name": "text", "type": "labels",
         "value": {"start": 16, "end": 20, "text": "Rome", "labels": ["LOC"]}}]}]}
    example = adapter.example_from_task(task)
    assert example.target == [[0, 7, "PER"], [16, 20, "LOC"]]
    assert len(example.notes) == 1 and "misaligned" in example.notes[0]
    task["annotations"][0]["result"][1]["value"]["labels"] = ["ORG"]
    with pytest.raises(InvalidTask, match="task 7: annotation 3 ner: label 'ORG' is not in the labeling config"):
        adapter.example_from_task(task)


def test_an_annotation_without_spans_is_a_label_and_no_annotation_is_none():
    adapter = NerAdapter(CONFIG)
    task = {"id": 1, "data": {"sentence": "nothing here"}, "annotations": [{"id": 2, "result": []}]}
    assert adapter.example_from_task(task).target == []
    assert adapter.example_from_task({"id": 1, "data": {"sentence": "x"}}).target is None


def test_disagreement_flags_the_sentences_whose_spans_differ_per_class():
    adapter = NerAdapter(CONFIG)
    texts = ["Ann lives in Rome", "Bob visited Oslo", "Carl saw Lima"]
    human = [[[0, 3, "PER"], [13, 17, "LOC"]], [[0, 3, "PER"]], [[0, 4, "LOC"], [9, 13, "LOC"]]]
    model = [[(0, 3, "PER"), (13, 17, "LOC")], [(0, 3, "PER"), (12, 16, "LOC")], [(0, 4, "PER"), (9, 13, "LOC")]]
    outputs = [tag_probs(t, m) for t, m in zip(texts, model)]
    found = adapter.find_disagreements([10, 11, 12], human, outputs, FlagOptions(flag_rule="disagreement"))
    assert [d.flagged for d in found] == [False, True, True]
    assert found[1].detail["errors"] == {"missed": {"LOC": 1}} and found[1].detail["classes"] == ["LOC"]
    assert found[2].detail["errors"] == {"retyped": {"LOC": 1}} and found[2].detail["classes"] == ["LOC", "PER"]
    assert found[1].human == "PER 'Bob'" and found[1].model == "PER 'Bob'; LOC 'Oslo'"
    assert found[0].label_quality > found[1].label_quality


def test_budget_and_threshold_flag_the_lowest_sentence_scores():
    adapter = NerAdapter(CONFIG)
    texts = ["Ann", "Bob", "Carl", "Dan"]
    human = [[[0, 3, "PER"]], [[0, 3, "PER"]], [[0, 4, "PER"]], [[0, 3, "PER"]]]
    outputs = [tag_probs(t, [(0, len(t), "PER")], c) for t, c in zip(texts, [0.9, 0.5, 0.3, 0.95])]
    found = adapter.find_disagreements([1, 2, 3, 4], human, outputs, FlagOptions(budget=2))
    assert [d.flagged for d in found] == [False, True, True, False]
    found = adapter.find_disagreements([1, 2, 3, 4], human, outputs, FlagOptions(quality_threshold=0.6))
    assert [d.flagged for d in found] == [False, False, True, False]


def test_outputs_survive_json_and_predictions_are_label_studio_spans():
    adapter = NerAdapter(CONFIG)
    output = tag_probs("Ann lives in Rome", [(0, 3, "PER"), (13, 17, "LOC")])
    again = adapter.output_from_json(adapter.output_to_json(output))
    assert again.offsets == output.offsets and np.allclose(again.probabilities, output.probabilities)
    prediction = adapter.to_prediction(output)
    assert [r["value"] for r in prediction["result"]] == [
        {"start": 0, "end": 3, "text": "Ann", "labels": ["PER"]},
        {"start": 13, "end": 17, "text": "Rome", "labels": ["LOC"]}]
    assert prediction["score"] == pytest.approx(0.9)


def test_ner_averages_in_sample_outputs_only_where_the_full_model_cannot_learn_the_spans_by_heart():
    from relabel.backend.config import Settings

    adapter = NerAdapter(CONFIG)  # 3 epochs, batches of 16, at least 100 steps
    assert adapter.prediction_source_for(60) == "out_of_fold"  # 4 batches: 25 passes, the wrong spans learned
    assert adapter.prediction_source_for(800) == "blended"  # 50 batches: its 3 passes
    assert Settings().for_adapter(adapter).prediction_source is None  # open until the labeled tasks are counted
    assert Settings().for_adapter(adapter, 800).prediction_source == "blended"
    assert Settings(prediction_source="in_sample").for_adapter(adapter, 800).prediction_source == "in_sample"


def test_a_blended_sentence_is_scored_by_each_source_apart_and_keeps_its_sources_through_json():
    from relabel.adapters.noise.probabilities import label_quality_scores

    adapter = NerAdapter(CONFIG)
    texts, human = ["Ann met Bob", "Oslo"], [[[0, 3, "PER"], [8, 11, "PER"]], [[0, 4, "LOC"]]]
    # the out-of-fold models doubt "Bob" (LOC, not PER), the full model does not; both half doubt "Oslo"
    out_of_fold = [tag_probs(texts[0], [(0, 3, "PER"), (8, 11, "LOC")], 0.9), tag_probs(texts[1], [(0, 4, "PER")], 0.5)]
    in_sample = [tag_probs(texts[0], [(0, 3, "PER"), (8, 11, "PER")], 0.9), tag_probs(texts[1], [(0, 4, "LOC")], 0.5)]
    blended = [adapter.blend_outputs(o, i) for o, i in zip(out_of_fold, in_sample)]
    assert all(len(b.sources) == 2 for b in blended)
    assert np.allclose(blended[0].probabilities, adapter.average_outputs([out_of_fold[0], in_sample[0]]).probabilities)

    def sentence_quality(outputs):
        return [d.label_quality for d in adapter.find_disagreements([1, 2], human, outputs)]

    # each source's worst-word score, averaged: not the score of the averaged probabilities
    each_source = np.mean([sentence_quality(out_of_fold), sentence_quality(in_sample)], axis=0)
    assert sentence_quality(blended) == pytest.approx(each_source)
    averaged = sentence_quality([adapter.average_outputs([o, i]) for o, i in zip(out_of_fold, in_sample)])
    assert abs(averaged[0] - each_source[0]) > 0.005
    # ... and the worst-word score is the task type's (cleanlab's per-word confidence_weighted_entropy, min)
    labels, probabilities, _ = adapter._token_arrays(human[1:], in_sample[1:])
    assert sentence_quality(in_sample)[1] == pytest.approx(label_quality_scores(
        labels, probabilities, "confidence_weighted_entropy").min())

    stored = [adapter.output_from_json(adapter.output_to_json(b)) for b in blended]
    assert "probabilities" not in adapter.output_to_json(blended[0])  # stored once, as its two sources
    assert np.allclose(stored[0].probabilities, blended[0].probabilities, atol=1e-5)
    assert sentence_quality(stored) == pytest.approx(sentence_quality(blended), abs=1e-4)
    # an output of one source is stored and scored as before
    assert adapter.output_from_json(adapter.output_to_json(in_sample[0])).sources is None


class WordMemory:
    """A token tagger that predicts each word's most frequent training tag (0.8) and O for unseen words (0.6):
    enough model for the training's wiring, fitted in no time."""

    def __init__(self, adapter):
        self.adapter = adapter

    def fit(self, texts, targets):
        from collections import Counter, defaultdict

        seen = defaultdict(Counter)
        for text, spans in zip(texts, targets):
            for word, tag in zip(text.words, spans_to_tags(text.offsets, [tuple(s) for s in spans], CLASSES)[0]):
                seen[word][int(tag)] += 1
        self.tag_of_ = {word: counts.most_common(1)[0][0] for word, counts in seen.items()}
        return self

    def predict(self, texts):
        outputs = []
        for text in texts:
            probabilities = np.full((len(text.offsets), 5), 0.1)
            for i, word in enumerate(text.words):
                probabilities[i] = 0.05
                probabilities[i, self.tag_of_.get(word, 0)] = 0.8 if word in self.tag_of_ else 0.6
            outputs.append(TagProbabilities(text.text, text.offsets, probabilities / probabilities.sum(1, keepdims=True)))
        return outputs


def test_the_training_keeps_both_sources_of_a_blended_ner_output_in_what_the_round_reads():
    from relabel.adapters.base import Example
    from relabel.backend.config import Settings
    from relabel.backend.training import fit_and_predict

    adapter = NerAdapter(CONFIG)
    adapter.new_model = lambda: WordMemory(adapter)
    names, places = ["Ann", "Bob", "Carl", "Dan", "Eve"], ["Rome", "Oslo", "Lima", "Kiev", "Bern"]
    texts = [f"{names[i % 5]} saw {places[(i * 3) % 5]} today" for i in range(40)]
    targets = [[[0, len(names[i % 5]), "PER"], [len(names[i % 5]) + 5, len(names[i % 5]) + 9, "LOC"]] for i in range(40)]
    assert texts[7] == "Carl saw Oslo today"
    targets[7] = [[0, 4, "LOC"], [9, 13, "LOC"]]  # the name typed as a place
    labeled = [Example(task_id=i, input=text, target=target, annotation_id=i)
               for i, (text, target) in enumerate(zip(texts, targets))]
    result = fit_and_predict(adapter, Settings(n_folds=4, prediction_source="blended"), labeled, [], lambda *a: None)
    assert result["prediction_source"] == "blended"
    stored = [adapter.output_from_json(item["output"]) for item in result["items"]]
    assert all(len(output.sources) == 2 for output in stored)
    found = adapter.find_disagreements([e.task_id for e in labeled], targets, stored)
    worst = min(found, key=lambda d: d.label_quality)
    assert worst.task_id == 7 and worst.flagged
