"""Byte-level BPE tokenizer: exact round trips, EOT and chat tokens, caches of bytes, save/load."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from slavik_tui.engine.tokenizer import (
    ASSISTANT,
    CHAT_TOKENS,
    END_OF_TURN,
    EOT,
    EOT_ID,
    SPECIAL_TOKENS,
    SYSTEM,
    USER,
    Tokenizer,
    add_chat_tokens,
    split_chunks,
)
from slavik_tui.errors import UserError

RU = (
    "и в не на я что он с а как это по но она его к так все они мы было сказал Левин Анна "
    "Каренина дом время рука жизнь глаза слово ёлка подъезд объяснение любовь счастье"
).split()
EN = "the of and to a in that he was it his with as for had you not be her on at by".split()
PUNCT = [".", ",", "!", "?", "…", " –", ":", ";", "»", "«"]


def make_corpus(n_words: int, seed: int = 0) -> str:
    """Russian + English prose with paragraphs, dialogue dashes and odd whitespace."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n_words):
        out.append(rng.choice(RU if rng.random() < 0.7 else EN))
        r = rng.random()
        if r < 0.08:
            out.append(rng.choice(PUNCT))
        if r < 0.02:
            out.append(rng.choice(["\n\n", "\n", "\n\n–\u00a0", " \n", "\n\t", "\n\n\n"]))
        else:
            out.append(" ")
        if i % 97 == 0:
            out.append(str(rng.randint(0, 9999)))
    return "".join(out)


TRICKY = [
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "\ttabs\t\tand\t",
    "windows\r\nline\r\nendings\r\n",
    "\r",
    "\n\n\n",
    " \n \n  \n",
    "Привет, мир! Ёжик ёлка.",
    "e\u0301 combining acute, и\u0306",
    "NBSP\u00a0inside\u00a0",
    "zero\u200bwidth\u200d",
    "emoji 😀👍🏽 👨\u200d👩\u200d👧 🇷🇺",
    "中文字符和日本語のテキスト",
    "\x00\x01\x07\x1b[31mred\x1b[0m\x7f",
    EOT,
    f"a{EOT}b",
    f"{EOT}{EOT}",
    f"{USER}Привет{END_OF_TURN}{ASSISTANT}",
    f"{SYSTEM} <|user |> <|end|",
    "<|endoftext",
    "\ufeffBOM at start",
    "\U0010ffff\U0001f600",
    "line\u2028sep\u2029para",
    "'s 're 've contractions don't",
    "1234567890 3.14159",
    "ﬁ ligature, Ⅻ, ß, İ, ǅ",
    "\\ backslash \" quote",
]

RANGES = [
    (0x20, 0x7E),
    (0x00, 0x1F),
    (0x80, 0xFF),
    (0x400, 0x4FF),
    (0x300, 0x36F),
    (0x2000, 0x206F),
    (0x3000, 0x30FF),
    (0x4E00, 0x9FFF),
    (0x1F300, 0x1FAFF),
    (0x10000, 0x10FFFF),
]


def random_unicode(rng: random.Random, length: int) -> str:
    chars = []
    for _ in range(length):
        if rng.random() < 0.2:
            chars.append(rng.choice(" \n\t\r "))
        else:
            lo, hi = rng.choice(RANGES)
            chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


@pytest.fixture(scope="module")
def corpus() -> str:
    return make_corpus(12_000, seed=1)


@pytest.fixture(scope="module")
def tok(corpus: str) -> Tokenizer:
    return Tokenizer.train([corpus, "emoji 😀 and 中文 once"], vocab_size=600)


