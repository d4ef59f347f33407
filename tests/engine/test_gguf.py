"""engine/gguf.py: a GGUF file llama.cpp runs as our model does.

The file is read back with gguf's own reader and run by an independent NumPy forward pass
written to llama.cpp's semantics (interleaved RoPE on the stored q/k rows, token_embd as the
head when `output` is absent); its tokenizer is re-run from the stored vocabulary and merges
with llama.cpp's GPT-2 split. If llama-cpp-python is installed, llama.cpp itself runs it.
"""

from __future__ import annotations

import errno
import math
import os
import unicodedata
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from gguf.quants import dequantize
from tokenizers import Tokenizer as HFTokenizer

from corpus import make_text
from slavik_tui.engine import gguf as gguf_export
from slavik_tui.engine.gguf import QUANTS, export_gguf, interleave_rope_rows
from slavik_tui.engine.model import GPT
from slavik_tui.engine.tokenizer import EOT, Tokenizer
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig

PROBE = ("— Привет, как дела?  Всё хорошо:\u00a0ёжик съел 2025 яблок… «Ура»!\n\n"
         "\tСтарик's дом   стоит;  it's 42°C 👋 \n  конец  ")
# Measured max |Δlogit| against our fp32 logits (std 3.2–3.8). NumPy forward, 16 random
# models: f16 0.004–0.006, q8_0 0.09–0.14. llama.cpp 0.3.36 (CPU, which also rounds the
# activations: to f16, or to 8-bit blocks for q8_0): f16 0.008, q8_0 0.16.
F16_TOL = 1e-2
Q8_TOL = 0.25
CHAT = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory) -> Path:
    tok = Tokenizer.train([make_text(20_000, seed=3)], 400)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(path)
    return path


def make_model(tie: bool = True, vocab: int = 400) -> GPT:
    """Random weights scaled so that every part shows in the logits: q/k large enough that
    RoPE changes which tokens attend where, norms off 1, logits of std ≈ 3."""
    torch.manual_seed(1)
    cfg = ModelConfig(vocab_size=vocab, context=48, d_model=64, n_layers=2, n_heads=4,
                      tie_embeddings=tie, rope_theta=500.0, norm_eps=1e-6)
    model = GPT(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
            elif "q_proj" in name or "k_proj" in name:
                p.normal_(0, 0.35)
            elif "embed_tokens" in name or "lm_head" in name:
                p.normal_(0, 0.4)
    return model.eval()


# ---- reading the file back -----------------------------------------------------------------
def read_back(path: Path) -> tuple[dict, dict, dict]:
    """(fields as Python values, float32 tensors by name, GGML type names by name)."""
    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    tensors, types = {}, {}
    for t in reader.tensors:
        tensors[t.name] = dequantize(t.data, t.tensor_type).astype(np.float32)
        types[t.name] = t.tensor_type.name
        assert tensors[t.name].shape == tuple(int(n) for n in reversed(t.shape)), t.name
    return fields, tensors, types


def llama_forward(fields: dict, w: dict, ids: list[int]) -> np.ndarray:
    """Logits (T, vocab) as llama.cpp's llama graph computes them, in float64."""
    d = fields["llama.embedding_length"]
    n_heads = fields["llama.attention.head_count"]
    hd = fields["llama.rope.dimension_count"]
    eps = fields["llama.attention.layer_norm_rms_epsilon"]
    base = fields["llama.rope.freq_base"]
    W = {k: v.astype(np.float64) for k, v in w.items()}
    T = len(ids)

    def rms(x, weight):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight

    angle = np.arange(T)[:, None] * base ** (-np.arange(0, hd, 2) / hd)[None, :]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]  # (T, 1, hd/2)

    def rope(t):  # (T, H, hd): rotate the adjacent pairs (2j, 2j+1) by angle j
        a, b = t[..., 0::2], t[..., 1::2]
        out = np.empty_like(t)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    causal = np.triu(np.full((T, T), -np.inf), 1)
    x = W["token_embd.weight"][ids]
    for i in range(fields["llama.block_count"]):
        blk = lambda n: W[f"blk.{i}.{n}.weight"]  # noqa: E731
        h = rms(x, blk("attn_norm"))
        q = rope((h @ blk("attn_q").T).reshape(T, n_heads, hd))
        k = rope((h @ blk("attn_k").T).reshape(T, n_heads, hd))
        v = (h @ blk("attn_v").T).reshape(T, n_heads, hd)
        scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + causal
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        x = x + np.einsum("hts,shd->thd", p, v).reshape(T, d) @ blk("attn_output").T
        h = rms(x, blk("ffn_norm"))
        gate = h @ blk("ffn_gate").T
        x = x + (gate / (1 + np.exp(-gate)) * (h @ blk("ffn_up").T)) @ blk("ffn_down").T
    head = W.get("output.weight", W["token_embd.weight"])
    return rms(x, W["output_norm.weight"]) @ head.T


