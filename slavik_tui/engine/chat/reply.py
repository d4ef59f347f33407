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

from collections.abc import Iterator

from slavik_tui.engine.chat.messages import Message
from slavik_tui.engine.chat.template import chat_ids, prompt_ids
from slavik_tui.engine.generate import Sampling, stream_ids


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
    quantize: str = "auto",
) -> Iterator[str]:
    """Stream the reply to `conversation` (which ends with the user's message).

    Sampling settings (and `quantize`) as `generate`'s. Everything is checked at the call (UserError), not
    on the first `next()`.
    """
    # the prompt is the conversation, checked by prompt_ids
    sampling = Sampling.checked(model, tokenizer, max_tokens, temperature, top_k, top_p,
                                repetition_penalty, seed, quantize)
    ids = chat_ids(tokenizer)
    context = model.cfg.context
    # room for the reply: all of it when it is short, at least half the context otherwise
    room = min(sampling.max_tokens, context // 2)
    prompt = prompt_ids(conversation, tokenizer, max_len=max(1, context - room), ids=ids)
    return stream_ids(model, tokenizer, prompt, sampling, ids.stops)
