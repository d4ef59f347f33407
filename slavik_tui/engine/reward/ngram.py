"""How plausible a text is as text of this corpus: a character n-gram model of the training text.

`ngram` is a reference-free reward: it never looks at the true continuation, only at whether
the completion reads like the corpus, character by character. So a model that writes fluent
text of its own is rewarded even when it says something else than the held-out text did, and
the reference's own words in a random order are not (their word-to-word transitions are
wrong), which chrF against the reference cannot tell.

The model. Characters are mapped to ids (0 = "no character": the padding before a text's
start, 1 = a character the corpus never had, 2.. = the corpus's characters, at most
`max_alphabet` of them, the most frequent). For order N (default 5: four characters of
history) the probability of character c after history h = c₁…c_{N−1} is interpolated
Witten–Bell:

    P_k(c | h_k) = (C(h_k c) + T(h_k) · P_{k−1}(c | h_{k−1})) / (C(h_k) + T(h_k))

where h_k is the last k−1 characters of h, C(h_k c) the count of that k-gram in the training
text, C(h_k) = Σ_c C(h_k c) the count of the history, and T(h_k) the number of distinct
characters seen after it (the "new continuation" mass). A history never seen (C = 0) backs off
unchanged: P_k = P_{k−1}. The recursion ends at the uniform P_0 = 1/(V − 1) over the V − 1
predictable ids (the unknown character included), so every character, even one the corpus
never had, gets a probability > 0. Counts are exact: a k-gram is the integer Σ id·V^j, kept in
sorted numpy arrays (hence V^N < 2^63 bounds the alphabet), and looked up with searchsorted.

The score. A completion's cross-entropy is the mean per-character negative log-probability in
nats, H = −(1/n) Σ ln P(cᵢ | the four characters before it), where the history of its first
characters is the end of its prompt (so a completion that starts badly after its prompt pays
for it). The corpus's own level H_ref is the same on held-out text of the corpus (text the
counts never saw). The reward is the per-character likelihood ratio to that level,

    ngram = exp(−max(0, H − H_ref − τ) / SCALE)     in 0..1, SCALE = `scale` nats (0.5)

where τ is the spread of H over held-out pieces of the corpus (one short text can be unluckier
than the average). 1 = as plausible per character as the corpus's own held-out text, or more:
text more predictable than the corpus's is not punished — a model sampled at temperature 0.8
writes such text, and a two-sided score made GRPO (which samples at 1.0) lower the reward its
evals measured; loops are `repetition`'s to catch. Every SCALE nats per character worse divides
it by e. Text of the corpus scores near 1, its words shuffled lose a few nats at each broken word
boundary (≈ 0.4–0.7 on real corpora), random tokens lose several nats on almost every
character (≈ 0). A phrase repeated is plausible character by character: `repetition` is the
function that catches it. An empty completion scores 0: no text is no text of this corpus.

Fitting 2 MB of text takes about a second (five numpy sorts of the text's length); scoring a
batch is a handful of searchsorted calls over its characters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PAD, UNKNOWN = 0, 1  # ids below the corpus's characters
ORDER = 5
SCALE = 0.5  # nats per character (beyond the tolerance) that divide the score by e
PIECE = 128  # characters per held-out piece when measuring the corpus's own level and spread


def _level(logs: list[np.ndarray]) -> tuple[float, float]:
    """(H_ref, τ): the mean of the held-out text's cross-entropy over PIECE-character pieces
    and its standard deviation (0 with a single piece)."""
    pieces = [x[i : i + PIECE] for x in logs for i in range(0, x.size, PIECE)]
    full = [-p.mean() for p in pieces if p.size == PIECE] or [-np.concatenate(logs).mean()]
    return float(np.mean(full)), float(np.std(full))


@dataclass(frozen=True)
class _Table:
    """One order's counts: sorted k-gram keys and counts, sorted history keys with C and T."""

    grams: np.ndarray  # int64, sorted
    gram_counts: np.ndarray  # int64
    histories: np.ndarray  # int64, sorted
    history_counts: np.ndarray  # C(h), int64
    history_types: np.ndarray  # T(h), int64


def _code_points(text: str) -> np.ndarray:
    # surrogatepass: a user's function may hand over a lone surrogate; it is just unknown then
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)


