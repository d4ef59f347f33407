"""New embedding rows for tokens added to a trained model (the chat tokens, for one made
before they were reserved).

    added = tokenizer.add_chat_tokens()                  # {"<|user|>": 731, ...}
    vocab = max(cfg.vocab_size, tokenizer.vocab_size)
    state = grow_embeddings(state, vocab, new_ids=added.values())
    cfg = dataclasses.replace(cfg, vocab_size=vocab)     # and a fresh optimizer

A new token's row starts as the mean of the trained rows plus a little noise (as John
Hewitt's 2021 note on initialising new word embeddings recommends): a random row of
the init's scale would be far from every trained one, and through the tied LM head it
would give the new token an arbitrary logit everywhere; the mean starts it at an average
logit, and the noise (a tenth of the rows' spread) keeps the new tokens apart from each other.

Rows to initialise: every row from the old vocabulary size up, plus `new_ids` — ids that had
a row already (a model with more rows than its tokenizer has tokens) but now stand for a new
token. The mean is over the rows below the first of them: the tokenizer's ids are
contiguous from 0, so those are the trained tokens, and unused padding rows (above them) do
not dilute it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

EMBED, HEAD = "embed_tokens.weight", "lm_head.weight"
NOISE = 0.1  # noise std as a fraction of the trained rows' per-dimension std


def grow_embeddings(state_dict: dict, new_vocab: int, new_ids: Iterable[int] = (),
                    seed: int = 0) -> dict:
    """A copy of `state_dict` whose embedding (and untied LM head) has `new_vocab` rows,
    the new ones initialised as the module docstring says. A tied head (absent, or the same
    tensor as the embedding) stays tied: both keys hold one tensor."""
    embed = state_dict[EMBED]
    old_vocab = embed.shape[0]
    reinit = sorted({int(i) for i in new_ids} | set(range(old_vocab, new_vocab)))
    if new_vocab < old_vocab:
        raise ValueError(f"cannot shrink the embedding from {old_vocab} to {new_vocab} rows")
    if reinit and not 1 <= reinit[0] <= reinit[-1] < new_vocab:
        # id 0 or below: no trained rows under the new ones to start them from
        raise ValueError(f"new ids {reinit[0]}..{reinit[-1]} are outside 1..{new_vocab - 1}")
    gen = torch.Generator().manual_seed(seed)
    out = dict(state_dict)
    head = state_dict.get(HEAD)
    tied = head is None or head.data_ptr() == embed.data_ptr()
    out[EMBED] = _grown(embed, new_vocab, reinit, gen)
    if head is not None:
        out[HEAD] = out[EMBED] if tied else _grown(head, new_vocab, reinit, gen)
    return out


def _grown(weight: torch.Tensor, new_vocab: int, reinit: list[int],
           gen: torch.Generator) -> torch.Tensor:
    with torch.no_grad():
        w = weight.detach().float().cpu()
        grown = torch.zeros(new_vocab, w.shape[1])
        grown[: w.shape[0]] = w
        if reinit:
            trained = w[: reinit[0]]
            noise = torch.randn(len(reinit), w.shape[1], generator=gen)
            std = trained.std(dim=0) if len(trained) > 1 else torch.zeros(w.shape[1])
            grown[reinit] = trained.mean(dim=0) + NOISE * std * noise
        return grown.to(dtype=weight.dtype, device=weight.device)
