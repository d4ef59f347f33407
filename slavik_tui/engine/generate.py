"""Streaming text generation: sample tokens one by one and yield text as it becomes whole.

    for piece in generate(model, tokenizer, "Жили-были", max_tokens=200, seed=1):
        print(piece, end="", flush=True)

- **KV cache.** The prompt is fed once (`Decoder.prefill`), then each new token costs one
  `Decoder.step` (see engine/model.py for why that is fast on a CPU).
- **Whole characters only.** A byte-level BPE token can be half of a Cyrillic letter or a
  quarter of an emoji. Token bytes go through an incremental UTF-8 decoder, which holds back
  an incomplete character until its last byte arrives. Invalid bytes come out as U+FFFD
  where they are; a character cut off by `max_tokens` (bytes that could still have become
  one) is dropped, so the text never ends in U+FFFD.
- **Context.** A prompt longer than the model's context keeps its last `context` tokens. When
  the text being generated fills the context, the cache slides: it is rebuilt from the last
  `context // 2` tokens (one prefill) and generation goes on, so `max_tokens` may exceed the
  context; the model always sees between half a context and a whole one of the latest text.
  (Stopping at the context instead would cut every long answer short; recomputing the whole
  window for every token would cost a full forward pass per token.)
- **Stops** after `max_tokens`, or at the end-of-text token (which is not yielded).
- **Reproducible.** Sampling draws from its own `numpy` generator seeded by `seed`, never from
  torch's global RNG, so the trainer's sampled rewards do not disturb its own random state.
  Same model, prompt, settings and seed → the same text.

Sampling order (as in Hugging Face's `generate`): repetition penalty on the logits, then
temperature, then top-k, then top-p (nucleus) on what top-k kept. On a CPU the logits go to
numpy as they are (no copy): a partial sort picks the top k, then a few numpy operations on k
numbers; fewer dispatches per token than a chain of small torch calls (softmax, cumsum, mask,
multinomial, gather).

- **Decoders are borrowed.** A generation takes an idle decoder of the model (its KV cache
  and prepared weights, engine/decoder.py `borrowed`) and gives it back at the end; the
  weights are prepared again only when the model's parameters changed.
"""

from __future__ import annotations

import codecs
import contextlib
from dataclasses import dataclass
import math
import time
from collections.abc import Iterator

import numpy as np
import torch

from slavik_tui.engine.decoder import Decoder, borrowed
from slavik_tui.engine.decoder_int8 import Int8Decoder, resolve_quantize
from slavik_tui.engine.model import GPT
from slavik_tui.errors import UserError


def _check_args(max_tokens, temperature, top_k, top_p, repetition_penalty, seed, prompt) -> None:
    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    def is_num(v) -> bool:
        return (is_int(v) or isinstance(v, (float, np.floating))) and math.isfinite(v)

    if not isinstance(prompt, str):
        raise UserError(f"the prompt must be text, got {type(prompt).__name__}; pass a string")
    if not is_int(max_tokens) or max_tokens < 1:
        raise UserError(
            f"max_tokens must be a whole number of at least 1, got {max_tokens!r}; "
            "ask for 1 or more new tokens"
        )
    if not is_num(temperature) or temperature < 0:
        raise UserError(
            f"temperature must be a number ≥ 0, got {temperature!r}; use 0 for greedy "
            "(always the likeliest token) or about 0.7–1.0 for varied text"
        )
    if not is_int(top_k) or top_k < 0:
        raise UserError(
            f"top_k must be a whole number ≥ 0, got {top_k!r}; use 0 to turn it off or "
            "about 40–100 to sample among the likeliest tokens only"
        )
    if not is_num(top_p) or not 0 < top_p <= 1:
        raise UserError(
            f"top_p must be a number in (0, 1], got {top_p!r}; use 1 to turn it off or about "
            "0.9–0.95"
        )
    if not is_num(repetition_penalty) or repetition_penalty <= 0:
        raise UserError(
            f"repetition_penalty must be a number > 0, got {repetition_penalty!r}; use 1 to "
            "turn it off or about 1.1–1.3 to discourage repeats"
        )
    if seed is not None and not is_int(seed):
        raise UserError(f"seed must be a whole number or nothing, got {seed!r}")


