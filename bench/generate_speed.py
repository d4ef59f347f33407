"""How fast does `generate()` write? Tokens per second at batch 1, against two references.

    python bench/generate_speed.py [--repeats 7] [--tokens 256] [--threads N] [--quick]

The seed config (6 layers, 8 heads, d_model 256, context 256, vocab 8000) with random
weights, and a byte-level BPE tokenizer trained on real text from ../shared/data when it is
there (else on generated text). Each variant writes `--tokens` new tokens after a one-token
prompt (so the cache just fills the context: no slide), sampling with temperature 0.8,
top-k 50, top-p 0.95. Timed end to end (weights snapshot, prefill, sampling, UTF-8 decoding),
all variants interleaved round by round so that load from other processes hits them alike;
the median of the rounds is reported.

    generate   engine/generate.py (fused KV-cache decoder + top-k-then-numpy sampling), as
               `slavik-tui generate` runs it: --quantize auto, int8 weights on a CPU
               (engine/decoder_int8.py; its accuracy: bench/int8_accuracy.py)
    gen-fp32   the same with --quantize none: the float32 weights
    kv-plain   a straightforward KV cache: the model's own modules, one token at a time,
               a static cache written by slicing, sampling with torch ops
    nanogpt    nanoGPT's own model.generate on nanoGPT's model at the same size (no cache, the
               whole cropped sequence re-run per token; bench/nanogpt_ref.py)

A random model could sample end-of-text at any step and stop early; the tokenizer is
wrapped so that no id counts as end-of-text, and every run produces exactly --tokens tokens.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from slavik_tui.spec.config import ModelConfig  # noqa: E402
from slavik_tui.engine.decoder_int8 import resolve_quantize  # noqa: E402
from slavik_tui.engine.generate import generate  # noqa: E402
from slavik_tui.engine.model import GPT, apply_rope  # noqa: E402
from slavik_tui.engine.tokenizer import Tokenizer  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from nanogpt_ref import RefGPT, cpu_flags  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLING = dict(temperature=0.8, top_k=50, top_p=0.95)


# ---- setup --------------------------------------------------------------------------------
def training_text() -> tuple[str, str]:
    for name in ("anna_karenina.txt", "tinyshakespeare.txt"):
        path = SHARED_DATA / name
        if path.is_file():
            return path.read_text(encoding="utf-8")[:1_000_000], f"{path} (first 1 MB)"
    rng = random.Random(0)
    syllables = ["ка", "ло", "ми", "ра", "ту", "ne", "so", "ri", "ta", "ko", "мо", "бе"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(3000)]
    lines = (" ".join(rng.choices(words, k=rng.randint(5, 15))) + "." for _ in range(40_000))
    return "\n".join(lines), f"generated text ({SHARED_DATA} is absent)"


class NoStopTokenizer:
    """The real tokenizer, except that no id means end-of-text (see the module docstring);
    counts the tokens it is asked to spell."""

    eot_id = -1

    def __init__(self, tok: Tokenizer) -> None:
        self.tok, self.count = tok, 0
        self.vocab_size, self.encode = tok.vocab_size, tok.encode

    def token_bytes(self, token: int) -> bytes:
        self.count += 1
        return self.tok.token_bytes(token)


# ---- reference samplers -------------------------------------------------------------------
def torch_sample(logits: torch.Tensor, gen: torch.Generator, temperature: float, top_k: int,
                 top_p: float) -> torch.Tensor:
    """Top-k + top-p sampling as most reference code writes it: a chain of torch ops."""
    values, ids = torch.topk(logits, top_k)
    probs = torch.softmax(values / temperature, dim=-1)
    cum = probs.cumsum(-1)
    probs = probs.masked_fill((cum - probs) >= top_p, 0.0)
    return ids.gather(-1, torch.multinomial(probs, 1, generator=gen))


@torch.inference_mode()
def kv_plain(model: GPT, tokenizer, prompt: str, max_tokens: int, seed: int) -> int:
    """A plain KV cache over the model's own modules (what the first version did)."""
    cfg, gen = model.cfg, torch.Generator().manual_seed(seed)
    H, hd = cfg.n_heads, cfg.head_dim
    caches = [(torch.zeros(1, H, cfg.context, hd), torch.zeros(1, H, cfg.context, hd))
              for _ in model.layers]
    ids = torch.tensor([tokenizer.encode(prompt)])
    n_new, pos = 0, 0
    while True:
        T = ids.shape[1]
        x = model.embed_tokens(ids)
        cos, sin = model.rope_cos[pos:pos + T], model.rope_sin[pos:pos + T]
        for block, (kc, vc) in zip(model.layers, caches):
            att = block.self_attn
            h = block.input_layernorm(x)
            q = att.q_proj(h).view(1, T, H, hd).transpose(1, 2)
            k = att.k_proj(h).view(1, T, H, hd).transpose(1, 2)
            v = att.v_proj(h).view(1, T, H, hd).transpose(1, 2)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            kc[:, :, pos:pos + T], vc[:, :, pos:pos + T] = k, v
            y = F.scaled_dot_product_attention(
                q, kc[:, :, :pos + T], vc[:, :, :pos + T], is_causal=T > 1)
            x = x + att.o_proj(y.transpose(1, 2).reshape(1, T, -1))
            x = x + block.mlp(block.post_attention_layernorm(x))
        logits = model.lm_head(model.norm(x[:, -1]))
        pos += T
        ids = torch_sample(logits, gen, **SAMPLING)
        tokenizer.token_bytes(int(ids))
        n_new += 1
        if n_new == max_tokens:
            return n_new


