"""Text similarity: sacrebleu's sentence scores, tokens, and the flag rule of text_disagreements."""
from __future__ import annotations

import numpy as np
import pytest
import sacrebleu

from relabel.adapters.noise.texts import sentence_bleu, sentence_chrf, share_a_token, text_disagreements, tokens


def test_scores_are_sacrebleus_with_the_human_text_as_hypothesis():
    human, model = "2030-07-10", "2030-10-07"
    assert sentence_chrf(human, model) == pytest.approx(sacrebleu.sentence_chrf(human, [model]).score)
    assert sentence_bleu(human, model) == pytest.approx(sacrebleu.sentence_bleu(human, [model]).score)
    # chrF weighs recall of the reference (the model's text): a cut-off human answer scores lower
    # than one with the same characters added
    assert sentence_chrf("2030-10", "2030-10-07") < sentence_chrf("2030-10-07 00:00", "2030-10-07")


def test_equal_texts_score_100_even_when_empty():
    for text in ("", "Paris", "!!!"):
        assert sentence_chrf(text, text) == 100.0
        assert sentence_bleu(text, text) == 100.0
    assert sentence_chrf("", "Paris") == 0.0
    assert sentence_chrf("Paris", "") == 0.0
    assert sentence_bleu("", "Paris") == 0.0


def test_tokens_are_lowercased_letter_runs_and_digit_runs():
    assert tokens("Paris, 2030-10-07!") == {"paris", "2030", "10", "07"}
    assert tokens("abc123DEF") == {"abc", "123", "def"}
    assert tokens("Zürich_Genève") == {"zürich", "genève"}
    assert tokens("") == set()
    assert tokens(" -- !? ") == set()


def test_share_a_token():
    assert share_a_token("The Cat", "a cat sat")
    assert share_a_token("2030-10-07", "07/10/2030")
    assert not share_a_token("2030-10-07", "1999-12-31")
    assert not share_a_token("abc", "abcd")  # whole tokens, not prefixes
    assert not share_a_token("", "")
    assert not share_a_token("...", "...")
    assert not share_a_token("", "word")


def test_flags_low_chrf_and_answers_without_a_shared_token():
    humans = ["2030-10-07", "2030-10", "1999-12-31", "colourful neighbours", "Paris"]
    models = ["2030-10-07", "2030-10-07", "2030-10-07", "colorful neighbors", "paris"]
    flagged, quality, bleu, shares = text_disagreements(humans, models, chrf_threshold=0.5)
    assert quality[0] == 1.0 and bleu[0] == 100.0
    assert quality[1] > 0.5 and not flagged[1]  # cut off, but chrF above this threshold
    assert flagged[2] and not shares[2]
    # high chrF, yet not one whole word in common: flagged by the no-shared-token rule alone
    assert quality[3] > 0.5 and not shares[3] and flagged[3]
    assert list(flagged) == [False, False, True, True, bool(quality[4] < 0.5)]
    assert shares[4]  # tokens ignore case, chrF does not
    assert np.allclose(quality, [sentence_chrf(h, m) / 100 for h, m in zip(humans, models)])

    flagged_strict, *_ = text_disagreements(humans, models, chrf_threshold=0.9)
    assert flagged_strict[1] and not flagged_strict[0]


def test_bleu_threshold_is_an_extra_rule():
    humans, models = ["the cat sat on the mat today"], ["the cat sat on a mat today"]
    _, quality, bleu, _ = text_disagreements(humans, models, chrf_threshold=0.0)
    assert 0 < bleu[0] < 60 and quality[0] > 0.6
    assert not text_disagreements(humans, models, chrf_threshold=0.0)[0][0]
    assert not text_disagreements(humans, models, chrf_threshold=0.0, bleu_threshold=bleu[0] / 100 - 0.01)[0][0]
    assert text_disagreements(humans, models, chrf_threshold=0.0, bleu_threshold=0.6)[0][0]


def test_equal_texts_are_never_flagged_and_empty_texts_are_handled():
    humans = ["", "  ...  ", "", "answer", "x "]
    models = ["", "...", "answer", "", "x"]
    flagged, quality, bleu, shares = text_disagreements(humans, models, chrf_threshold=0.5, bleu_threshold=0.5)
    assert list(flagged) == [False, False, True, True, False]
    assert list(quality) == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert list(shares) == [False, False, False, False, True]
    assert bleu.shape == (5,)


def test_empty_input_and_length_mismatch():
    flagged, quality, bleu, shares = text_disagreements([], [], chrf_threshold=0.5)
    assert flagged.shape == quality.shape == bleu.shape == shares.shape == (0,)
    with pytest.raises(ValueError, match="2 human texts but 1 model texts"):
        text_disagreements(["a", "b"], ["a"], chrf_threshold=0.5)
