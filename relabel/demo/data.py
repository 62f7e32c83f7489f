"""A small topic-classification dataset with known label noise, generated (nothing is downloaded).

Each text is built from a topic's own subjects and predicates, so a sentence encoder separates the
topics well; a chosen share of labels is then flipped to another topic, and the flipped task ids are
known, which is what the demo and the tests measure detection against.
"""
from __future__ import annotations

import random

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "sports": (
        ["The striker", "Our goalkeeper", "The home team", "The tennis champion", "The marathon runner",
         "The coach", "The basketball squad", "The young sprinter", "The cycling team", "The rugby captain"],
        ["scored twice in the second half", "won the championship final on penalties",
         "broke the national record at the stadium", "was injured during the morning training session",
         "signed a new contract with the club", "lost the semifinal after extra time",
         "celebrated the victory with the fans", "trained hard before the league match",
         "was sent off by the referee", "qualified for the olympic games"]),
    "weather": (
        ["Heavy rain", "A cold front", "The storm", "Strong wind", "Thick fog", "The heatwave",
         "Light snow", "A thunderstorm", "The tropical cyclone", "Morning frost"],
        ["is expected along the coast tomorrow", "will bring lower temperatures this weekend",
         "flooded several streets overnight", "delayed flights at the airport this morning",
         "is forecast to clear by the afternoon", "left the mountain roads icy",
         "pushed the humidity to record levels", "is moving north at twenty kilometres per hour",
         "caused a power cut in the valley", "kept the beaches empty all day"]),
    "food": (
        ["This pasta recipe", "The new bakery", "Grandma's soup", "The vegan curry", "The chocolate cake",
         "Our sushi chef", "The street food market", "The roast chicken", "The fresh salad", "The pizza oven"],
        ["needs garlic, basil and a pinch of salt", "serves warm bread every morning",
         "tastes better with a spoon of cream", "is cooked slowly with coconut milk",
         "uses dark cocoa and fresh butter", "prepares rice with vinegar and raw fish",
         "sells spicy noodles and grilled corn", "is seasoned with lemon and rosemary",
         "mixes tomatoes, cucumber and olive oil", "bakes the dough in ninety seconds"]),
    "technology": (
        ["The new smartphone", "The software update", "The laptop", "The cloud service", "The startup",
         "The graphics card", "The operating system", "The smart watch", "The database server", "The web browser"],
        ["drains the battery within a few hours", "fixed the security bug in the login page",
         "ships with a faster processor and more memory", "was down for two hours after a network failure",
         "released an app that translates speech", "renders games at a high frame rate",
         "now supports encrypted backups", "tracks your heart rate while you sleep",
         "crashed after the disk ran out of space", "blocks third party cookies by default"]),
}

LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="topic" toName="text" choice="single" showInline="true">
    <Choice value="sports"/>
    <Choice value="weather"/>
    <Choice value="food"/>
    <Choice value="technology"/>
  </Choices>
</View>"""


def make_dataset(n_items: int = 300, noise_rate: float = 0.15, seed: int = 0) -> list[dict]:
    """`n_items` rows {text, true_label, label, flipped}; a `noise_rate` share of labels is wrong.

    Texts are distinct while n_items <= 400 (4 topics x 10 subjects x 10 predicates).
    """
    rng = random.Random(seed)
    topics = list(TOPICS)
    combinations = [(topic, s, p) for topic in topics for s in TOPICS[topic][0] for p in TOPICS[topic][1]]
    rng.shuffle(combinations)
    chosen = sorted(combinations[:n_items], key=lambda c: topics.index(c[0]))
    rng.shuffle(chosen)
    flipped = set(rng.sample(range(len(chosen)), round(noise_rate * len(chosen))))
    rows = []
    for index, (topic, subject, predicate) in enumerate(chosen):
        label = rng.choice([t for t in topics if t != topic]) if index in flipped else topic
        rows.append({"text": f"{subject} {predicate}.", "true_label": topic, "label": label,
                     "flipped": index in flipped})
    return rows


def annotation_result(label: str) -> list[dict]:
    """A Label Studio annotation result choosing `label` in LABEL_CONFIG."""
    return [{"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def as_label_studio_tasks(rows: list[dict]) -> list[dict]:
    """Tasks to import: data holds only the text; the (possibly wrong) label is the human annotation."""
    return [{"data": {"text": row["text"]}, "annotations": [{"result": annotation_result(row["label"])}]}
            for row in rows]
