"""Generated support tickets with several tags each, for the multi-label tests (and the demo's shapes)."""
from __future__ import annotations

import random

TAGS = ("billing", "bug", "praise", "shipping")
PHRASES = {
    "billing": ["I was charged twice this month", "the invoice shows the wrong amount", "please refund my payment",
                "my card was billed after I cancelled", "the subscription fee went up without notice",
                "I need a receipt for the last charge"],
    "bug": ["the app crashes when I open settings", "the login button does nothing", "the page freezes on upload",
            "search returns an error message", "the screen goes blank after the update",
            "notifications stopped working"],
    "praise": ["your support team is wonderful", "I love the new design", "thanks for the quick help",
               "great product, keep it up", "the new feature is brilliant", "best service I have used"],
    "shipping": ["my parcel has not arrived yet", "the package came damaged", "tracking shows no movement",
                 "the courier left it at the wrong address", "delivery took three weeks",
                 "I received someone else's order"],
}
CONFIG = ('<View><Text name="text" value="$text"/><Choices name="tags" toName="text" choice="multiple">'
          + "".join(f'<Choice value="{tag}"/>' for tag in TAGS) + "</Choices></View>")
#: the same tags on tickets kept as HTML (the model reads their visible text)
HTML_CONFIG = CONFIG.replace('<Text name="text" value="$text"/>', '<HyperText name="text" value="$html"/>')


def as_html(text: str) -> str:
    return f"<div class='ticket'><h3>Ticket</h3><p>{text}</p><script>track()</script></div>"


def make_tickets(n: int, seed: int = 0) -> list[dict]:
    """n distinct tickets, each of one to two tags, with the phrases that carry them: {text, tags}."""
    rng = random.Random(seed)
    tickets, seen = [], set()
    while len(tickets) < n:
        tags = sorted(rng.sample(TAGS, rng.choice((1, 1, 2))), key=TAGS.index)
        parts = [rng.choice(PHRASES[tag]) for tag in tags]
        rng.shuffle(parts)
        text = (" and ".join(parts) + f" (ticket {rng.randint(100, 999)})").capitalize()
        if text not in seen:
            seen.add(text)
            tickets.append({"text": text, "tags": tags})
    return tickets


def choices_result(tags) -> list[dict]:
    return [{"from_name": "tags", "to_name": "text", "type": "choices", "value": {"choices": list(tags)}}]
