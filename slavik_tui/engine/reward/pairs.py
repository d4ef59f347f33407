"""Held-out (prompt, reference) text pairs: a prompt and the text that truly follows it.

Reward functions such as chrF compare a completion with its reference, so both come from the
same window of held-out tokens: the prompt is `prompt_tokens` tokens that start at a line (else
a word) so the model is asked to continue text, not to finish half a word; the reference is
the next `reference_tokens` tokens, cut at an end-of-text token (the document ended there).
Token boundaries can fall inside a character (byte-level BPE): the split moves to the next
character boundary and an incomplete character at the reference's end is dropped, so neither
text contains U+FFFD that the corpus did not.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8's bytes that never start a character


@dataclass(frozen=True)
class Pair:
    prompt: str
    reference: str


def _decode(data: bytes) -> str:
    # Without final=True an incomplete trailing character is held back, i.e. dropped here.
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data)


def span_text(ids: Sequence[int], tokenizer) -> list[str]:
    """The text of a span of token ids cut out of a longer text, one str per document (split
    at end-of-text): bytes of a character the span starts inside or ends inside are dropped."""
    eot = int(tokenizer.eot_id)
    docs, current = [], []
    for t in ids:
        if int(t) == eot:
            docs.append(current)
            current = []
        else:
            current.append(tokenizer.token_bytes(int(t)))
    docs.append(current)
    blobs = [b"".join(d) for d in docs]
    blobs[0] = blobs[0].lstrip(_CONTINUATION)  # the tail of a character begun before the span
    return [text for text in map(_decode, blobs) if text]


def _start(pieces: list[bytes], latest: int) -> int:
    """The first line start (after blank lines), else word start, at or before `latest`."""
    for j, b in enumerate(pieces[:latest]):
        if b.endswith(b"\n"):
            k = j + 1
            while k <= latest and k < len(pieces) and not pieces[k].strip():
                k += 1
            if k <= latest:
                return k
            break
    return next((j for j, b in enumerate(pieces[: latest + 1]) if b[:1].isspace()), 0)


def text_pairs(windows: Iterable[Sequence[int]], tokenizer, prompt_tokens: int = 16,
               reference_tokens: int = 32) -> list[Pair]:
    """One Pair per window of token ids (e.g. the rows of `held_out_windows`).

    The prompt is whole; the reference is shortened when the window has no room for all of
    `reference_tokens` after the prompt. `tokenizer` needs `token_bytes` and `eot_id`.
    """
    eot = int(tokenizer.eot_id)
    pairs = []
    for window in windows:
        ids = [int(t) for t in window]
        if prompt_tokens < 1 or len(ids) <= prompt_tokens:
            raise ValueError(f"a window of {len(ids)} tokens has no room after a "
                             f"{prompt_tokens}-token prompt")
        pieces = [b"\n" if t == eot else tokenizer.token_bytes(t) for t in ids]
        room = max(0, len(ids) - prompt_tokens - reference_tokens)
        a = _start(pieces, room)
        b = a + prompt_tokens
        ref_ids = ids[b : b + reference_tokens]
        if eot in ref_ids:
            ref_ids = ref_ids[: ref_ids.index(eot)]
        # a window may start inside a character: its tail bytes belong to the text before
        prompt = b"".join(pieces[a:b]).lstrip(_CONTINUATION)
        ref = b"".join(tokenizer.token_bytes(t) for t in ref_ids)
        cont = 0
        while cont < min(3, len(ref)) and ref[cont] in _CONTINUATION:
            cont += 1
        pairs.append(Pair(_decode(prompt + ref[:cont]), _decode(ref[cont:])))
    return pairs


def held_out_windows(data, n: int) -> np.ndarray:
    """(n, context + 1) token ids of `TokenData` windows evenly spaced through the val split
    (the windows its `val_batches(1, n)` holds)."""
    ((x, y),) = data.val_batches(1, n)
    return np.concatenate([x[:, :1].numpy(), y.numpy()], axis=1)


def held_out_pairs(data, tokenizer, n: int, prompt_tokens: int = 16,
                   reference_tokens: int = 32) -> list[Pair]:
    """`n` pairs from `TokenData`'s val split, one per `held_out_windows` row. A small context
    shrinks the prompt to at most half a window and the reference to the rest."""
    window = data.context + 1
    prompt_tokens = max(1, min(prompt_tokens, window // 2))
    reference_tokens = max(1, min(reference_tokens, window - prompt_tokens))
    return text_pairs(held_out_windows(data, n), tokenizer, prompt_tokens, reference_tokens)