class CharNgram:
    """A character n-gram model of a corpus with its held-out cross-entropy (see the module)."""

    def __init__(self, chars: np.ndarray, tables: list[_Table], reference_nats: float,
                 tolerance: float = 0.0, scale: float = SCALE) -> None:
        self.chars = chars  # sorted code points; char id = index + 2
        self.tables = tables  # tables[k - 1] for k-grams, k = 1..order
        self.order = len(tables)
        self.size = len(chars) + 2  # V: the ids' base
        self.reference_nats = float(reference_nats)
        self.tolerance = float(tolerance)
        self.scale = float(scale)

    # ---- building ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Iterable[str], held_out: Iterable[str], order: int = ORDER,
            max_alphabet: int = 6000, scale: float = SCALE) -> CharNgram:
        """Counts from `texts` (each its own piece: no n-gram spans two), then H_ref measured on
        `held_out`. Raises ValueError when either has no characters."""
        if not 1 <= order <= 8:
            raise ValueError(f"order must be 1..8, got {order}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale}")
        points = [_code_points(t) for t in texts if t]
        if not points:
            raise ValueError("no training text for the n-gram model")
        alphabet, counts = np.unique(np.concatenate(points), return_counts=True)
        # Keys are Σ id·V^j over `order` ids: V^order must stay below 2^63.
        limit = min(max_alphabet, int(math.floor(2 ** (63 / order) * (1 - 1e-12))) - 2)
        if alphabet.size > limit:  # rare characters become the unknown one
            alphabet = np.sort(alphabet[np.argsort(-counts, kind="stable")[:limit]])
        lm = cls(alphabet, [], math.nan, 0.0, scale)
        seq, pos = lm._layout([(np.empty(0, np.int64), lm._ids(p)) for p in points], order)
        size = lm.size
        history = np.zeros(pos.size, dtype=np.int64)
        power = 1
        tables = []
        for k in range(1, order + 1):
            if k > 1:  # extend each history by one older character
                history += seq[pos - (k - 1)] * power
                power *= size
            grams, gram_counts = np.unique(history * size + seq[pos], return_counts=True)
            histories, first, types = np.unique(grams // size, return_index=True,
                                                return_counts=True)
            tables.append(_Table(grams, gram_counts, histories,
                                 np.add.reduceat(gram_counts, first), types))
        lm.tables, lm.order = tables, order
        held = [h for h in held_out if h]
        if not held:
            raise ValueError("no held-out text to measure the corpus's own cross-entropy")
        logs = lm._log_probs([("", h) for h in held])
        lm.reference_nats, lm.tolerance = _level(logs)
        return lm

    @classmethod
    def from_text(cls, text: str, held_out: str | None = None, order: int = ORDER,
                  scale: float = SCALE) -> CharNgram:
        """The model of one text; without `held_out` its last 10% is held out (not counted)."""
        if held_out is None:
            cut = int(len(text) * 0.9)
            text, held_out = text[:cut], text[cut:]
        return cls.fit([text], [held_out], order=order, scale=scale)

    # ---- scoring ----------------------------------------------------------------------------
    def _ids(self, points: np.ndarray) -> np.ndarray:
        if not self.chars.size:
            return np.full(points.size, UNKNOWN, dtype=np.int64)
        idx = np.searchsorted(self.chars, points)
        found = self.chars[np.minimum(idx, self.chars.size - 1)] == points
        return np.where(found, idx + 2, UNKNOWN).astype(np.int64)

    @staticmethod
    def _layout(pieces: Sequence[tuple[np.ndarray, np.ndarray]], order: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """One id array of every (history, text) piece, each preceded by `order − 1` ids of
        history (the history's tail, padded with PAD), and the positions of the texts' ids."""
        pad = order - 1
        parts, positions, at = [], [], 0
        for history, ids in pieces:
            head = np.full(pad, PAD, dtype=np.int64)
            if pad and history.size:
                tail = history[-pad:]
                head[pad - tail.size:] = tail
            parts += [head, ids]
            positions.append(np.arange(at + pad, at + pad + ids.size))
            at += pad + ids.size
        seq = np.concatenate(parts) if parts else np.empty(0, np.int64)
        pos = np.concatenate(positions) if positions else np.empty(0, np.int64)
        return seq, pos

    def _log_probs(self, pairs: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        """ln P of each character of each (prompt, text) pair's text, after the prompt."""
        if not pairs:
            return []
        pieces = [(self._ids(_code_points(p)), self._ids(_code_points(t))) for p, t in pairs]
        seq, pos = self._layout(pieces, self.order)
        size = self.size
        prob = np.full(pos.size, 1.0 / (size - 1))
        history = np.zeros(pos.size, dtype=np.int64)
        power = 1
        for k, table in enumerate(self.tables, start=1):
            if k > 1:
                history += seq[pos - (k - 1)] * power
                power *= size
            j = np.searchsorted(table.histories, history)
            j = np.minimum(j, table.histories.size - 1)
            seen = table.histories[j] == history
            c = np.where(seen, table.history_counts[j], 0)
            t = np.where(seen, table.history_types[j], 0)
            keys = history * size + seq[pos]
            g = np.minimum(np.searchsorted(table.grams, keys), table.grams.size - 1)
            n = np.where(table.grams[g] == keys, table.gram_counts[g], 0)
            prob = np.where(c > 0, (n + t * prob) / np.maximum(c + t, 1), prob)
        logs = np.log(prob)
        bounds = np.cumsum([ids.size for _, ids in pieces], dtype=np.int64)[:-1]
        return np.split(logs, bounds)

    def cross_entropy(self, texts: Sequence[str], prompts: Sequence[str] | None = None
                      ) -> list[float]:
        """H of each text in nats per character (NaN for an empty text), each text's first
        characters conditioned on the end of its prompt."""
        prompts = [""] * len(texts) if prompts is None else prompts
        if len(prompts) != len(texts):
            raise ValueError(f"{len(texts)} texts, {len(prompts)} prompts")
        logs = self._log_probs(list(zip((str(p) for p in prompts), (str(t) for t in texts))))
        return [float(-x.mean()) if x.size else math.nan for x in logs]

    def scores(self, texts: Sequence[str], prompts: Sequence[str] | None = None) -> list[float]:
        """exp(−max(0, H − H_ref − τ) / scale) per text, 0..1; 0 for an empty text."""
        out = []
        for h in self.cross_entropy(texts, prompts):
            if math.isnan(h):
                out.append(0.0)
            else:
                excess = max(0.0, h - self.reference_nats - self.tolerance)
                out.append(math.exp(-excess / self.scale))
        return out

    def __repr__(self) -> str:
        return (f"CharNgram(order={self.order}, alphabet={self.chars.size}, "
                f"reference_nats={self.reference_nats:.3f}, tolerance={self.tolerance:.3f})")
