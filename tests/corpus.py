"""A small generated corpus for tests: real words, simple grammar, Russian and English.

Tests must run without ../shared, so they make their own text. The grammar is regular enough
that a tiny model's loss falls within a few dozen steps.
"""

from __future__ import annotations

import random

RU_SUBJECTS = ["кошка", "собака", "девочка", "старик", "птица", "Анна", "Левин", "мальчик"]
RU_VERBS = ["видит", "любит", "ищет", "зовёт", "слышит", "ждёт", "знает", "помнит"]
RU_OBJECTS = ["дом", "реку", "лес", "поле", "окно", "дорогу", "сад", "море"]
RU_ADVERBS = ["тихо", "долго", "снова", "вечером", "утром", "всегда"]
EN_SUBJECTS = ["the cat", "a dog", "the girl", "an old man", "a bird", "Anna", "the boy"]
EN_VERBS = ["sees", "loves", "seeks", "calls", "hears", "awaits", "knows"]
EN_OBJECTS = ["the house", "the river", "a forest", "the field", "the window", "the sea"]


def sentence(rng: random.Random) -> str:
    if rng.random() < 0.6:
        s = f"{rng.choice(RU_SUBJECTS)} {rng.choice(RU_ADVERBS)} {rng.choice(RU_VERBS)} {rng.choice(RU_OBJECTS)}"
    else:
        s = f"{rng.choice(EN_SUBJECTS)} {rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)}"
    s = s[0].upper() + s[1:]
    return s + rng.choice([".", ".", "!", "?"])


def make_text(n_chars: int = 20_000, seed: int = 0) -> str:
    """About n_chars of text in paragraphs of a few sentences."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_chars:
        para = " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))
        if rng.random() < 0.2:
            para = "— Привет, как дела? — " + para
        parts.append(para)
        size += len(para) + 1
    return "\n".join(parts) + "\n"
