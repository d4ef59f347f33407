"""What the Generation screen's thread workers use: the sampling fields, the loaded model, the
streaming loop, and the messages they post to the screen.

Text arrives from a thread worker in batches (~30 ms), so the UI stays responsive whatever
the speed of the model. Torch is imported here only inside functions (in the workers).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from textual.message import Message

from slavik_tui.errors import UserError
from slavik_tui.store.lock import lock_holder
from slavik_tui.ui.widgets.forms import parse_float, parse_int, parse_optional_int

BATCH_SECONDS = 0.03  # how often streamed text is handed to the UI

# id, label, default, width
PARAMS = [
    ("max-tokens", "tokens", "200", 6),
    ("temperature", "temp", "0.8", 5),
    ("top-k", "top-k", "50", 5),
    ("top-p", "top-p", "0.95", 5),
    ("seed", "seed", "", 6),
]


def parse_params(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Sampling settings from the fields → (generate() keywords, {field id: error})."""
    parsers = {
        "max-tokens": ("max_tokens", lambda t: parse_int(t, "max tokens", 1, 100_000)),
        "temperature": ("temperature", lambda t: parse_float(
            t, "temperature", 0.0, 10.0, example="0.8")),
        "top-k": ("top_k", lambda t: parse_int(t, "top-k", 0)),
        "top-p": ("top_p", lambda t: parse_float(t, "top-p", 0.0, 1.0, above_minimum=True,
                                                   example="0.95")),
        "seed": ("seed", lambda t: parse_optional_int(t, "seed")),
    }
    kwargs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field_id, (keyword, parse) in parsers.items():
        try:
            kwargs[keyword] = parse(values.get(field_id, ""))
        except UserError as exc:
            errors[field_id] = str(exc)
    return kwargs, errors


def checkpoint_stamp(model_dir: Path) -> tuple | None:
    """Changes whenever the trainer commits a new checkpoint (then the weights are reloaded)."""
    try:
        st = (Path(model_dir) / "checkpoint.json").stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def live_trainer(workspace: Any) -> int | None:
    """The pid of a trainer holding the lock of any model in the folder (None: none runs)."""
    for name in workspace.names():
        pid = lock_holder(workspace.root / name)
        if pid:
            return pid
    return None


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch on `threads` threads (None: as it is), then restore them.

    A trainer on this machine wants every core: two CPU-heavy processes on two cores stall each
    other (generating beside a trainer measured 3 tok/s with torch's threads, ~170 with one)."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- messages from the workers --------------------------------------------------------------
@dataclass
class Loaded(Message):
    """The worker has (re)loaded a model's weights."""

    name: str
    params: int
    seconds: float


@dataclass
class Pieces(Message):
    """Text generated since the last message (batched every ~30 ms, never per token)."""

    text: str
    tokens: int  # pieces so far in this answer (the generator yields ≥ 1 token per piece)
    elapsed: float  # seconds since the first token was asked for


@dataclass
class Finished(Message):
    """The answer is complete, stopped by the user, or failed with a one-line error."""

    tokens: int
    elapsed: float
    stopped: bool = False
    error: str | None = None
    threads: int | None = None  # torch threads it was limited to (None: torch's own)
    text: str = ""  # the whole answer
    saved: Path | None = None  # Chat mode: the conversation's file, when it was written
    save_error: str | None = None  # Chat mode: why it could not be written


@dataclass
class ChatHint(Message):
    """How well a model can chat, in one line (None: it was fine-tuned on dialogues)."""

    name: str
    text: str | None


# ---- the loaded model -----------------------------------------------------------------------
class ModelCache:
    """The model the screen talks to, kept while it is used; reloaded when another model is
    asked for or when its checkpoint changed on disk. Safe to call from several workers."""

    def __init__(self) -> None:
        self.loaded: tuple[str, tuple | None, Any, Any] | None = None  # name, stamp, model, tok
        self._lock = threading.Lock()

    def get(self, name: str, model_dir: Path,
            on_load: Callable[[Loaded], None]) -> tuple[Any, Any]:
        """(model, tokenizer) of `name`, loading them if needed; `on_load` hears of a load."""
        stamp = checkpoint_stamp(model_dir)
        with self._lock:
            if self.loaded and self.loaded[0] == name and self.loaded[1] == stamp:
                return self.loaded[2], self.loaded[3]
            self.loaded = None  # free the old model before loading the next
            started = time.perf_counter()
            from slavik_tui.engine.checkpoint import load_model

            model, tokenizer, cfg = load_model(model_dir, device="cpu")
            self.loaded = (name, stamp, model, tokenizer)
            on_load(Loaded(name, cfg.n_params, time.perf_counter() - started))
            return model, tokenizer


def pump(pieces: Iterable[str], cancelled: Callable[[], bool],
         post: Callable[[Message], None]) -> tuple[str, int, float, bool]:
    """Hand `pieces` to the UI in batches until they end or `cancelled()`;
    returns (whole text, pieces, seconds, stopped)."""
    count, stopped, text = 0, False, []
    start = last = time.perf_counter()
    pending: list[str] = []
    for piece in pieces:
        if cancelled():
            stopped = True
            break
        pending.append(piece)
        text.append(piece)
        count += 1
        now = time.perf_counter()
        if now - last >= BATCH_SECONDS:
            post(Pieces("".join(pending), count, now - start))
            pending.clear()
            last = now
    elapsed = time.perf_counter() - start
    if pending:
        post(Pieces("".join(pending), count, elapsed))
    return "".join(text), count, elapsed, stopped


def finished_figures(message: Finished, unanswered: bool = False) -> str:
    """The figures of an ended answer: tokens, seconds, tok/s, and why it was slow or left
    out (`unanswered`: a chat message that got no reply)."""
    rate = message.tokens / message.elapsed if message.elapsed > 0 else 0.0
    figures = f"{message.tokens} tokens · {message.elapsed:.2f} s · {rate:,.1f} tok/s"
    if message.threads is not None:  # say why it may be slower than usual
        figures += f" · {message.threads} thread: a trainer is running"
    if unanswered:
        figures += (" · no reply, so your message is left out of the conversation: "
                    "send it again")
    return figures


def failure_line(exc: BaseException) -> str:
    """What to tell the user when generation failed with an exception."""
    if isinstance(exc, UserError):
        return str(exc)
    return f"generation failed: {type(exc).__name__}: {exc} (a bug; please report it)"
