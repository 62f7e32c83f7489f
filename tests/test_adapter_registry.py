"""The adapter interface's contracts: options are checked, policies and error kinds are declared."""
from __future__ import annotations

import pytest

from relabel.adapters import (ADAPTERS, ClickAdapter, NerAdapter, ObjectDetectionAdapter, RoundPolicy,
                              TextClassificationAdapter, adapter_for_config, check_adapter_options)
from relabel.adapters.base import Disagreement
from relabel.adapters.noise import boxes, spans
from relabel.backend.config import Settings
from relabel.demo.data import LABEL_CONFIG
from relabel.rounds.policies import DropRowsRound, RelabelRound, policy_for


def test_unknown_options_raise_naming_them():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['mdoe'\] for text-classification"):
        adapter_for_config(LABEL_CONFIG, {"text-classification": {"mdoe": "finetune"}})
    # an option misspelled for another task type is an error too: the configuration is wrong for that one
    with pytest.raises(ValueError, match=r"\['epoch'\] for ner"):
        adapter_for_config(LABEL_CONFIG, {"ner": {"epoch": 3}})
    with pytest.raises(ValueError, match="unknown task type 'text_classification'"):
        adapter_for_config(LABEL_CONFIG, {"text_classification": {"mode": "finetune"}})
    with pytest.raises(ValueError, match=r"unknown runtime option\(s\) \['mode'\]"):
        adapter_for_config(LABEL_CONFIG, mode="finetune")
    adapter = adapter_for_config(LABEL_CONFIG, {"text-classification": {"mode": "embedding"}, "ner": {"epochs": 9}},
                                 device="cpu", fetch_media=None)
    assert isinstance(adapter, TextClassificationAdapter) and (adapter.mode, adapter.device) == ("embedding", "cpu")


def test_the_backend_settings_name_only_known_options():
    check_adapter_options(Settings().adapter_options())
    assert set(Settings().adapter_options()) == {a.name for a in ADAPTERS}


def test_every_adapter_declares_what_the_round_reads():
    for adapter_class in ADAPTERS:
        assert adapter_class.description and isinstance(adapter_class.round_policy, RoundPolicy)
        assert isinstance(policy_for(adapter_class.round_policy), RelabelRound)
    assert ClickAdapter.round_policy is RoundPolicy.DROP_ROWS
    assert isinstance(policy_for(RoundPolicy.DROP_ROWS), DropRowsRound)
    # only the clicks round exports annotations; a re-label round reads task data alone
    assert policy_for(RoundPolicy.DROP_ROWS).reads_task_labels and not policy_for(RoundPolicy.RELABEL).reads_task_labels
    assert [a.name for a in ADAPTERS if a.round_policy is RoundPolicy.DROP_ROWS] == ["ctr"]
    assert list(NerAdapter.error_kinds) == list(spans.ERROR_KINDS)
    assert list(ObjectDetectionAdapter.error_kinds) == list(boxes.ERROR_KINDS)
    assert all(meaning for meaning in {**NerAdapter.error_kinds, **ObjectDetectionAdapter.error_kinds}.values())
    assert TextClassificationAdapter.error_kinds == {}
    assert policy_for(RoundPolicy.DROP_ROWS).project_settings(3) == {"drop_flagged_before_round": 3}
    assert policy_for(RoundPolicy.RELABEL).project_settings(3) == {"drop_flagged_before_round": None}


def test_a_disagreement_says_its_classes_and_shows_its_facts():
    one_class = Disagreement(1, True, 0.2, "sports", "food", {"model_confidence": 0.9})
    assert one_class.held_classes == one_class.flagged_classes == ["sports"]
    assert one_class.detail == {"model_confidence": 0.9}
    spans_label = Disagreement(2, True, 0.1, "PER 'Ann'", "(no entities)", {"worst_word": "Ann"}, label_classes=("PER",),
                               classes=(), errors={"added": {"PER": 1}})
    assert spans_label.held_classes == ["PER"] and spans_label.flagged_classes == []
    assert spans_label.detail == {"classes": [], "label_classes": ["PER"], "errors": {"added": {"PER": 1}},
                                  "worst_word": "Ann"}


def test_every_task_type_says_why_a_task_is_flagged_in_words():
    from relabel.adapters import ClickAdapter, TextGenerationAdapter
    from tests.object_detection_data import DETECTION_CONFIG
    from tests.textgen_data import TEXTGEN_CONFIG

    assert TextClassificationAdapter(LABEL_CONFIG).flag_reason(
        Disagreement(1, True, 0.1, "sports", "food", {"model_confidence": 0.912})) == "human: sports · model: food 0.91"
    ner = NerAdapter('<View><Text name="t" value="$text"/><Labels name="l" toName="t"><Label value="PER"/>'
                     '<Label value="LOC"/></Labels></View>')
    assert ner.flag_reason(Disagreement(2, True, 0.1, "PER 'Ann'", "(no entities)", {"worst_word": "Ann"},
                                        errors={"added": {"PER": 1}})) == \
        "added PER · human: PER 'Ann' · model: (no entities)"
    boxes = ObjectDetectionAdapter(DETECTION_CONFIG).flag_reason(
        Disagreement(3, True, 0.1, "1 square", "1 circle", errors={"swapped": {"square": 1}, "badly_located": {}}))
    assert boxes == "swapped 1 square · human: 1 square · model: 1 circle"
    assert TextGenerationAdapter(TEXTGEN_CONFIG).flag_reason(
        Disagreement(4, True, 0.3, "2030-10", "2030-10-07\nx", {"chrf": 31.2})) == "chrF 31 · model: 2030-10-07 x"
    clicks = ClickAdapter('<View><Text name="user" value="$user"/><Choices name="click" toName="user">'
                          '<Choice value="click"/><Choice value="no_click"/></Choices></View>')
    assert clicks.flag_reason(Disagreement(5, True, 0.2, "click", "no_click", {"click_probability": 0.08})) == \
        "label: click · click probability 0.08"
