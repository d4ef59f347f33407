"""A run's evaluation, the same in every stage: val loss and bits/byte on held-out batches, the
reward of a few seeded samples on held-out prompts, and one sample to show. Each sample draws
from its own seeded generator, so an eval never disturbs the run's random state (exact resume).
"""

from __future__ import annotations

import math

import torch

from slavik_tui.engine import reward as rewards


@torch.no_grad()
def evaluate(loop, step: int) -> dict:
    """`loop` is the run's TrainLoop (model, data, tokenizer, plan, device, reward)."""
    from slavik_tui.engine.generate import generate

    model, plan = loop.model, loop.plan
    model.eval()
    losses = []
    for x, y in loop.data.val_batches(plan["eval_batches"], plan["batch_size"]):
        with loop._autocast():
            _, loss = model(x.to(loop.device), y.to(loop.device))
        losses.append(float(loss))
    val_loss = sum(losses) / len(losses)
    val_bpb = val_loss / math.log(2) / loop.data.val_bytes_per_token
    texts = []
    for i, prompt_ids in enumerate(loop.data.reward_prompts(4, 16)):
        prompt = loop.tokenizer.decode(prompt_ids)
        pieces = generate(model, loop.tokenizer, prompt, max_tokens=32, temperature=0.8,
                          top_k=50, top_p=0.95, seed=plan["seed"] * 1000 + step * 4 + i)
        texts.append("".join(pieces))
    reward = rewards.score(loop.reward_fn, texts, loop.reward_ctx)
    model.train()
    return {"val_loss": val_loss, "val_bpb": val_bpb, "reward": reward, "sample": texts[0]}
