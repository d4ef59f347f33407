"""chat_reply: where a reply starts and stops (a scripted decoder), and a tiny model fine-tuned
on packed dialogues that answers its questions; grow_embeddings for tokens added later."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from corpus import make_text
from slavik_tui.engine.chat import (
    Message,
    chat_ids,
    chat_reply,
    grow_embeddings,
    pack_conversations,
    prompt_ids,
    render_conversation,
)
from slavik_tui.engine.model import GPT
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from test_tokenizer import old_tokenizer


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train([make_text(20_000, seed=6)], vocab_size=400)


class ScriptedDecoder:
    """Gives logits that make greedy sampling pick `script` one token after another."""

    def __init__(self, script: list[int], vocab: int, max_len: int, base=None) -> None:
        self.script, self.vocab, self.max_len = list(script), vocab, max_len
        self.base = base  # logits of every other token (default: all 0)
        self.device = torch.device("cpu")
        self.pos = 0
        self.prefills: list[list[int]] = []

    def _logits(self) -> torch.Tensor:
        logits = torch.zeros(self.vocab) if self.base is None else self.base.clone()
        if self.script:
            logits[self.script.pop(0)] = 10.0
        return logits

    def prefill(self, ids) -> torch.Tensor:
        self.prefills.append(list(ids))
        self.pos += len(ids)
        return self._logits()

    def step(self, token: int) -> torch.Tensor:
        assert self.pos < self.max_len
        self.pos += 1
        return self._logits()

    def reset(self) -> None:
        self.pos = 0


def scripted_model(script, vocab: int = 400, context: int = 64, base=None):
    decoder = ScriptedDecoder(script, vocab, context, base)
    cfg = SimpleNamespace(vocab_size=vocab, context=context)
    return SimpleNamespace(cfg=cfg, decoder=lambda: decoder), decoder


CONV = [Message("system", "Будь краток."), Message("user", "Кошка видит дом?")]


@pytest.mark.parametrize("stop", ["end", "eot", "user", "assistant", "system"])
def test_reply_stops_at_end_of_turn_text_or_role(tok: Tokenizer, stop: str) -> None:
    c = chat_ids(tok)
    words = tok.encode("Да, кошка видит дом.")
    model, decoder = scripted_model([*words, getattr(c, stop), *words])
    pieces = list(chat_reply(model, tok, CONV, temperature=0))
    assert "".join(pieces) == "Да, кошка видит дом."
    assert decoder.prefills == [prompt_ids(CONV, tok)]  # generated from ... <|assistant|>
    assert decoder.prefills[0][-1] == c.assistant


def test_reply_streams_whole_characters(tok: Tokenizer) -> None:
    c = chat_ids(tok)
    text = "ёж 😀 Ёлка"
    # one token per byte: every Cyrillic letter and the emoji arrive in pieces
    singles = {tok.token_bytes(i): i for i in range(tok.vocab_size) if len(tok.token_bytes(i)) == 1}
    script = [singles[bytes([b])] for b in text.encode()] + [c.end]
    model, _ = scripted_model(script)
    pieces = list(chat_reply(model, tok, CONV, temperature=0))
    assert "".join(pieces) == text and len(pieces) == len(text)
    assert "\ufffd" not in "".join(pieces)


def test_max_tokens_and_sliding_context(tok: Tokenizer) -> None:
    word = tok.encode("x")
    assert len(word) == 1
    model, decoder = scripted_model(word * 100, context=32)
    out = "".join(chat_reply(model, tok, CONV, max_tokens=70, temperature=0))
    assert out == "x" * 70  # past the context of 32: the cache slid, generation went on
    assert len(decoder.prefills) > 1 and all(len(p) <= 32 for p in decoder.prefills)
    # the prompt left room for the reply: half the context when the reply may be long
    assert len(decoder.prefills[0]) <= 16


def test_repetition_penalty_spares_the_end_of_turn(tok: Tokenizer) -> None:
    """<|end|> closes every turn of the prompt; were it penalised, a chat would never stop."""
    c = chat_ids(tok)
    conv = [Message("user", "да"), Message("assistant", "нет"), Message("user", "да")]
    text_id = tok.encode("x")[0]
    assert text_id not in prompt_ids(conv, tok)
    base = torch.full((400,), -5.0)
    base[c.end], base[text_id] = 5.0, 4.0  # <|end|> likelier, unless it were penalised
    model, _ = scripted_model([], base=base)
    assert list(chat_reply(model, tok, conv, temperature=0, repetition_penalty=10.0)) == []
    # an ordinary token of the prompt is penalised: "да" (in the prompt) loses to "x"
    da = tok.encode("да")[0]
    base = torch.full((400,), -5.0)
    base[da], base[text_id], base[c.end] = 5.0, 4.0, 3.0
    model, _ = scripted_model([], base=base)
    first = next(chat_reply(model, tok, conv, temperature=0, repetition_penalty=10.0))
    assert first == "x"


def test_bad_calls_are_one_line(tok: Tokenizer) -> None:
    model, _ = scripted_model([])
    with pytest.raises(UserError, match="temperature"):
        chat_reply(model, tok, CONV, temperature=-1)  # checked at the call
    with pytest.raises(UserError, match="must end with the user's message"):
        chat_reply(model, tok, CONV + [Message("assistant", "Да.")])
    small, _ = scripted_model([], vocab=300)
    with pytest.raises(UserError, match="does not belong to this model"):
        chat_reply(small, tok, CONV)
    old = old_tokenizer(make_text(5_000))
    with pytest.raises(UserError, match="no chat tokens"):
        chat_reply(scripted_model([])[0], old, CONV)


# ---- a real model, fine-tuned on packed dialogues ----------------------------------------------
QA = {
    "Кто видит дом?": "Кошка видит дом.",
    "Кто ищет лес?": "Собака ищет лес.",
    "Что любит Анна?": "Анна любит море.",
    "Привет, как дела?": "Хорошо, спасибо!",
}


def fine_tune(tok: Tokenizer, steps: int = 150) -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=tok.vocab_size, context=48, d_model=48, n_layers=1, n_heads=2)
    model = GPT(cfg)
    rng = random.Random(0)
    convs = []
    for _ in range(64):
        q = rng.choice(list(QA))
        conv = [Message("user", q), Message("assistant", QA[q])]
        if rng.random() < 0.5:
            conv = [Message("system", "Отвечай.")] + conv
        convs.append(conv)
    ids, mask = pack_conversations(convs, tok, cfg.context)
    x = torch.from_numpy(ids[:, :-1].astype(np.int64))
    y = torch.from_numpy(np.where(mask[:, 1:] == 1, ids[:, 1:].astype(np.int64), -1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_fine_tuned_model_answers_and_stops(tok: Tokenizer) -> None:
    model = fine_tune(tok)
    for q, a in QA.items():
        reply = "".join(chat_reply(model, tok, [Message("user", q)], temperature=0,
                                   max_tokens=40))
        assert reply == a  # the whole answer, and not a token more: it stopped at <|end|>
    # multi-turn: the answer depends on the last question, not the first
    conv = [Message("user", "Кто видит дом?"), Message("assistant", "Кошка видит дом."),
            Message("user", "Кто ищет лес?")]
    reply = "".join(chat_reply(model, tok, conv, temperature=0, max_tokens=40))
    assert reply == QA["Кто ищет лес?"]
    sampled = ["".join(chat_reply(model, tok, [Message("user", "Кто ищет лес?")], seed=s))
               for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]  # reproducible by seed


# ---- grow_embeddings ----------------------------------------------------------------------------
def tiny(vocab: int, tie: bool = True) -> GPT:
    torch.manual_seed(1)
    return GPT(ModelConfig(vocab_size=vocab, context=16, d_model=32, n_layers=1, n_heads=2,
                           tie_embeddings=tie))


@pytest.mark.parametrize("tie", [True, False])
def test_grow_embeddings(tie: bool) -> None:
    model = tiny(300, tie)
    sd = model.state_dict()
    grown = grow_embeddings(sd, 304)
    embed = grown["embed_tokens.weight"]
    assert embed.shape == (304, 32)
    assert torch.equal(embed[:300], sd["embed_tokens.weight"])  # trained rows unchanged
    mean = sd["embed_tokens.weight"].mean(dim=0)
    spread = sd["embed_tokens.weight"].std(dim=0)
    new = embed[300:]
    assert (new - mean).abs().max() < 0.6 * spread.max()  # near the mean ...
    assert len({tuple(r.tolist()) for r in new}) == 4  # ... but distinct
    head = grown["lm_head.weight"]
    if tie:
        assert head is embed  # still one tensor
    else:
        assert head.shape == (304, 32) and torch.equal(head[:300], sd["lm_head.weight"])
        assert not torch.equal(head[300:], embed[300:])
    assert sd["embed_tokens.weight"].shape == (300, 32)  # the input is not changed
    bigger = GPT(ModelConfig(vocab_size=304, context=16, d_model=32, n_layers=1, n_heads=2,
                             tie_embeddings=tie))
    bigger.load_state_dict(grown)
    if tie:
        assert bigger.lm_head.weight is bigger.embed_tokens.weight
    idx = torch.tensor([[1, 2, 300, 303]])
    with torch.no_grad():
        old_logits = model(idx[:, :2])[0]
        new_logits = bigger(idx)[0]
    assert torch.allclose(new_logits[0, :2, :300], old_logits[0], atol=1e-5)
    assert torch.isfinite(new_logits).all()


def test_grow_embeddings_from_saved_weights_and_padding_rows() -> None:
    """Saved weights store a tied head once (no lm_head key); a model may have more rows than
    its tokenizer has tokens, and tokens added there re-initialise those rows."""
    sd = tiny(320).state_dict()
    saved = {k: v for k, v in sd.items() if k != "lm_head.weight"}
    grown = grow_embeddings(saved, 322, new_ids=[318, 319])
    assert "lm_head.weight" not in grown
    embed = grown["embed_tokens.weight"]
    assert torch.equal(embed[:318], sd["embed_tokens.weight"][:318])
    mean = sd["embed_tokens.weight"][:318].mean(dim=0)  # the mean skips rows being replaced
    assert not torch.equal(embed[318], sd["embed_tokens.weight"][318])
    assert (embed[318:] - mean).abs().max() < 0.6 * sd["embed_tokens.weight"].std(dim=0).max()
    assert torch.equal(grow_embeddings(saved, 322, seed=3)["embed_tokens.weight"],
                       grow_embeddings(saved, 322, seed=3)["embed_tokens.weight"])
    with pytest.raises(ValueError, match="shrink"):
        grow_embeddings(saved, 100)
    with pytest.raises(ValueError, match="outside"):
        grow_embeddings(saved, 322, new_ids=[0])
    with pytest.raises(ValueError, match="outside"):
        grow_embeddings(saved, 322, new_ids=[400])


def test_old_model_gains_chat_tokens(tok: Tokenizer) -> None:
    """The whole path for a model made before the chat tokens: tokenizer, rows, a reply."""
    old = old_tokenizer(make_text(20_000, seed=6))
    n = old.vocab_size
    model = tiny(n)
    added = old.add_chat_tokens()
    vocab = max(model.cfg.vocab_size, old.vocab_size)
    state = grow_embeddings(model.state_dict(), vocab, new_ids=added.values())
    bigger = GPT(ModelConfig(vocab_size=vocab, context=16, d_model=32, n_layers=1, n_heads=2))
    bigger.load_state_dict(state)
    ids, mask = render_conversation([Message("user", "да"), Message("assistant", "нет")], old)
    assert max(ids) == n + 3 and sum(mask) == len(old.encode("нет")) + 1
    with torch.no_grad():
        assert torch.isfinite(bigger(torch.tensor([ids]))[0]).all()
    reply = list(chat_reply(bigger, old, [Message("user", "да")], max_tokens=5, seed=0))
    assert all(isinstance(p, str) for p in reply)
