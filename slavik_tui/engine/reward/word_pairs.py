"""Does the completion put words in an order the corpus uses? A reference-free word-pair score.

`bigrams` counts the completion's adjacent word pairs (lower-cased runs of letters, as
text.words splits them; the prompt's last word and the completion's first one make a pair
too, so a completion that starts badly after its prompt pays) and asks how many of them the
training text has. Real text of the corpus does not have all of its pairs in the training
text either — a pair can be new and right — so the share is measured against the corpus's
own level, the share on held-out text of the corpus, and clipped:

    bigrams = min(1, share_seen(completion) / share_seen(held-out text))        in 0..1

1 = as familiar word to word as the corpus's own unseen text; the reference's words shuffled
keep their letters (chrF) but lose most of their pairs (≈ 0.4–0.6 on real corpora), random
tokens lose nearly all (≈ 0.02); a completion with no pair (empty, or one word without a
prompt) scores 0. Measured with the reward lab on models trained on Anna Karenina, Tiny
Shakespeare and Revizor, a trained model's samples reach the ceiling: the term does not
tell a good model from a perfect one (chrF does), it tells text from word salad.

Pairs are kept as Python hashes of the two words (a set of ints: ~12 MB for the 2 MB of
text the reward context reads), so membership is exact up to 64-bit hash collisions.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slavik_tui.engine.data import WORD_RE


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)  # as text.words normalises


def _words(text: str) -> list[tuple[str, int]]:
    """(lower-cased word, end offset) in order, of an NFC-normalised text."""
    return [(m.group().lower(), m.end()) for m in WORD_RE.finditer(text)]


def _key(a: str, b: str) -> int:
    return hash((a, b))


def pair_keys(text: str, start: int = 0) -> list[int]:
    """Keys of the adjacent word pairs of an NFC-normalised `text` whose second word ends
    after offset `start`."""
    ws = _words(text)
    return [_key(a, b) for (a, _), (b, end) in zip(ws, ws[1:]) if end > start]


@dataclass(frozen=True)
class WordPairs:
    """The training text's word pairs and the share of held-out pairs among them."""

    keys: frozenset[int]
    reference_share: float

    @classmethod
    def fit(cls, texts: Iterable[str], held_out: Iterable[str]) -> WordPairs:
        """Pairs of `texts` (each its own piece: no pair spans two), then the held-out share.
        Raises ValueError when either has no pair of words."""
        keys = frozenset(k for t in texts for k in pair_keys(_nfc(t)))
        if not keys:
            raise ValueError("no pair of words in the training text")
        held = [k for t in held_out for k in pair_keys(_nfc(t))]
        if not held:
            raise ValueError("no pair of words in the held-out text")
        share = sum(k in keys for k in held) / len(held)
        if share == 0:
            raise ValueError("no held-out word pair occurs in the training text")
        return cls(keys, share)

    @classmethod
    def from_text(cls, text: str, held_out: str | None = None) -> WordPairs:
        """The pairs of one text; without `held_out` its last 10% is held out (not counted)."""
        if held_out is None:
            cut = int(len(text) * 0.9)
            text, held_out = text[:cut], text[cut:]
        return cls.fit([text], [held_out])

    def share(self, text: str, prompt: str = "") -> float | None:
        """Share of the pairs `text` adds after `prompt` that the training text has (None: no
        pair)."""
        prompt = _nfc(prompt)
        keys = pair_keys(prompt + _nfc(text), start=len(prompt))
        if not keys:
            return None
        return sum(k in self.keys for k in keys) / len(keys)

    def scores(self, texts: Sequence[str], prompts: Sequence[str] | None = None) -> list[float]:
        """min(1, share / reference share) per text, 0..1; 0 for a text with no pair."""
        prompts = prompts if prompts is not None else [""] * len(texts)
        out = []
        for text, prompt in zip(texts, prompts):
            s = self.share(text, prompt)
            out.append(0.0 if s is None else min(1.0, s / self.reference_share))
        return out

    def __repr__(self) -> str:
        return f"WordPairs({len(self.keys):,} pairs, reference_share={self.reference_share:.3f})"