def naive(model, tokenizer, prompt: str, max_tokens: int, seed: int) -> int:
    """nanoGPT's own `model.generate` (bench/nanogpt_ref.py: its model, no KV cache, the whole
    cropped sequence re-run per token), temperature 0.8 and top-k 50 as ours."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.tensor([tokenizer.encode(prompt)])
    out = model.generate(idx, max_tokens, temperature=SAMPLING["temperature"],
                         top_k=SAMPLING["top_k"], generator=gen)
    for t in out[0, idx.shape[1]:].tolist():
        tokenizer.token_bytes(t)
    return out.shape[1] - idx.shape[1]


def ours(model: GPT, tokenizer: NoStopTokenizer, prompt: str, max_tokens: int, seed: int,
         quantize: str = "auto") -> int:
    start = tokenizer.count
    for _ in generate(model, tokenizer, prompt, max_tokens=max_tokens, seed=seed,
                      quantize=quantize, **SAMPLING):
        pass
    return tokenizer.count - start


def ours_float32(model, tokenizer, prompt, max_tokens, seed) -> int:
    return ours(model, tokenizer, prompt, max_tokens, seed, quantize="none")


# ---- main ---------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="rounds (median reported)")
    ap.add_argument("--tokens", type=int, default=256, help="new tokens per run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--naive-repeats", type=int, default=3, help="rounds for the slow nanogpt run")
    ap.add_argument("--quick", action="store_true", help="3 rounds (nanogpt: 1)")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.naive_repeats = 3, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    print(cpu_flags())
    text, source = training_text()
    t0 = time.perf_counter()
    tok = Tokenizer.train([text], 8000)
    took = time.perf_counter() - t0
    print(f"tokenizer: vocab {tok.vocab_size}, trained in {took:.1f} s on {source}")
    cfg = ModelConfig()  # the seed config
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    torch.manual_seed(0)
    nano = RefGPT(cfg.vocab_size, cfg.context, cfg.d_model, cfg.n_layers, cfg.n_heads).eval()
    tokenizer = NoStopTokenizer(tok)
    prompt = "Все"
    assert len(tok.encode(prompt)) == 1, "the prompt should be one token"
    print(f"model: {cfg.n_layers} layers, {cfg.n_heads} heads, d_model {cfg.d_model}, context "
          f"{cfg.context}, vocab {cfg.vocab_size}, {cfg.n_params:,} params; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; {args.tokens} new tokens, "
          f"batch 1, {args.repeats} rounds")

    weights = resolve_quantize(model, "auto")
    print(f"generate decodes with {'int8' if weights == 'int8' else 'float32'} weights "
          "(--quantize auto); gen-fp32 is --quantize none")
    variants = {"generate": (ours, model), "gen-fp32": (ours_float32, model),
                "kv-plain": (kv_plain, model), "nanogpt": (naive, nano)}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for fn, m in variants.values():  # warm-up (first-call allocations, lazy views)
        fn(m, tokenizer, prompt, 8, seed=0)
    for r in range(args.repeats):
        for name, (fn, m) in variants.items():
            if name == "nanogpt" and r >= args.naive_repeats:
                continue
            t0 = time.perf_counter()
            n = fn(m, tokenizer, prompt, args.tokens, seed=r)
            rates[name].append(n / (time.perf_counter() - t0))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min, this run included): {load:.2f} on {os.cpu_count()} CPUs; "
          "other processes slow every variant alike, so compare the ratios")
    base = statistics.median(rates["generate"])
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:9s} median {med:7.1f} tok/s  (min {min(values):6.1f}, max "
              f"{max(values):6.1f}, n={len(values)})  generate is {base / med:5.2f}x this")


if __name__ == "__main__":
    main()