def torch_logits(model: GPT, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids]))[0][0].double().numpy()


# ---- llama.cpp's tokenizer, re-implemented from the file -----------------------------------
def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    cat = unicodedata.category(ch)[0]
    return {"L": "letter", "N": "number"}.get(cat, "other")


def gpt2_split(text: str) -> list[str]:
    """llama.cpp's GPT-2 pre-tokenizer: 's|'t|'re|'ve|'m|'ll|'d, then an optional space and a
    run of letters, digits or other symbols, then whitespace (all but its last character when
    more follows), else the whole whitespace run."""
    words, pos, n = [], 0, len(text)
    while pos < n:
        for c in ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
            if text.startswith(c, pos):
                words.append(c)
                pos += len(c)
                break
        else:
            start = pos
            lead = pos + 1 if text[pos] == " " and pos + 1 < n else pos
            kind = _kind(text[lead])
            if kind != "space":
                pos = lead
                while pos < n and _kind(text[pos]) == kind:
                    pos += 1
            else:
                end = pos
                while end < n and text[end].isspace():
                    end += 1
                pos = end - 1 if end - pos > 1 and end < n else end
            words.append(text[start:pos])
    return words


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-in for each byte value."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


def bpe_encode(tokens: list[str], merges: list[str], text: str) -> list[int]:
    index = {t: i for i, t in enumerate(tokens)}
    rank = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
    chars = _byte_chars()
    ids = []
    for word in gpt2_split(text):
        parts = [chars[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            best = min(range(len(parts) - 1),
                       key=lambda i: rank.get((parts[i], parts[i + 1]), math.inf))
            pair = (parts[best], parts[best + 1])
            if pair not in rank:
                break
            merged, i = [], 0
            while i < len(parts):  # every occurrence of the pair, left to right
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids.extend(index[p] for p in parts)
    return ids


# ---- tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("tie", [True, False])
def test_metadata_names_and_shapes(tmp_path, tokenizer_json, tie):
    vocab = 400 if tie else 408  # untied: more rows than tokens, padded in the vocabulary
    model = make_model(tie, vocab)
    cfg = model.cfg
    out = export_gguf(model.state_dict(), cfg, tokenizer_json, tmp_path / "m.gguf",
                      chat_template=CHAT if tie else None)
    fields, tensors, types = read_back(out)
    tok = Tokenizer.load(tokenizer_json)
    expect = {
        "general.architecture": "llama", "general.name": "m", "general.file_type": 1,
        "llama.context_length": 48, "llama.embedding_length": 64, "llama.block_count": 2,
        "llama.feed_forward_length": cfg.ffn_hidden, "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 4, "llama.rope.dimension_count": 16,
        "llama.vocab_size": vocab, "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.bos_token_id": tok.eot_id,
        "tokenizer.ggml.eos_token_id": tok.eot_id, "tokenizer.ggml.padding_token_id": 0,
        "tokenizer.ggml.add_bos_token": False, "tokenizer.ggml.add_eos_token": False,
    }
    for key, value in expect.items():
        assert fields[key] == value, key
    assert fields["llama.rope.freq_base"] == pytest.approx(500.0)
    assert fields["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)
    assert fields.get("tokenizer.chat_template") == (CHAT if tie else None)

    tokens, ttypes = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    assert len(tokens) == len(ttypes) == vocab
    hf = HFTokenizer.from_file(str(tokenizer_json)).get_vocab(with_added_tokens=True)
    assert all(tokens[i] == t for t, i in hf.items())
    assert tokens[tok.eot_id] == EOT and ttypes[tok.eot_id] == gguf.TokenType.CONTROL
    from slavik_tui.engine.tokenizer import SPECIAL_TOKENS

    # EOT and the reserved chat tokens are control tokens; every other token is normal.
    assert ttypes.count(gguf.TokenType.NORMAL) == len(hf) - len(SPECIAL_TOKENS)
    assert all(ttypes[hf[t]] == gguf.TokenType.CONTROL for t in SPECIAL_TOKENS)
    assert ttypes[400:] == [gguf.TokenType.UNUSED] * (vocab - 400)

    names = {"token_embd.weight", "output_norm.weight"} | {
        f"blk.{i}.{n}.weight" for i in range(2) for n in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
            "ffn_gate", "ffn_up", "ffn_down")}
    assert set(tensors) == (names if tie else names | {"output.weight"})
    assert tensors["token_embd.weight"].shape == (vocab, 64)
    assert tensors["blk.1.ffn_down.weight"].shape == (64, cfg.ffn_hidden)
    assert {types[n] for n in tensors if n.endswith("norm.weight")} == {"F32"}
    assert {types[n] for n in tensors if not n.endswith("norm.weight")} == {"F16"}
    sd = model.state_dict()  # the norms are stored exactly, q/k reordered within heads
    assert np.array_equal(tensors["blk.1.ffn_norm.weight"],
                          sd["layers.1.post_attention_layernorm.weight"].numpy())
    q = sd["layers.0.self_attn.q_proj.weight"].numpy()
    assert np.allclose(tensors["blk.0.attn_q.weight"], interleave_rope_rows(q, 4), atol=1e-3)
    assert np.allclose(tensors["blk.0.attn_q.weight"][16 + 2], q[16 + 1], atol=1e-3)
    assert np.allclose(tensors["blk.0.attn_q.weight"][16 + 3], q[16 + 8 + 1], atol=1e-3)


@pytest.mark.parametrize("tie", [True, False])
def test_numpy_llama_forward_matches_our_logits(tmp_path, tokenizer_json, tie):
    model = make_model(tie)
    ids = Tokenizer.load(tokenizer_json).encode(PROBE)[:48]
    ours = torch_logits(model, ids)
    assert ours.std() > 2  # differences are measured against logits of a real spread
    diffs = {}
    for quant in QUANTS:
        out = export_gguf(model.state_dict(), model.cfg, tokenizer_json,
                          tmp_path / f"{quant}.gguf", quant)
        fields, tensors, types = read_back(out)
        assert types["blk.0.attn_q.weight"] == quant.upper()
        diffs[quant] = np.abs(llama_forward(fields, tensors, ids) - ours).max()
    print(f"tie={tie} logit std {ours.std():.2f}, max |Δ| "
          + ", ".join(f"{q} {d:.4f}" for q, d in diffs.items()))
    assert diffs["f16"] <= F16_TOL
    assert diffs["q8_0"] <= Q8_TOL
    assert (tmp_path / "q8_0.gguf").stat().st_size < 0.6 * (tmp_path / "f16.gguf").stat().st_size


def test_without_the_rope_reordering_the_logits_differ(tmp_path, tokenizer_json, monkeypatch):
    """The check above can fail: q/k rows stored in HF order give other logits in llama.cpp."""
    model = make_model()
    ids = Tokenizer.load(tokenizer_json).encode(PROBE)[:48]
    monkeypatch.setattr(gguf_export, "interleave_rope_rows", lambda w, n_heads: w)
    out = export_gguf(model.state_dict(), model.cfg, tokenizer_json, tmp_path / "x.gguf")
    fields, tensors, _ = read_back(out)
    wrong = np.abs(llama_forward(fields, tensors, ids) - torch_logits(model, ids)).max()
    print(f"max |Δ| with q/k rows in HF order: {wrong:.2f}")
    assert wrong > 2 * Q8_TOL  # measured 0.94: both tolerances would catch it


def test_q8_0_keeps_rows_that_are_not_whole_blocks_in_f16(tmp_path, tokenizer_json):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=400, context=16, d_model=48, n_layers=1, n_heads=2,
                      ffn_hidden=64)  # rows of 48 are not whole blocks of 32; rows of 64 are
    out = export_gguf(GPT(cfg).state_dict(), cfg, tokenizer_json, tmp_path / "m.gguf", "q8_0")
    _, _, types = read_back(out)
    assert types["blk.0.attn_q.weight"] == types["token_embd.weight"] == "F16"
    assert types["blk.0.ffn_down.weight"] == "Q8_0"  # (48, 64): rows of 64


def test_tokenising_from_the_file_gives_our_ids(tmp_path, tokenizer_json):
    tok = Tokenizer.load(tokenizer_json)
    model = make_model()
    out = export_gguf(model.state_dict(), model.cfg, tokenizer_json, tmp_path / "m.gguf")
    fields, _, _ = read_back(out)
    tokens, merges = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.merges"]
    pre = HFTokenizer.from_file(str(tokenizer_json)).pre_tokenizer
    for text in (PROBE, make_text(3_000, seed=9), "  a\n\n b\t\t\nc  "):
        assert gpt2_split(text) == [w for w, _ in _hf_words(pre, text)]  # the same split
        ours = tok.encode(text)
        assert bpe_encode(tokens, merges, text) == ours
    assert len(tok.encode(PROBE)) > 40


def test_chat_special_tokens_are_control_tokens_and_end_a_turn(tmp_path, tokenizer_json):
    from slavik_tui.engine.tokenizer import CHAT_TOKENS, END_OF_TURN

    hf = HFTokenizer.from_file(str(tokenizer_json))
    ids = [hf.token_to_id(t) for t in CHAT_TOKENS]  # reserved in every new tokenizer
    assert None not in ids
    model = make_model(vocab=400)
    out = export_gguf(model.state_dict(), model.cfg, tokenizer_json, tmp_path / "m.gguf",
                      chat_template=CHAT, end_of_turn=END_OF_TURN)
    fields, _, _ = read_back(out)
    assert [fields["tokenizer.ggml.tokens"][i] for i in ids] == list(CHAT_TOKENS)
    assert [fields["tokenizer.ggml.token_type"][i] for i in ids] == [gguf.TokenType.CONTROL] * 4
    assert fields["tokenizer.ggml.eot_token_id"] == hf.token_to_id(END_OF_TURN)
    assert fields["tokenizer.chat_template"] == CHAT
    chat_json = tokenizer_json
    with pytest.raises(UserError, match="no '<\\|bye\\|>' token"):
        export_gguf(model.state_dict(), model.cfg, chat_json, tmp_path / "m.gguf",
                    end_of_turn="<|bye|>")


def _hf_words(pre, text):
    chars = _byte_chars()
    back = {c: b for b, c in enumerate(chars)}
    return [(bytes(back[c] for c in w).decode("utf-8"), span)
            for w, span in pre.pre_tokenize_str(text)]


def test_bad_inputs_are_one_line_errors(tmp_path, tokenizer_json, monkeypatch):
    model = make_model()
    sd, cfg = model.state_dict(), model.cfg

    def error(out, **kw) -> str:
        with pytest.raises(UserError) as info:
            export_gguf(kw.pop("sd", sd), cfg, kw.pop("tok", tokenizer_json), out, **kw)
        assert "\n" not in str(info.value)
        return str(info.value)

    assert "choose one of: f16" in error(tmp_path / "m.gguf", quant="q4")
    assert "is a folder" in error(tmp_path)
    assert "does not exist" in error(tmp_path / "nope" / "m.gguf")
    (tmp_path / "file").write_text("x")
    assert "does not exist" in error(tmp_path / "file" / "m.gguf")
    os.symlink(tmp_path / "file", tmp_path / "link.gguf")
    assert "not a regular file" in error(tmp_path / "link.gguf")
    assert "chat template" in error(tmp_path / "m.gguf", chat_template="")
    assert "do not fit config.json" in error(
        tmp_path / "m.gguf", sd={k: v for k, v in sd.items() if "norm" not in k})
    assert "NaN" in error(tmp_path / "m.gguf", sd={**sd, "norm.weight": sd["norm.weight"] / 0})
    assert "missing" in error(tmp_path / "m.gguf", tok=tmp_path / "tokenizer.json")
    (tmp_path / "bad.json").write_text("{")
    assert "not valid JSON" in error(tmp_path / "m.gguf", tok=tmp_path / "bad.json")
    small = ModelConfig(**{**cfg.to_dict(), "vocab_size": 300})
    with pytest.raises(UserError, match="vocab_size 300"):
        export_gguf(sd, small, tokenizer_json, tmp_path / "m.gguf")

    real_open = os.open  # a folder we may not write to (root ignores chmod, so fake it)
    monkeypatch.setattr(gguf_export.os, "open", lambda *a, **k: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied")))
    assert "Permission denied" in error(tmp_path / "m.gguf")
    monkeypatch.setattr(gguf_export.os, "open", real_open)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "m.gguf").write_bytes(b"old")  # a failed export keeps the old file
    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", full)
    assert "disk is full" in error(tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---- llama.cpp itself (llama-cpp-python builds from source; skipped where it is absent) ----
def _greedy(step, prompt: list[int], n: int, margin: float) -> list[int]:
    """Greedy tokens after `prompt`, stopping early where the best two logits are closer than
    `margin` (there rounding may pick either, and both runtimes would be right)."""
    ids, out = list(prompt), []
    for _ in range(n):
        logits = step(ids)
        top2 = np.sort(logits)[-2:]
        if top2[1] - top2[0] < margin:
            break
        ids.append(int(np.argmax(logits)))
        out.append(ids[-1])
    return out


@pytest.mark.parametrize("quant", list(QUANTS))
def test_llama_cpp_tokenises_and_decodes_as_we_do(tmp_path, tokenizer_json, quant):
    llama_cpp = pytest.importorskip("llama_cpp")
    model = make_model()
    tok = Tokenizer.load(tokenizer_json)
    out = export_gguf(model.state_dict(), model.cfg, tokenizer_json, tmp_path / "m.gguf", quant)
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=48, n_batch=48, n_threads=2,
                          logits_all=True, verbose=False)
    for text in (PROBE, make_text(400, seed=5)):
        assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) == tok.encode(text)
    assert llm.detokenize(tok.encode(PROBE)).decode("utf-8") == PROBE

    prompt = tok.encode(PROBE)[:20]
    llm.reset()
    llm.eval(prompt)
    theirs = np.asarray(llm.scores[: len(prompt)], dtype=np.float64)
    diff = np.abs(theirs - torch_logits(model, prompt)).max()
    print(f"llama.cpp {quant}: max |Δ logit| {diff:.4f}")
    tol = F16_TOL if quant == "f16" else Q8_TOL
    assert diff <= tol

    def llama_step(ids):
        llm.reset()
        llm.eval(ids)
        return np.asarray(llm.scores[len(ids) - 1], dtype=np.float64)

    ours = _greedy(lambda ids: torch_logits(model, ids)[-1], prompt, 20, 2 * tol)
    print(f"greedy tokens compared: {len(ours)}")
    assert len(ours) >= 5
    assert _greedy(llama_step, prompt, len(ours), 0.0) == ours
