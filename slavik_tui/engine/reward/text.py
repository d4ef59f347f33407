"""Words and n-grams of a text, split exactly as the corpus word list was (data.words_in)."""

from __future__ import annotations

import unicodedata

from slavik_tui.engine.data import WORD_RE


def words(text: str) -> list[str]:
    """Lower-cased words in order: runs of letters of any alphabet, NFC-normalised."""
    return [w.lower() for w in WORD_RE.findall(unicodedata.normalize("NFC", text))]


def repeated_share(tokens: list[str], n: int = 3) -> float:
    """Share of the n-grams of `tokens` that already occurred earlier in the same list.

    0 when every n-gram is new (or there are fewer than n tokens: nothing can repeat yet),
    approaching 1 as one phrase loops: "a b c a b c a b c" has 7 trigrams, 3 distinct → 4/7.
    """
    grams = list(zip(*(tokens[i:] for i in range(n))))
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)
