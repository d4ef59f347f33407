"""Byte-level BPE tokenizer (Hugging Face `tokenizers`), trained on the user's own text.

Design:
- **Lossless.** No normalizer; the ByteLevel pre-tokenizer maps every UTF-8 byte to one of 256
  printable characters and the ByteLevel decoder maps them back, and all 256 bytes are in the
  initial alphabet. So `decode(encode(s)) == s` for every Unicode string (Cyrillic, emoji, CRLF,
  tabs, NBSP, combining marks, the empty string) and any byte sequence is representable.
- **Special tokens take the first ids.** `<|endoftext|>` (EOT) has id 0, always: it separates
  documents in the token caches and stops generation. The chat tokens `<|system|>`,
  `<|user|>`, `<|assistant|>` and `<|end|>` (end of turn) follow as ids 1..4, reserved in
  every new tokenizer so that a model pretrained on plain text can be fine-tuned for
  dialogue without changing its vocabulary (engine/chat renders conversations with them).
  The 256 single bytes come next, then the merges. A tokenizer made before the chat tokens
  existed gets them appended at its end (`add_chat_tokens`); the model then needs as many
  embedding rows (engine/chat/embeddings.py).
- **Plain text never produces a special id.** A literal "<|endoftext|>" or "<|user|>" inside
  user text is tokenized as ordinary bytes (`encode_special_tokens`), so neither a corpus nor
  a chat message can inject a document boundary or a turn, and it still round-trips. This is a
  runtime setting of our wrapper, not stored in tokenizer.json: loaded in `transformers`
  (PreTrainedTokenizerFast), the file behaves like any GPT-2 style tokenizer, where the literal
  string maps to the special token.
- **Fast.** Long documents are cut into ~64 KB chunks on line boundaries chosen so that the
  ByteLevel regex splits them exactly as it would split the whole text, then encoded with
  `encode_batch_fast`, which runs the chunks in parallel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as _HFTokenizer

from slavik_tui.atomic import atomic_write_text
from slavik_tui.spec.config import MAX_VOCAB, MIN_VOCAB  # noqa: F401 - re-exported
from slavik_tui.errors import UserError

EOT = "<|endoftext|>"
EOT_ID = 0  # special tokens come first in BpeTrainer's vocabulary
# Chat roles and the end of a turn. The names are Phi-3's, which llama.cpp knows: its
# built-in template detection maps a template with <|assistant|> and <|end|> to Phi-3's.
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (SYSTEM, USER, ASSISTANT, END_OF_TURN)
SPECIAL_TOKENS = (EOT, *CHAT_TOKENS)

CHUNK_CHARS = 64 * 1024  # encode_batch parallelises over chunks of about this size
_BATCH_CHARS = 8 * 1024 * 1024  # chunks handed to one encode_batch call (bounds memory)

# Clean cuts: just before a "\n" that is followed by a non-space character, or just before a
# single space between two non-space characters. The ByteLevel regex (GPT-2's:
# `'s|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`) ends a pre-token at both
# points in the whole text too (that "\n" is a pre-token of its own; that space always starts
# the next one), so encoding the pieces gives exactly the tokens of encoding the whole text.
# Python's \s is a superset of Rust's, so a Python \S is never whitespace for the tokenizer.
_CLEAN_CUT = re.compile(r"\n(?=\S)|(?<=\S)(?= \S)")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character map, the one the ByteLevel pre-tokenizer uses."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


_CHAR_TO_BYTE = {c: b for b, c in _bytes_to_unicode().items()}


def split_chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Cut `text` into pieces of about `size` characters whose encodings concatenate exactly.

    Prefers cuts that leave the pre-tokenization unchanged (see `_CLEAN_CUT`). A text without
    such a point (no spaces or line breaks: CJK, base64) is cut hard; that still round-trips
    byte for byte (every piece is whole characters) but may tokenise the few characters at
    the cut differently.
    """
    if len(text) <= size:
        return [text]
    chunks: list[str] = []
    start = 0
    n = len(text)
    while n - start > size:
        target = start + size
        window_end = min(n, target + size)
        match = _CLEAN_CUT.search(text, target, window_end)
        if match is None:  # the last clean cut in the second half of this chunk
            for match in _CLEAN_CUT.finditer(text, start + size // 2, target):
                pass
        if match is not None:
            cut = match.start()
        else:  # no clean cut nearby: before any newline, else anywhere
            newline = text.find("\n", target, window_end)
            cut = newline if newline != -1 else target
        chunks.append(text[start:cut])
        start = cut
    chunks.append(text[start:])
    return chunks


def _chunked(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"expected str, got {type(text).__name__}")
        yield from split_chunks(text)


class Tokenizer:
    """A trained byte-level BPE vocabulary; wraps a `tokenizers.Tokenizer`."""

    def __init__(self, hf: _HFTokenizer) -> None:
        eot_id = hf.token_to_id(EOT)
        if eot_id is None:
            raise UserError(
                f"the tokenizer has no {EOT} token, so it was not made by slavik-tui; "
                "create a new model to train a fresh tokenizer"
            )
        self._hf = hf
        # literal "<|endoftext|>" in user text is ordinary text, never the special token
        self._hf.encode_special_tokens = True
        self._eot_id = eot_id
        self._count_tokens()

    def _count_tokens(self) -> None:
        self._vocab_size = self._hf.get_vocab_size(with_added_tokens=True)
        if self._vocab_size > MAX_VOCAB + 1:
            raise UserError(
                f"the tokenizer has {self._vocab_size} tokens, more than the uint16 token "
                f"cache can hold; train one with --vocab-size {MAX_VOCAB} or less"
            )
        self._token_bytes: list[bytes] | None = None

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000) -> Tokenizer:
        """Learn merges from `texts`. A tiny corpus yields fewer tokens than asked for."""
        if (
            not isinstance(vocab_size, int)
            or isinstance(vocab_size, bool)
            or not MIN_VOCAB <= vocab_size <= MAX_VOCAB
        ):
            raise UserError(
                f"--vocab-size {vocab_size!r} is out of range; use a whole number from "
                f"{MIN_VOCAB} to {MAX_VOCAB} (default 8000)"
            )
        hf = _HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,  # a pair seen once is not worth a token
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        seen = 0

        def counted() -> Iterator[str]:
            nonlocal seen
            for chunk in _chunked(texts):
                seen += len(chunk)
                yield chunk

        hf.train_from_iterator(counted(), trainer)
        if seen == 0:
            raise UserError("there is no text to train the tokenizer on; add data with --data FILE")
        tok = cls(hf)
        assert [tok.special_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
        return tok

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise UserError(
                f"tokenizer file {path} is missing; restore it from a copy of the model folder "
                "or create the model again"
            )
        try:
            hf = _HFTokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception on bad JSON / schema
            raise UserError(
                f"tokenizer file {path} is corrupt ({str(exc).splitlines()[0][:120]}); restore "
                "it from a copy of the model folder or create the model again"
            ) from None
        return cls(hf)

    def save(self, path: str | os.PathLike) -> None:
        """Write tokenizer.json atomically (temp file, fsync, rename)."""
        atomic_write_text(Path(path), self._hf.to_str(pretty=True))

    # ---- properties -------------------------------------------------------------------------
    @property
    def eot_id(self) -> int:
        return self._eot_id

    @property
    def vocab_size(self) -> int:
        """Actual number of ids (special tokens included); may be below the requested size."""
        return self._vocab_size

    def special_id(self, token: str) -> int | None:
        """The id of special token `token` (e.g. `USER`), None if this tokenizer lacks it."""
        for idx, added in self._hf.get_added_tokens_decoder().items():
            if added.content == token and added.special:
                return idx
        return None

    @property
    def has_chat_tokens(self) -> bool:
        return all(self.special_id(t) is not None for t in CHAT_TOKENS)

    def add_chat_tokens(self) -> dict[str, int]:
        """Append the chat tokens this tokenizer lacks (one made before they were reserved);
        returns {token: new id} of those added, {} when it had them all. Existing ids keep
        their meaning; the model needs `vocab_size` embedding rows afterwards."""
        added: dict[str, int] = {}
        for token in CHAT_TOKENS:
            if self.special_id(token) is not None:
                continue
            if token in self._hf.get_vocab(with_added_tokens=True):
                # only a foreign tokenizer could hold the text as an ordinary token
                raise UserError(
                    f"the tokenizer already has {token} as an ordinary token, so it cannot be "
                    "made the chat token; create a new model to train a fresh tokenizer"
                )
            self._hf.add_special_tokens([AddedToken(token, special=True, normalized=False)])
            added[token] = self._hf.token_to_id(token)
        self._count_tokens()
        return added

    # ---- encoding ---------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; never contains `eot_id`."""
        if len(text) <= 2 * CHUNK_CHARS:
            return self._hf.encode(text, add_special_tokens=False).ids
        ids: list[int] = []
        for enc in self._hf.encode_batch_fast(split_chunks(text), add_special_tokens=False):
            ids.extend(enc.ids)
        return ids

    def encode_to_array(self, texts: Iterable[str]) -> np.ndarray:
        """All documents' tokens, each document followed by EOT, as one uint16 array."""
        eot = np.array([self._eot_id], dtype=np.uint16)
        parts: list[np.ndarray] = []
        pending: list[str] = []
        ends_doc: list[bool] = []
        pending_chars = 0

        def flush() -> None:
            nonlocal pending_chars
            if not pending:
                return
            encs = self._hf.encode_batch_fast(pending, add_special_tokens=False)
            for enc, last in zip(encs, ends_doc):
                ids = enc.ids
                if ids:
                    parts.append(np.array(ids, dtype=np.uint16))
                if last:
                    parts.append(eot)
            pending.clear()
            ends_doc.clear()
            pending_chars = 0

        for text in texts:
            chunks = split_chunks(text)
            for i, chunk in enumerate(chunks):
                pending.append(chunk)
                ends_doc.append(i == len(chunks) - 1)
                pending_chars += len(chunk)
                if pending_chars >= _BATCH_CHARS:
                    flush()
        flush()
        if not parts:
            return np.zeros(0, dtype=np.uint16)
        return np.concatenate(parts)

    # ---- decoding ---------------------------------------------------------------------------
    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; EOT decodes to the literal "<|endoftext|>"."""
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()
        elif not isinstance(ids, list):
            ids = [int(i) for i in ids]
        return self._hf.decode(ids, skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        """The raw UTF-8 bytes token `token_id` stands for (EOT: b"<|endoftext|>").

        A token can be part of a multi-byte character; a streaming decoder concatenates these
        bytes and emits only complete characters.
        """
        table = self._token_bytes
        if table is None:
            table = self._token_bytes = self._build_token_bytes()
        return table[token_id]

    def _build_token_bytes(self) -> list[bytes]:
        table = [b""] * self._vocab_size
        special = {t.content for t in self._hf.get_added_tokens_decoder().values()}
        for token, idx in self._hf.get_vocab(with_added_tokens=True).items():
            if token in special:
                table[idx] = token.encode("utf-8")
            else:
                table[idx] = bytes(_CHAR_TO_BYTE[c] for c in token)
        return table

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self._vocab_size}, eot_id={self._eot_id})"


def add_chat_tokens(path: str | os.PathLike) -> dict[str, int]:
    """Give the tokenizer.json at `path` the chat tokens it lacks (rewritten atomically, and
    only when something was added); returns {token: new id} of those added."""
    tok = Tokenizer.load(path)
    added = tok.add_chat_tokens()
    if added:
        tok.save(path)
    return added


def tokenizer_summary(tok: Tokenizer) -> dict:
    """The "tokenizer" block of config.json."""
    return {"type": "byte-level-bpe", "vocab_size": tok.vocab_size, "eot": EOT}


__all__ = [
    "ASSISTANT",
    "CHAT_TOKENS",
    "END_OF_TURN",
    "EOT",
    "EOT_ID",
    "SPECIAL_TOKENS",
    "SYSTEM",
    "USER",
    "Tokenizer",
    "add_chat_tokens",
    "split_chunks",
    "tokenizer_summary",
]
