"""What does int8 decoding cost in accuracy? Held-out bits per byte, float32 vs int8 decoder.

    python bench/int8_accuracy.py MODEL_DIR [--windows 8] [--greedy 64]

For a trained model folder: `--windows` held-out validation windows of the model's context
are fed token by token through both decoders (engine/decoder.py and engine/decoder_int8.py),
teacher-forced, and the mean next-token cross-entropy is turned into bits per byte with the
model's own bytes-per-token of the validation split (as the trainer's evals do). Also: how
often the two decoders' likeliest next token agree, the largest logit difference, and how
many tokens of a greedy continuation of each window's first 16 tokens match before the two
decoders part (`--greedy` tokens at most). Accuracy only: no timing (see generate_speed.py).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from slavik_tui.engine.checkpoint import load_model  # noqa: E402
from slavik_tui.engine.data import TokenData  # noqa: E402
from slavik_tui.engine.decoder_int8 import Int8Decoder  # noqa: E402


def teacher_forced(dec, ids: list[int]) -> tuple[list[torch.Tensor], float]:
    """Logits after each prefix and the summed cross-entropy (nats) of ids[1:]."""
    dec.reset()
    logits, nll = [], 0.0
    out = dec.prefill(ids[:1])
    for t in ids[1:]:
        logits.append(out)
        nll += float(F.cross_entropy(out[None], torch.tensor([t])))
        out = dec.step(t)
    return logits, nll


def greedy_match(d32, d8, prompt: list[int], n: int) -> int:
    """Tokens of greedy continuation on which both decoders agree before they part."""
    d32.reset(), d8.reset()
    a, b = d32.prefill(prompt), d8.prefill(prompt)
    for i in range(n):
        ta, tb = int(a.argmax()), int(b.argmax())
        if ta != tb:
            return i
        if d32.pos >= d32.max_len:
            return i + 1
        a, b = d32.step(ta), d8.step(tb)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--greedy", type=int, default=64)
    args = ap.parse_args()
    model, _, cfg = load_model(args.model_dir)
    data = TokenData(args.model_dir, context=model.cfg.context)
    bpt = data.val_bytes_per_token
    d32, d8 = model.decoder(), Int8Decoder(model)
    tokens = nll32 = nll8 = 0.0
    agree = total = 0
    worst = 0.0
    matches = []
    for x, _ in data.val_batches(args.windows, 1):
        ids = x[0].tolist()
        l32, n32 = teacher_forced(d32, ids)
        l8, n8 = teacher_forced(d8, ids)
        nll32, nll8, tokens = nll32 + n32, nll8 + n8, tokens + len(ids) - 1
        for a, b in zip(l32, l8):
            agree += int(a.argmax() == b.argmax())
            total += 1
            worst = max(worst, float((a - b).abs().max()))
        matches.append(greedy_match(d32, d8, ids[:16], args.greedy))
    bits = lambda nll: nll / tokens / math.log(2) / bpt  # noqa: E731
    b32, b8 = bits(nll32), bits(nll8)
    print(f"{args.model_dir.name}: d_model {cfg.d_model}, {cfg.n_layers} layers, vocab "
          f"{cfg.vocab_size}; {int(tokens)} held-out tokens in {args.windows} windows")
    print(f"bits/byte  float32 {b32:.4f}   int8 {b8:.4f}   ({(b8 / b32 - 1) * 100:+.2f}%)")
    print(f"same likeliest next token {agree}/{total} ({agree / total:.1%}); "
          f"largest logit difference {worst:.3f}")
    print(f"greedy continuations agree for {sorted(matches)} tokens (of {args.greedy})")


if __name__ == "__main__":
    main()
