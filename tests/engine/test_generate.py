"""engine/generate.py: streaming, whole characters, stopping, context handling, sampling."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from corpus import make_text
from slavik_tui.spec.config import ModelConfig
from slavik_tui.engine.generate import generate
from slavik_tui.engine.model import GPT
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.errors import UserError


# ---- fakes: a byte tokenizer and a model that plays a script -------------------------------
class ByteTokenizer:
    """ids 0..255 are the bytes, 256 is end-of-text."""

    eot_id = 256
    vocab_size = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def token_bytes(self, token: int) -> bytes:
        return b"<|endoftext|>" if token == 256 else bytes([token])


class ScriptedModel:
    """Stands in for GPT: its decoder's n-th logits come from `logits_fn(n)`, and it records
    what it was fed."""

    def __init__(self, logits_fn, context: int = 64, vocab_size: int = 300) -> None:
        self.cfg = SimpleNamespace(context=context, vocab_size=vocab_size)
        self.logits_fn = logits_fn
        self.fed: list[tuple[str, list[int]]] = []

    def decoder(self):
        return ScriptedDecoder(self)


class ScriptedDecoder:
    device = torch.device("cpu")

    def __init__(self, model: ScriptedModel) -> None:
        self.model, self.max_len, self.pos, self.calls = model, model.cfg.context, 0, 0

    def _next(self) -> torch.Tensor:
        self.calls += 1
        return self.model.logits_fn(self.calls - 1)

    def prefill(self, ids):
        ids = [int(i) for i in ids]
        assert self.pos + len(ids) <= self.max_len
        self.pos += len(ids)
        self.model.fed.append(("prefill", ids))
        return self._next()

    def step(self, token):
        assert self.pos < self.max_len
        self.pos += 1
        self.model.fed.append(("step", [int(token)]))
        return self._next()

    def reset(self):
        self.pos = 0


def one_hot(token: int, vocab: int = 300) -> torch.Tensor:
    logits = torch.full((vocab,), -10.0)
    logits[token] = 10.0
    return logits


def script(tokens: list[int], then: int | None = None):
    """Logits that make greedy (or any sane sampling) emit `tokens`, then `then` forever."""
    return lambda n: one_hot(tokens[n] if n < len(tokens) else then)


# ---- whole characters ------------------------------------------------------------------------
def test_multibyte_characters_come_out_whole():
    text = "Привет, 👋 мир! ёЁ 中文"
    model = ScriptedModel(script(list(text.encode()), then=256))
    pieces = list(generate(model, ByteTokenizer(), "x", max_tokens=200, temperature=0))
    assert pieces == list(text)  # one piece per character, none half a character
    assert "\ufffd" not in "".join(pieces)


def test_invalid_bytes_are_replaced_and_a_cut_off_character_is_dropped():
    # "П"'s first byte followed by the start of another character is invalid (U+FFFD where it
    # is); the first 3 of 👋's 4 bytes, cut off by max_tokens, are held and then dropped.
    data = "ok".encode() + "П".encode()[:1] + "👋".encode()[:3]
    model = ScriptedModel(script(list(data), then=256))
    pieces = list(generate(model, ByteTokenizer(), "x", max_tokens=6, temperature=0))
    assert pieces == ["o", "k", "\ufffd"]
    model = ScriptedModel(script(list("да".encode()), then=256))
    pieces = list(generate(model, ByteTokenizer(), "x", max_tokens=3, temperature=0))
    assert pieces == ["д"]  # "а" cut after its first byte: no U+FFFD at the end


def test_stats_count_tokens_and_time_the_first_one():
    from slavik_tui.engine.generate import GenerationStats

    model = ScriptedModel(script(list(b"hello"), then=256))  # then end-of-text
    stats = GenerationStats()
    pieces = list(generate(model, ByteTokenizer(), "hi!", max_tokens=50, temperature=0,
                           stats=stats))
    assert "".join(pieces) == "hello"
    assert (stats.prompt_tokens, stats.new_tokens) == (3, 5)  # the stop token not counted
    assert stats.started <= stats.first_token <= stats.finished
    assert 0 <= stats.time_to_first_token and stats.tokens_per_second > 0
    assert stats.line().startswith("prompt 3 tokens, 5 new tokens, first token after ")


def test_stops_at_end_of_text_and_after_max_tokens():
    model = ScriptedModel(script([ord("a"), ord("b"), 256, ord("c")]))
    assert list(generate(model, ByteTokenizer(), "x", max_tokens=100, temperature=0)) == ["a", "b"]
    forever = ScriptedModel(script([], then=ord("z")))
    assert "".join(generate(forever, ByteTokenizer(), "x", max_tokens=7)) == "z" * 7
    # the last token's logits are never computed
    assert [kind for kind, _ in forever.fed] == ["prefill"] + ["step"] * 6


def test_empty_prompt_starts_from_end_of_text():
    model = ScriptedModel(script([ord("a")], then=256))
    assert list(generate(model, ByteTokenizer(), "", max_tokens=5)) == ["a"]
    assert model.fed[0] == ("prefill", [256])


# ---- context: long prompts and sliding ---------------------------------------------------------
def test_long_prompt_keeps_its_end_and_generation_slides():
    context = 16
    model = ScriptedModel(script([], then=ord("z")), context=context)
    prompt = "abcdefghijklmnopqrstuvwxyz"  # 26 tokens > context
    out = "".join(generate(model, ByteTokenizer(), prompt, max_tokens=30, temperature=0))
    assert out == "z" * 30
    kind, first = model.fed[0]
    assert kind == "prefill" and first == list(prompt.encode()[-context:])
    # the whole token stream as the model saw it, and every re-prefill's window
    stream = list(prompt.encode()[-context:]) + [ord("z")] * 30
    seen = len(first)
    for kind, ids in model.fed[1:]:
        if kind == "prefill":
            assert len(ids) == context // 2
            assert ids == stream[seen + 1 - len(ids): seen + 1]  # the latest half, new token last
        seen += 1
    assert sum(kind == "prefill" for kind, _ in model.fed) >= 3
    assert seen == len(stream) - 1  # every generated token but the last was fed


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.train([make_text(20_000)], 400)


@pytest.fixture(scope="module")
def tiny_model(tokenizer) -> GPT:
    torch.manual_seed(0)
    # untied: a random tied model mostly repeats its input (logits = embedding · itself)
    cfg = ModelConfig(vocab_size=400, context=32, d_model=48, n_layers=2, n_heads=4,
                      tie_embeddings=False)
    return GPT(cfg).eval()


class Recorder:
    """Wraps a tokenizer and records the token ids generate() asks bytes for."""

    def __init__(self, tok) -> None:
        self.tok, self.ids = tok, []
        self.eot_id, self.vocab_size, self.encode = tok.eot_id, tok.vocab_size, tok.encode

    def token_bytes(self, token: int) -> bytes:
        self.ids.append(token)
        return self.tok.token_bytes(token)


def reference_greedy(model: GPT, ids: list[int], n: int, eot: int, n_vocab: int,
                     penalty: float = 1.0) -> list[int]:
    """Greedy decoding with full forward passes and the documented context policy."""
    ctx = model.cfg.context
    window, out = ids[-ctx:], []
    seen = set(window)
    for _ in range(n):
        with torch.no_grad():
            logits = model(torch.tensor([window]))[0][0, -1, :n_vocab]
        if penalty != 1.0:
            idx = torch.tensor(sorted(seen))
            val = logits[idx]
            logits[idx] = torch.where(val > 0, val / penalty, val * penalty)
        token = int(logits.argmax())
        out.append(token)
        if token == eot:
            break
        window.append(token)
        seen.add(token)
        if len(window) > ctx:
            window = window[-(ctx // 2):]
    return out


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_matches_full_forward_reference_across_slides(tiny_model, tokenizer, penalty):
    prompt = "Кошка тихо видит дом. The cat sees the house! " * 3  # > context tokens
    ids = tokenizer.encode(prompt)
    assert len(ids) > tiny_model.cfg.context
    rec = Recorder(tokenizer)
    text = "".join(generate(tiny_model, rec, prompt, max_tokens=50, temperature=0,
                            repetition_penalty=penalty, quantize="none"))
    expected = reference_greedy(tiny_model, ids, 50, tokenizer.eot_id, tokenizer.vocab_size,
                                penalty)
    got = rec.ids + ([tokenizer.eot_id] if len(rec.ids) < len(expected) else [])
    assert got == expected
    emitted = [t for t in expected if t != tokenizer.eot_id]
    assert text == b"".join(tokenizer.token_bytes(t) for t in emitted).decode("utf-8", "replace")


# ---- sampling -----------------------------------------------------------------------------
def test_seeded_sampling_is_reproducible(tiny_model, tokenizer):
    def run(seed):
        return "".join(generate(tiny_model, tokenizer, "Кошка", max_tokens=30, seed=seed))

    a = run(123)
    assert a and a == run(123)
    assert run(124) != a
    state, np_state = torch.get_rng_state(), np.random.get_state()
    run(None)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNGs are not used
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()


def test_sampling_follows_probabilities_top_k_top_p_and_temperature():
    a, b, c = ord("a"), ord("b"), ord("c")
    logits = torch.full((300,), -float("inf"))
    logits[[a, b, c]] = torch.tensor([0.5, 0.3, 0.2]).log()
    model = ScriptedModel(lambda n: logits, context=5000)

    def freq(**kw):
        counts = Counter("".join(generate(model, ByteTokenizer(), "x", max_tokens=N, seed=7, **kw)))
        return {ch: counts[ch] / N for ch in "abc"}

    N = 2500  # 3 standard deviations of a frequency are ≤ 0.03

    plain = freq(temperature=1.0, top_k=0, top_p=1.0)
    assert plain == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2}, abs=0.03)
    top_k = freq(temperature=1.0, top_k=2, top_p=1.0)
    assert top_k["c"] == 0 and top_k["a"] == pytest.approx(0.625, abs=0.03)
    assert freq(temperature=1.0, top_k=0, top_p=0.6)["c"] == 0  # 0.5 < 0.6: keeps a and b
    assert freq(temperature=1.0, top_k=50, top_p=0.5) == {"a": 1.0, "b": 0.0, "c": 0.0}
    cold = np.array([0.5, 0.3, 0.2]) ** 2
    cold /= cold.sum()
    cold_freq = freq(temperature=0.5, top_k=0, top_p=1.0)
    assert cold_freq == pytest.approx(dict(zip("abc", cold)), abs=0.03)
    assert freq(temperature=0) == {"a": 1.0, "b": 0.0, "c": 0.0}


def test_ids_beyond_the_tokenizer_are_never_sampled():
    logits = torch.zeros(300)
    logits[257:] = 50.0  # the model likes ids the byte tokenizer does not have
    model = ScriptedModel(lambda n: logits)
    out = "".join(generate(model, ByteTokenizer(), "x", max_tokens=50, temperature=0))
    assert out == "\x00" * 50  # argmax over ids 0..256 only (all equal: the first)


def test_grad_mode_is_not_changed_between_pieces(tiny_model, tokenizer):
    for _ in generate(tiny_model, tokenizer, "Кошка", max_tokens=5, seed=1):
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


# ---- argument validation --------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, word", [
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 2.5}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"top_k": -1}, "top_k"),
    ({"top_k": 1.5}, "top_k"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.01}, "top_p"),
    ({"repetition_penalty": 0}, "repetition_penalty"),
    ({"repetition_penalty": -1.2}, "repetition_penalty"),
    ({"seed": "abc"}, "seed"),
    ({"prompt": None}, "prompt"),
])
def test_bad_arguments_raise_user_error_at_the_call(kwargs, word):
    model = ScriptedModel(script([], then=256))
    args = {"prompt": "x", **kwargs}
    with pytest.raises(UserError, match=word) as info:
        generate(model, ByteTokenizer(), **args)  # no next(): raised at the call itself
    assert "\n" not in str(info.value)
    assert model.fed == []


def test_tokenizer_larger_than_the_model_is_a_user_error():
    model = ScriptedModel(script([], then=256), vocab_size=200)
    with pytest.raises(UserError, match="tokenizer"):
        generate(model, ByteTokenizer(), "x")
