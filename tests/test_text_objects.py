"""Text from <HyperText> and <Paragraphs>, as text classification reads it."""
from __future__ import annotations

import pytest

from relabel.adapters import adapter_class_for_config
from relabel.adapters.base import InvalidTask, UnsupportedLabelConfig
from relabel.adapters.data.text_objects import dialogue_text, visible_text
from relabel.adapters.tasks.text_classification import TextClassificationAdapter

CHOICES = '<Choices name="topic" toName="{to}"><Choice value="billing"/><Choice value="bug"/></Choices>'
HYPERTEXT = f'<View><HyperText name="page" value="$html"/>{CHOICES.format(to="page")}</View>'
PARAGRAPHS = ('<View><Paragraphs name="chat" value="$dialogue" layout="dialogue" nameKey="speaker" '
              f'textKey="said"/>{CHOICES.format(to="chat")}</View>')


def test_visible_text_drops_markup_scripts_and_styles_and_keeps_blocks_apart():
    html = ("<html><head><title>t</title><style>p{color:red}</style></head><body><h1>Invoice &amp; refund</h1>"
            "<p>I was   charged <b>twice</b>.</p><script>alert(1)</script><ul><li>order 7</li></ul></body></html>")
    assert visible_text(html) == "Invoice & refund\nI was charged twice.\norder 7"


def test_dialogue_text_keeps_the_speakers():
    utterances = [{"speaker": "customer", "said": "The app crashes"}, {"speaker": "agent", "said": " On start? "},
                  {"speaker": "customer", "said": ""}, {"said": "(silence)"}]
    assert dialogue_text(utterances, "speaker", "said") == "customer: The app crashes\nagent: On start?\n(silence)"


def test_text_classification_reads_hypertext_and_paragraphs():
    assert adapter_class_for_config(HYPERTEXT) is TextClassificationAdapter
    page = TextClassificationAdapter(HYPERTEXT)
    assert page.object_type == "HyperText"
    assert page.input_from_task({"id": 1, "data": {"html": "<p>charged <i>twice</i></p>"}}) == "charged twice"
    chat = TextClassificationAdapter(PARAGRAPHS)
    task = {"id": 2, "data": {"dialogue": [{"speaker": "customer", "said": "It crashes"}]},
            "annotations": [{"id": 9, "result": [{"from_name": "topic", "to_name": "chat", "type": "choices",
                                                  "value": {"choices": ["bug"]}}]}]}
    example = chat.example_from_task(task)
    assert (example.input, example.target) == ("customer: It crashes", "bug")
    assert chat.preview(task) == ("text", "customer: It crashes")


@pytest.mark.parametrize("config, data, problem", [
    (HYPERTEXT, {"html": "<script>x()</script>"}, "non-empty text"),
    (HYPERTEXT, {"html": "https://example.com/page.html"}, "holds a URL"),
    (HYPERTEXT, {"html": 5}, "expected HTML text"),
    (PARAGRAPHS, {"dialogue": "just a string"}, "list of utterances"),
    (PARAGRAPHS, {"dialogue": [{"speaker": "a", "text": "wrong key"}]}, "non-empty text"),
])
def test_unusable_text_names_the_task_and_field(config, data, problem):
    with pytest.raises(InvalidTask) as raised:
        TextClassificationAdapter(config).input_from_task({"id": 7, "data": data})
    assert "7" in str(raised.value) and f"data.{next(iter(data))}" in str(raised.value) and problem in str(raised.value)


def test_spans_on_hypertext_are_refused_with_what_is_supported():
    config = '<View><HyperText name="page" value="$html"/><Labels name="l" toName="page"><Label value="PER"/></Labels></View>'
    with pytest.raises(UnsupportedLabelConfig, match="HyperText"):
        adapter_class_for_config(config)