def generate(
    model,
    tokenizer,
    prompt: str,
    max_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 0.95,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
    stats: "GenerationStats | None" = None,
    quantize: str = "auto",
) -> Iterator[str]:
    """Continue `prompt` with up to `max_tokens` sampled tokens, yielding text pieces.

    `model` is a `GPT` (any device); `tokenizer` has `encode`, `token_bytes`, `eot_id` and
    `vocab_size`. temperature 0 = greedy; top_k 0 = off; top_p 1 = off; repetition_penalty
    1 = off (> 1 makes every token already in the prompt or output less likely, as in CTRL /
    Hugging Face). The arguments are checked here, at the call (UserError), not on the first
    `next()`. An empty prompt starts from the end-of-text token, i.e. a new document.
    A `GenerationStats` passed as `stats` is filled in as the text streams (counts, timings).
    `quantize`: "auto" decodes with int8 weights where that applies (a float32 model on the
    CPU: engine/decoder_int8.py, ~2× faster per token, held-out bits/byte within 0.1%),
    "none" with the model's own weights, "int8" insists (UserError where it cannot).
    """
    started = time.perf_counter()
    _check_args(max_tokens, temperature, top_k, top_p, repetition_penalty, seed, prompt)
    sampling = Sampling.checked(model, tokenizer, max_tokens, temperature, top_k, top_p,
                                repetition_penalty, seed, quantize)
    eot = int(tokenizer.eot_id)
    ids = tokenizer.encode(prompt) if prompt else []
    ids = (ids or [eot])[-model.cfg.context:]
    if stats is not None:
        stats.started = started
    return stream_ids(model, tokenizer, ids, sampling, stops=frozenset({eot}), stats=stats)