def assert_one_line(exc: pytest.ExceptionInfo, *needles: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip()
    for needle in needles:
        assert needle.lower() in msg.lower(), (needle, msg)


# ---- training ---------------------------------------------------------------------------------
def test_train_layout(tok: Tokenizer) -> None:
    assert tok.eot_id == EOT_ID == 0
    assert 300 < tok.vocab_size <= 600
    # merges were learned: a frequent word is one token, not one token per byte
    assert len(tok.encode(" сказал")) < len(" сказал".encode())


def test_tiny_text_gives_smaller_vocab() -> None:
    small = Tokenizer.train(["ab ab ab"], vocab_size=1000)
    assert 257 <= small.vocab_size < 1000
    assert small.decode(small.encode("абв xyz 😀")) == "абв xyz 😀"


@pytest.mark.parametrize("bad", [0, 100, 299, 70000, "8000"])
def test_train_rejects_bad_vocab(bad) -> None:
    with pytest.raises(UserError) as exc:
        Tokenizer.train(["hello"], vocab_size=bad)
    assert_one_line(exc, "--vocab-size")


def test_train_rejects_no_text() -> None:
    with pytest.raises(UserError) as exc:
        Tokenizer.train([], vocab_size=500)
    assert_one_line(exc, "--data")


# ---- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_tricky(tok: Tokenizer, text: str) -> None:
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert not set(ids) & set(range(len(SPECIAL_TOKENS)))  # text never yields a special id
    assert b"".join(tok.token_bytes(i) for i in ids) == text.encode("utf-8")


def test_round_trip_random_unicode(tok: Tokenizer) -> None:
    rng = random.Random(1234)
    for _ in range(300):
        text = random_unicode(rng, rng.randint(0, 80))
        ids = tok.encode(text)
        assert tok.decode(ids) == text, repr(text)
        assert b"".join(tok.token_bytes(i) for i in ids) == text.encode("utf-8")


def test_literal_eot_is_plain_text(tok: Tokenizer) -> None:
    text = f"до {EOT} после"
    ids = tok.encode(text)
    assert EOT_ID not in ids
    assert tok.decode(ids) == text
    # the real EOT id decodes to the literal marker
    assert tok.decode([EOT_ID]) == EOT
    assert tok.token_bytes(EOT_ID) == EOT.encode()


def test_decode_accepts_numpy(tok: Tokenizer) -> None:
    ids = tok.encode("Анна Каренина")
    assert tok.decode(np.array(ids, dtype=np.uint16)) == "Анна Каренина"


def test_token_bytes_table_covers_vocab(tok: Tokenizer) -> None:
    all_bytes = [tok.token_bytes(i) for i in range(tok.vocab_size)]
    assert all(b for b in all_bytes)
    singles = {b for b in all_bytes if len(b) == 1}
    assert len(singles) == 256  # every byte is representable
    with pytest.raises(IndexError):
        tok.token_bytes(tok.vocab_size)


# ---- chunking and arrays ----------------------------------------------------------------------
def test_split_chunks_is_exact(tok: Tokenizer, corpus: str) -> None:
    text = corpus[:30_000]
    pieces = split_chunks(text, size=700)
    assert len(pieces) > 10
    assert "".join(pieces) == text
    # cuts never change the tokens, not only the text
    assert [i for p in pieces for i in tok.encode(p)] == tok.encode(text)


def test_split_chunks_without_newlines_round_trips(tok: Tokenizer) -> None:
    rng = random.Random(5)
    text = "".join(rng.choice(["слово ", "😀", "x", "\u0301", " "]) for _ in range(5000))
    pieces = split_chunks(text, size=300)
    assert len(pieces) > 5 and "".join(pieces) == text
    assert tok.decode([i for p in pieces for i in tok.encode(p)]) == text


def test_long_text_encode_matches_short_path(tok: Tokenizer, corpus: str) -> None:
    long_text = (corpus + "\n") * 3  # > 2 chunks: goes through encode_batch
    assert len(long_text) > 2 * 64 * 1024
    ids = tok.encode(long_text)
    assert tok.decode(ids) == long_text
    # the same tokens as one unchunked call of the underlying tokenizer
    assert ids == tok._hf.encode(long_text, add_special_tokens=False).ids
    arr = tok.encode_to_array([long_text])
    assert arr[:-1].tolist() == ids and arr[-1] == tok.eot_id


def test_encode_to_array(tok: Tokenizer, corpus: str) -> None:
    docs = [corpus[:2000], "", f"literal {EOT} inside", "Ёж\r\n", corpus[:70_000]]
    arr = tok.encode_to_array(docs)
    assert arr.dtype == np.uint16 and arr.ndim == 1
    eots = np.nonzero(arr == tok.eot_id)[0]
    assert len(eots) == len(docs) and eots[-1] == len(arr) - 1
    bounds = np.concatenate([[-1], eots])
    for doc, a, b in zip(docs, bounds[:-1], bounds[1:]):
        assert tok.decode(arr[a + 1 : b]) == doc
    assert tok.encode_to_array([]).size == 0


# ---- files ------------------------------------------------------------------------------------
def test_save_load_equivalent(tok: Tokenizer, tmp_path, corpus: str) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.vocab_size == tok.vocab_size and loaded.eot_id == tok.eot_id
    sample = corpus[:5000] + TRICKY[13] + f"x{EOT}y"
    assert loaded.encode(sample) == tok.encode(sample)
    assert loaded.decode(loaded.encode(sample)) == sample
    assert [loaded.token_bytes(i) for i in range(50)] == [tok.token_bytes(i) for i in range(50)]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["normalizer"] is None
    assert [(t["content"], t["id"], t["special"]) for t in data["added_tokens"]] == [
        (t, i, True) for i, t in enumerate(SPECIAL_TOKENS)
    ]
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temp file


def test_load_missing(tmp_path) -> None:
    with pytest.raises(UserError) as exc:
        Tokenizer.load(tmp_path / "nope.json")
    assert_one_line(exc, "missing", "restore")


@pytest.mark.parametrize("content", ["{not json", '{"model": 1}', ""])
def test_load_corrupt(tmp_path, content: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(content)
    with pytest.raises(UserError) as exc:
        Tokenizer.load(path)
    assert_one_line(exc, "corrupt", "restore")


def test_load_without_eot(tmp_path) -> None:
    from tokenizers import Tokenizer as HF
    from tokenizers import models, pre_tokenizers, trainers

    hf = HF(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, show_progress=False)
    hf.train_from_iterator(["hello world"], trainer)
    hf.save(str(tmp_path / "t.json"))
    with pytest.raises(UserError) as exc:
        Tokenizer.load(tmp_path / "t.json")
    assert_one_line(exc, EOT, "create a new model")


def test_loads_in_transformers(tok: Tokenizer, tmp_path, corpus: str) -> None:
    transformers = pytest.importorskip("transformers")
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=EOT)
    text = corpus[:3000] + " 😀 Ёж\t"
    assert fast.encode(text, add_special_tokens=False) == tok.encode(text)
    assert fast.decode(tok.encode(text)) == text
    assert fast.eos_token_id == tok.eot_id
    assert len(fast) == tok.vocab_size
    # documented difference: outside slavik-tui the literal marker is the special token
    assert fast.encode(f"x{EOT}", add_special_tokens=False)[-1] == tok.eot_id


# ---- chat tokens ------------------------------------------------------------------------------
def old_tokenizer(text: str, vocab_size: int = 400) -> Tokenizer:
    """A tokenizer as slavik-tui trained them before the chat tokens were reserved."""
    from tokenizers import Tokenizer as HF
    from tokenizers import decoders, models, pre_tokenizers, trainers

    hf = HF(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    hf.train_from_iterator([text], trainer)
    return Tokenizer(hf)


def test_chat_tokens_are_reserved_after_eot(tok: Tokenizer) -> None:
    assert [tok.special_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.has_chat_tokens
    assert tok.special_id("<|nope|>") is None
    assert tok.special_id("a") is None  # an ordinary token is not a special one
    for i, t in enumerate(CHAT_TOKENS, start=1):
        assert tok.decode([i]) == t and tok.token_bytes(i) == t.encode()
    # the 256 bytes follow the specials
    assert {len(tok.token_bytes(i)) for i in range(5, 261)} == {1}


def test_chat_markers_in_text_are_plain_text(tok: Tokenizer) -> None:
    text = f"{SYSTEM}Ты бот{END_OF_TURN}{USER} вопрос {ASSISTANT}{EOT}"
    ids = tok.encode(text)
    assert min(ids) >= len(SPECIAL_TOKENS)
    assert tok.decode(ids) == text
    arr = tok.encode_to_array([text])
    assert arr[:-1].tolist() == ids and arr[-1] == EOT_ID


def test_add_chat_tokens_to_an_old_tokenizer(corpus: str) -> None:
    old = old_tokenizer(corpus)
    n = old.vocab_size
    assert not old.has_chat_tokens and old.special_id(USER) is None
    sample = corpus[:3000]
    before = old.encode(sample)
    added = old.add_chat_tokens()
    assert added == {t: n + i for i, t in enumerate(CHAT_TOKENS)}
    assert old.vocab_size == n + 4 and old.has_chat_tokens
    assert old.encode(sample) == before  # existing ids keep their meaning
    assert old.token_bytes(n + 1) == USER.encode()  # the bytes table was rebuilt
    assert USER not in [old.decode([i]) for i in old.encode(f"x{USER}y")]  # still plain text
    assert old.add_chat_tokens() == {}  # a second call adds nothing


def test_add_chat_tokens_file(tmp_path, corpus: str) -> None:
    path = tmp_path / "tokenizer.json"
    old = old_tokenizer(corpus)
    old.save(path)
    n = old.vocab_size
    assert add_chat_tokens(path) == {t: n + i for i, t in enumerate(CHAT_TOKENS)}
    loaded = Tokenizer.load(path)
    assert loaded.vocab_size == n + 4 and loaded.special_id(END_OF_TURN) == n + 3
    text = path.read_text(encoding="utf-8")
    assert add_chat_tokens(path) == {}
    assert path.read_text(encoding="utf-8") == text  # nothing to add: not rewritten
    assert not list(tmp_path.glob("*.tmp"))


def test_add_chat_tokens_refuses_an_ordinary_token_of_that_text(tmp_path) -> None:
    from tokenizers import Tokenizer as HF
    from tokenizers import models, pre_tokenizers

    vocab = {EOT: 0, "a": 1, USER: 2}
    hf = HF(models.BPE(vocab=vocab, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.add_special_tokens([EOT])
    with pytest.raises(UserError) as exc:
        Tokenizer(hf).add_chat_tokens()
    assert_one_line(exc, USER, "ordinary token", "create a new model")


def test_chat_tokens_in_transformers(tok: Tokenizer, tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=EOT)
    # outside slavik-tui the markers are the special tokens (what a chat template relies on)
    ids = fast.encode(f"{USER}кошка{END_OF_TURN}", add_special_tokens=False)
    assert ids[0] == tok.special_id(USER) and ids[-1] == tok.special_id(END_OF_TURN)
    assert ids[1:-1] == tok.encode("кошка")
