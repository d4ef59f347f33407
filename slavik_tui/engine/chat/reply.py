"""The assistant's next reply, streamed as text pieces.

    conversation = [Message("system", "Ты вежливый собеседник."), Message("user", "Привет!")]
    reply = "".join(chat_reply(model, tokenizer, conversation, temperature=0.7, seed=1))
    conversation.append(Message("assistant", reply))

The machinery is engine/generate.py's (its argument checks, its sampler, the KV-cached
decoder, whole characters only, the sliding window); what differs is where a reply starts
and ends:
- It starts from `prompt_ids(conversation)`: the rendered conversation and `<|assistant|>`.
  The prompt is fitted to the context with room for the reply (the oldest exchanges go
  first; template.py), so a long chat keeps going.
- It stops at `<|end|>`, at `<|endoftext|>`, or at any role token (a model that starts
  another turn has finished this one); none of them is yielded.
- The repetition penalty counts only text tokens: `<|end|>` is in every turn of the prompt,
  and penalising it would teach the sampler never to stop.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator

import torch

from slavik_tui.engine.chat.messages import Message
from slavik_tui.engine.chat.template import chat_ids, prompt_ids
from slavik_tui.engine.generate import _check_args, _Sampler
from slavik_tui.errors import UserError


def chat_reply(
    model,
    tokenizer,
    conversation: list[Message],
    max_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 0.95,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
) -> Iterator[str]:
    """Stream the reply to `conversation` (which ends with the user's message).

    Sampling settings as `generate`'s. Everything is checked at the call (UserError), not
    on the first `next()`.
    """
    # the prompt is the conversation, checked by prompt_ids; "" stands in for generate's
    _check_args(max_tokens, temperature, top_k, top_p, repetition_penalty, seed, "")
    n_vocab = int(tokenizer.vocab_size)
    if n_vocab > model.cfg.vocab_size:
        raise UserError(
            f"the tokenizer has {n_vocab} tokens but the model only {model.cfg.vocab_size}; "
            "the tokenizer.json does not belong to this model — restore the matching one"
        )
    ids = chat_ids(tokenizer)
    context = model.cfg.context
    # room for the reply: all of it when it is short, at least half the context otherwise
    room = min(int(max_tokens), context // 2)
    prompt = prompt_ids(conversation, tokenizer, max_len=max(1, context - room), ids=ids)
    sampler = (n_vocab, float(temperature), int(top_k), float(top_p),
               float(repetition_penalty), seed)
    return _reply(model, tokenizer, prompt, int(max_tokens), sampler, ids.stops)


def _reply(model, tokenizer, prompt: list[int], max_tokens: int, sampler_args,
           stops: frozenset[int]) -> Iterator[str]:
    context = model.cfg.context
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # as in generate: inference mode only around the computation, never across a yield
    with torch.inference_mode():
        decoder = model.decoder()
        sample = _Sampler(*sampler_args, decoder.device)
        sample.mark([t for t in prompt if t not in stops])
        logits = decoder.prefill(prompt)
    history = list(prompt)
    for n in range(max_tokens):
        with torch.inference_mode():
            token = sample(logits)
            if token not in stops and n < max_tokens - 1:
                history.append(token)
                sample.mark([token])
                if decoder.pos < decoder.max_len:
                    logits = decoder.step(token)
                else:  # the context is full: slide, keeping the latest half
                    history = history[-max(1, context // 2):]
                    decoder.reset()
                    logits = decoder.prefill(history)
        if token in stops:
            break
        piece = utf8.decode(tokenizer.token_bytes(token))
        if piece:
            yield piece
    tail = utf8.decode(b"", final=True)
    if tail:
        yield tail
