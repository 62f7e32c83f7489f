"""Generated support chats with a satisfaction rating, for the rating tests."""
from __future__ import annotations

import random

CONFIG = ('<View><Paragraphs name="chat" value="$dialogue" layout="dialogue" nameKey="speaker" textKey="said"/>'
          '<Rating name="satisfaction" toName="chat" maxRating="5"/></View>')
CUSTOMER = {1: ["this is useless", "worst support ever", "I am furious, nothing works"],
            2: ["still broken, not happy", "that did not help much", "disappointing answer"],
            3: ["ok I guess", "fine, it is acceptable", "it works now more or less"],
            4: ["thanks, that helped", "good, it works now", "nice, quick answer"],
            5: ["amazing, thank you so much", "perfect, you are wonderful", "brilliant help, love it"]}
AGENT = ["Have you tried restarting the app?", "I have reset your account.", "Let me check that for you."]


def chats(n: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    made = []
    for number in range(n):
        stars = rng.randint(1, 5)
        made.append({"stars": stars, "dialogue": [
            {"speaker": "customer", "said": f"Order {number}: my problem is back"},
            {"speaker": "agent", "said": rng.choice(AGENT)},
            {"speaker": "customer", "said": rng.choice(CUSTOMER[stars])}]})
    return made