@dataclass
class GenerationStats:
    """What one generation did, filled in by `stream_ids` (times from `time.perf_counter`):
    `started` when the call began (tokenizing and the weights' snapshot included),
    `first_token` when the first new token was sampled, `finished` when the stream ended."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    started: float | None = None
    first_token: float | None = None
    finished: float | None = None
    weights: str = ""  # "int8" when the decoder read int8 weights

    @property
    def time_to_first_token(self) -> float | None:
        if self.started is None or self.first_token is None:
            return None
        return self.first_token - self.started

    @property
    def tokens_per_second(self) -> float | None:
        """New tokens per second from the start of the call to the end (prefill included)."""
        if self.started is None or self.finished is None or self.finished <= self.started:
            return None
        return self.new_tokens / (self.finished - self.started)

    def line(self) -> str:
        ttft, rate = self.time_to_first_token, self.tokens_per_second
        return (f"prompt {self.prompt_tokens} tokens, {self.new_tokens} new tokens, "
                f"first token after {'-' if ttft is None else f'{ttft * 1000:.0f} ms'}, "
                f"{'-' if rate is None else f'{rate:,.1f}'} tok/s"
                + (f" ({self.weights} weights)" if self.weights else ""))


@dataclass(frozen=True)
class Sampling:
    """Checked sampling settings (see `generate`), shared by text continuation and chat."""

    max_tokens: int
    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    seed: int | None
    n_vocab: int  # the tokenizer's size: ids past it (the model's padding rows) are never drawn
    quantize: str = "none"  # resolved: "none" or "int8" (engine/decoder_int8.py)

    @classmethod
    def checked(cls, model, tokenizer, max_tokens, temperature, top_k, top_p,
                repetition_penalty, seed, quantize: str = "auto") -> "Sampling":
        """Validate the settings (UserError) and that the tokenizer fits the model;
        `quantize` (auto, none, int8) is resolved against the model."""
        _check_args(max_tokens, temperature, top_k, top_p, repetition_penalty, seed, "")
        n_vocab = int(tokenizer.vocab_size)
        if n_vocab > model.cfg.vocab_size:
            raise UserError(
                f"the tokenizer has {n_vocab} tokens but the model only {model.cfg.vocab_size}; "
                "the tokenizer.json does not belong to this model — restore the matching one"
            )
        return cls(int(max_tokens), float(temperature), int(top_k), float(top_p),
                   float(repetition_penalty), seed, n_vocab, resolve_quantize(model, quantize))


class _Sampler:
    """Turns next-token logits into a token id. Holds the settings and the random state."""

    def __init__(self, n_vocab, temperature, top_k, top_p, repetition_penalty, seed, device):
        self.n_vocab = n_vocab
        self.temperature, self.top_p, self.penalty = temperature, top_p, repetition_penalty
        self.top_k = top_k if 0 < top_k < n_vocab else 0
        self.rng = np.random.default_rng(seed)
        # Tokens seen so far, for the repetition penalty (a mask, so one step is one write).
        self.seen = None
        if self.penalty != 1:
            self.seen = torch.zeros(n_vocab, dtype=torch.bool, device=device)

    def mark(self, tokens: list[int]) -> None:
        if self.seen is not None:
            self.seen[tokens] = True

    def __call__(self, logits: torch.Tensor) -> int:
        """logits: (≥ n_vocab,) float32; ids the tokenizer lacks are never chosen."""
        if logits.numel() > self.n_vocab:
            logits = logits[: self.n_vocab]
        if self.seen is not None:
            # CTRL's penalty: divide positive logits, multiply negative ones (both lower them).
            penalized = torch.where(logits > 0, logits / self.penalty, logits * self.penalty)
            logits = torch.where(self.seen, penalized, logits)
        if self.temperature == 0:
            return int(logits.argmax())
        if self.top_k and logits.device.type == "cpu":
            return self._top_k_numpy(logits.numpy())
        if self.top_k:
            values, ids = torch.topk(logits, self.top_k)  # sorted, largest first
        elif self.top_p < 1:
            values, ids = torch.sort(logits, descending=True)
        else:
            values, ids = logits, None  # plain sampling over the whole vocabulary
        v = values.cpu().numpy().astype(np.float64)
        choice = self._draw(np.cumsum(np.exp((v - v.max()) / self.temperature)))
        return choice if ids is None else int(ids.cpu().numpy()[choice])

    def _top_k_numpy(self, lv: np.ndarray) -> int:
        """Top-k (then top-p) sampling of CPU logits in numpy, with as few calls as it takes:
        each costs microseconds after a decoding step has streamed the weights through the
        caches (sampling measured 71 µs per token in the loop against 25 alone)."""
        ids = np.argpartition(lv, -self.top_k)[-self.top_k:]
        v = lv[ids].astype(np.float64)
        order = np.argsort(-v, kind="stable")  # likeliest first, as top-p needs
        v, ids = v[order], ids[order]
        v -= v[0]
        v *= 1.0 / self.temperature
        return int(ids[self._draw(np.cumsum(np.exp(v, out=v), out=v))])

    def _draw(self, cum: np.ndarray) -> int:
        """An index drawn from the cumulative weights `cum` (likeliest first), after top-p."""
        total = cum[-1]
        if self.top_p < 1:
            # Keep the fewest likeliest tokens whose mass reaches top_p (at least one).
            keep = min(int(np.searchsorted(cum, self.top_p * total)) + 1, len(cum))
            total = cum[keep - 1]
            cum = cum[:keep]
        choice = int(np.searchsorted(cum, self.rng.random() * total, side="right"))
        return min(choice, len(cum) - 1)  # guards against u·total rounding up to total


def stream_ids(model, tokenizer, prompt: list[int], sampling: Sampling,
               stops: frozenset[int], stats: GenerationStats | None = None) -> Iterator[str]:
    """Sample after the token ids `prompt`, yielding text pieces (whole characters only) until
    a token in `stops` (not yielded) or `sampling.max_tokens`. Stop tokens in the prompt are
    not counted by the repetition penalty (penalising `<|end|>` would teach a chat never to
    stop). At the context limit the window slides, keeping the latest half. `stats` (a
    `GenerationStats`) counts the prompt's and the new tokens (a stop token is not counted)
    and times the first token and the end."""
    if stats is not None:
        stats.prompt_tokens = len(prompt)
        stats.weights = "int8" if sampling.quantize == "int8" else ""
        if stats.started is None:
            stats.started = time.perf_counter()
    if sampling.quantize == "int8":
        borrow = borrowed(model, Int8Decoder)
    elif isinstance(model, GPT):
        borrow = borrowed(model, Decoder)
    else:  # anything else with a decoder() (tests' fakes)
        borrow = contextlib.nullcontext(model.decoder())
    with borrow as decoder:
        yield from _stream(decoder, tokenizer, prompt, sampling, stops, stats,
                           model.cfg.context)
    if stats is not None:
        stats.finished = time.perf_counter()


def _stream(decoder, tokenizer, prompt, sampling, stops, stats, context) -> Iterator[str]:
    max_tokens = sampling.max_tokens
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # Only the computation runs under inference_mode, never across a `yield`: grad mode is
    # thread-local, and the caller's code between two pieces must run in its own mode.
    with torch.inference_mode():
        sample = _Sampler(sampling.n_vocab, sampling.temperature, sampling.top_k,
                          sampling.top_p, sampling.repetition_penalty, sampling.seed,
                          decoder.device)
        sample.mark([t for t in prompt if t not in stops])
        logits = decoder.prefill(prompt)
    history = list(prompt)
    for n in range(max_tokens):
        with torch.inference_mode():
            token = sample(logits)
            if stats is not None:
                if n == 0:
                    stats.first_token = time.perf_counter()
                if token not in stops:
                    stats.new_tokens += 1
                    stats.finished = time.perf_counter()
            if token not in stops and n < max_tokens - 1:  # logits for the next token
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
    # Bytes still held are the start of a character that max_tokens cut off (invalid bytes
    # came out as U+FFFD as soon as they were seen): drop them rather than end the text with
    # a U+FFFD, which is what the eval sample of 32 tokens used to show.
