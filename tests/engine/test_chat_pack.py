"""Conversations packed into rows for fine-tuning: whole conversations per row, mask only on
the replies, long conversations cut between exchanges."""

from __future__ import annotations

import random

import numpy as np
import pytest

from corpus import make_text, sentence
from slavik_tui.engine.chat import Message, chat_ids, pack_conversations, render_conversation
from slavik_tui.engine.data import TOKEN_DTYPE
from slavik_tui.engine.tokenizer import EOT, END_OF_TURN, Tokenizer
from slavik_tui.errors import UserError


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train([make_text(20_000, seed=5)], vocab_size=400)


def dialogue(rng: random.Random, turns: int, system: bool = False) -> list[Message]:
    conv = [Message("system", "Отвечай коротко.")] if system else []
    for _ in range(turns):
        conv += [Message("user", sentence(rng)), Message("assistant", sentence(rng))]
    return conv


def row_pieces(tok: Tokenizer, row: np.ndarray) -> list[list[int]]:
    """The row cut before each <|endoftext|>, padding removed."""
    pieces: list[list[int]] = []
    for t in row.tolist():
        if t == tok.eot_id:
            pieces.append([])
        pieces[-1].append(t)
    return [p for p in pieces if len(p) > 1]


def test_rows_hold_whole_conversations(tok: Tokenizer) -> None:
    rng = random.Random(3)
    convs = [dialogue(rng, rng.randint(1, 3), system=rng.random() < 0.3) for _ in range(40)]
    context = 128
    ids, mask = pack_conversations(convs, tok, context)
    assert ids.dtype == TOKEN_DTYPE and mask.dtype == np.uint8
    assert ids.shape == mask.shape and ids.shape[1] == context + 1
    assert (ids[:, 0] == tok.eot_id).all()
    rendered = [render_conversation(c, tok) for c in convs]
    assert all(len(r[0]) <= context + 1 for r in rendered)  # none needs cutting here
    # every conversation appears whole, once, in order, with its own mask
    found = [p for row in ids for p in row_pieces(tok, row)]
    assert found == [r[0] for r in rendered]
    assert int(mask.sum()) == sum(sum(r[1]) for r in rendered)
    # next fit: a conversation moves to a new row only when it does not fit the current one
    used = [sum(len(p) for p in row_pieces(tok, row)) for row in ids]
    firsts = [row_pieces(tok, row)[0] for row in ids[1:]]
    assert all(u + len(f) > context + 1 for u, f in zip(used, firsts))
    # padding is <|endoftext|> at mask 0, and the mask is 1 only on replies and their ends
    for row, m in zip(ids, mask):
        text = tok.decode(row[m == 1])
        assert EOT not in text and text.endswith(END_OF_TURN)


def test_long_conversation_is_cut_between_exchanges(tok: Tokenizer) -> None:
    rng = random.Random(8)
    conv = dialogue(rng, 12, system=True)
    c = chat_ids(tok)
    context = 96  # more than any one exchange (with the system message) needs
    ids, mask = pack_conversations([conv], tok, context)
    pieces = [p for row in ids for p in row_pieces(tok, row)]
    assert len(pieces) > 2
    system_block = [c.system, *tok.encode(conv[0].content), c.end]
    start = 1 + len(system_block)
    for piece in pieces:
        assert len(piece) <= context + 1
        assert piece[:start] == [c.eot, *system_block]  # each starts afresh
        assert piece[start] == c.user  # with a question
    # the exchanges after those prefixes are the whole conversation, each exactly once
    whole = render_conversation(conv, tok)[0]
    assert [t for piece in pieces for t in piece[start:]] == whole[start:]
    learned = tok.decode(ids[mask == 1])
    assert learned == "".join(m.content + END_OF_TURN for m in conv if m.role == "assistant")


def test_an_exchange_longer_than_a_row(tok: Tokenizer) -> None:
    rng = random.Random(2)
    long_reply = " ".join(sentence(rng) for _ in range(30))
    conv = [Message("user", "Расскажи?"), Message("assistant", long_reply)]
    ids, mask = pack_conversations([conv], tok, 32)
    # cut at the row's end: all but <|endoftext|> <|user|> question <|end|> <|assistant|>
    assert ids.shape == (1, 33) and mask[0].sum() == 33 - 4 - len(tok.encode("Расскажи?"))
    assert tok.decode(ids[0][mask[0] == 1]) == tok.decode(tok.encode(long_reply)[:mask[0].sum()])
    # a question that alone fills the row leaves no reply to learn: the dialogue is left out
    long_question = [Message("user", long_reply), Message("assistant", "Да.")]
    ids, mask = pack_conversations([long_question, conv], tok, 32)
    assert ids.shape == (1, 33) and tok.decode(ids[0]).startswith(EOT + "<|user|>Расскажи?")
    with pytest.raises(UserError) as exc:
        pack_conversations([long_question], tok, 32)
    assert "context of 32 tokens" in str(exc.value) and "\n" not in str(exc.value)


def test_bad_context(tok: Tokenizer) -> None:
    with pytest.raises(ValueError):
        pack_conversations([[Message("user", "a"), Message("assistant", "b")]], tok, 1)
