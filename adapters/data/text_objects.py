"""The text a model reads from any text-bearing object tag: `<Text>`, `<HyperText>`, `<Paragraphs>`.

- Text: the task data value as it is.
- HyperText: the visible text of the HTML (tags, scripts and styles dropped, block elements on their
  own lines).
- Paragraphs: the utterances joined one per line, each with its speaker kept ("alice: hi"), read with
  the tag's `nameKey` / `textKey` (Label Studio's defaults: author, text).
Span offsets on HyperText and Paragraphs follow other schemes (XPath ranges, paragraph indices), so only
whole-task labels (classification) read them.
"""
from __future__ import annotations

from html import unescape
from html.parser import HTMLParser
from typing import Any, Mapping

from relabel.adapters.base import InvalidTask, non_empty_text

#: the object tags whose data is text, in the order a config is searched
TEXT_OBJECT_TAGS = ("Text", "HyperText", "Paragraphs")
#: elements whose content is never shown
_HIDDEN = {"script", "style", "head", "title", "template", "noscript"}
#: elements that start a new line of visible text
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table",
           "ul", "ol", "blockquote", "pre", "hr"}


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees in an HTML document or fragment: one line per block, spaces collapsed."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in unescape("".join(parser.parts)).split("\n"))
    return "\n".join(line for line in lines if line)


def dialogue_text(utterances: list, name_key: str = "author", text_key: str = "text") -> str:
    """The utterances one per line, "speaker: text" (the speaker left out where it has none)."""
    lines = []
    for utterance in utterances:
        text = str(utterance.get(text_key) or "").strip()
        speaker = str(utterance.get(name_key) or "").strip()
        if text:
            lines.append(f"{speaker}: {text}" if speaker else text)
    return "\n".join(lines)


def object_text(task_id: Any, data_key: str, object_tag: str, attributes: Mapping[str, str], value: Any) -> str:
    """The text of a task's `<object_tag value="$data_key">`; InvalidTask naming the task and field when
    there is none."""
    field = f"data.{data_key}"
    if object_tag == "HyperText":
        if not isinstance(value, str):
            raise InvalidTask(task_id, field, f"expected HTML text for <HyperText>, got {value!r:.60}")
        if attributes.get("valueType") == "url" or value.strip().lower().startswith(("http://", "https://")):
            raise InvalidTask(task_id, field, "the <HyperText> holds a URL: Re-Label reads HTML held in the task "
                                              "itself, not web pages")
        return non_empty_text(task_id, data_key, visible_text(value))
    if object_tag == "Paragraphs":
        name_key, text_key = attributes.get("nameKey", "author"), attributes.get("textKey", "text")
        if not isinstance(value, list) or not all(isinstance(u, dict) for u in value):
            raise InvalidTask(task_id, field, f"expected a list of utterances ({{{name_key!r}: ..., {text_key!r}: "
                                              f"...}}) for <Paragraphs>, got {value!r:.60}")
        return non_empty_text(task_id, data_key, dialogue_text(value, name_key, text_key))
    return non_empty_text(task_id, data_key, value)


def text_or_empty(adapter, task: dict) -> str:
    """A task's text as the adapter reads it, or "" where the task has none it can read (word patterns and
    report excerpts skip such a task; training reports it)."""
    try:
        return adapter.input_from_task(task)
    except InvalidTask:
        return ""
