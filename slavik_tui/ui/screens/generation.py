"""The Generation screen: talk to a trained model and watch the answer stream in.

The model is loaded in a thread worker (the first `import torch` happens there, not at app
start) and kept while this screen uses it; it is reloaded when another model is picked or
when its checkpoint changed on disk. Text arrives from a thread worker in batches (~30 ms),
so the UI stays responsive whatever the speed of the model.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input, Label, Select, Static
from textual.worker import get_current_worker

from slavik_tui.errors import UserError
from slavik_tui.store.lock import lock_holder
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.exchange_log import Exchange, ExchangeLog
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


class GenerationScreen(Screen):
    """Prompt → streamed answer, with sampling settings and tokens/s."""

    # ---- messages from the generation worker ----------------------------------------------
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

    BINDINGS = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+l", "clear_log", "Clear log"),
        Binding("ctrl+n", "focus_model", "Pick model"),
        Binding("ctrl+r", "repeat", "Again"),
    ]

    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = "slavik-tui"
        self.model = model
        self._loaded: tuple[str, tuple | None, Any, Any] | None = None  # name, stamp, model, tok
        self._load_lock = threading.Lock()
        self._exchange: Exchange | None = None
        self._generating = False
        self._last_prompt: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="gen-controls"):
            with Horizontal(id="gen-model-row"):
                yield Label("model", classes="gen--label")
                yield Select([], id="gen-model", prompt="no trained model", compact=True,
                             allow_blank=True)
                yield Static("", id="gen-status", markup=False)
            with Horizontal(id="gen-params"):
                for field_id, label, default, width in PARAMS:
                    yield Label(label, classes="gen--label")
                    inp = Input(default, id=field_id, compact=True, classes="gen--param")
                    inp.styles.width = width + 2
                    yield inp
            yield Static("", id="gen-errors", markup=False)
        yield ExchangeLog(id="gen-log")
        with Horizontal(id="gen-prompt-row"):
            yield Label("›", id="gen-prompt-label")
            yield Input(placeholder="a prompt, e.g. Привет, как дела — Enter generates",
                        id="gen-prompt", compact=True)
        yield AppFooter()

    def on_mount(self) -> None:
        self.sub_title = "Generation"
        self.watch(self.app, "models", self._models_changed)
        self.query_one("#gen-prompt", Input).focus()

    # ---- the model picker -----------------------------------------------------------------
    def _models_changed(self, models: list[Any]) -> None:
        trained = [m.name for m in models if m.trained]
        select = self.query_one("#gen-model", Select)
        options = [(name, name) for name in trained]
        if [o[1] for o in options] != getattr(self, "_options", None):
            self._options = [o[1] for o in options]
            current = self.model
            with self.prevent(Select.Changed):
                select.set_options(options)
                if current in trained:
                    select.value = current
        if self.model not in trained:
            self.model = trained[0] if trained else None
            if self.model:
                with self.prevent(Select.Changed):
                    select.value = self.model
        if not trained:
            self._status("no trained model yet: train one on the Training screen (F2)")
        elif not self._generating and self._loaded is None:
            self._status("")

    def select_model(self, name: str) -> None:
        """Called by the app (`g` on the Models screen) to pick `name`."""
        self.model = name
        if not self.is_mounted:
            return  # on_mount picks self.model
        select = self.query_one("#gen-model", Select)
        if name in (getattr(self, "_options", None) or []):
            with self.prevent(Select.Changed):
                select.value = name
        self.query_one("#gen-prompt", Input).focus()

    @on(Select.Changed, "#gen-model")
    def _model_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        self.model = str(event.value)
        self.query_one("#gen-prompt", Input).focus()

    def action_focus_model(self) -> None:
        self.query_one("#gen-model", Select).focus()

    # ---- settings -------------------------------------------------------------------------
    def _params(self) -> dict[str, Any] | None:
        values = {fid: self.query_one(f"#{fid}", Input).value for fid, *_ in PARAMS}
        kwargs, errors = parse_params(values)
        for field_id, *_ in PARAMS:
            self.query_one(f"#{field_id}", Input).set_class(field_id in errors, "-invalid")
        self.query_one("#gen-errors", Static).update(
            "  ".join(f"✗ {msg}" for msg in errors.values()))
        self.query_one("#gen-errors").set_class(bool(errors), "-shown")
        return None if errors else kwargs

    @on(Input.Changed, ".gen--param")
    def _param_changed(self) -> None:
        self._params()

    # ---- generating ---------------------------------------------------------------------
    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.generate(self.query_one("#gen-prompt", Input).value)

    def action_repeat(self) -> None:
        if self._last_prompt is not None:
            self.generate(self._last_prompt)

    def generate(self, prompt: str) -> None:
        if self._generating:
            self.notify("Still generating: press Esc to stop it first", severity="warning")
            return
        if not prompt.strip():
            self.notify("Type a prompt first", severity="warning")
            return
        if not self.model:
            self.notify("No trained model to talk to: train one first (F2)",
                        severity="warning")
            return
        params = self._params()
        if params is None:
            self.notify("Fix the settings marked in red", severity="error")
            return
        self._last_prompt = prompt
        self._generating = True
        self._exchange = self.query_one(ExchangeLog).start(self.model, prompt)
        self.query_one("#gen-prompt", Input).value = ""
        self._status(f"generating with {self.model}… (esc stops)")
        self._generate(self.model, prompt, params)

    def action_stop(self) -> None:
        if not self._generating:
            return
        for worker in self.workers:
            if worker.group == "generate":
                worker.cancel()
        self._status("stopping…")

    def action_clear_log(self) -> None:
        log = self.query_one(ExchangeLog)
        for exchange in log.query(Exchange):
            if exchange is not self._exchange or not self._generating:
                exchange.remove()

    def _load(self, name: str) -> tuple[Any, Any]:
        """The model and tokenizer of `name`, loading them if needed (in a worker thread)."""
        model_dir = self.app.workspace.model_dir(name)
        stamp = checkpoint_stamp(model_dir)
        with self._load_lock:
            if self._loaded and self._loaded[0] == name and self._loaded[1] == stamp:
                return self._loaded[2], self._loaded[3]
            self._loaded = None  # free the old model before loading the next
            started = time.perf_counter()
            from slavik_tui.engine.checkpoint import load_model

            model, tokenizer, cfg = load_model(model_dir, device="cpu")
            self._loaded = (name, stamp, model, tokenizer)
            self.post_message(self.Loaded(name, cfg.n_params, time.perf_counter() - started))
            return model, tokenizer

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(self, name: str, prompt: str, params: dict[str, Any]) -> None:
        worker = get_current_worker()
        count, elapsed, stopped, threads = 0, 0.0, False, None
        try:
            model, tokenizer = self._load(name)
            if worker.is_cancelled:
                self.post_message(self.Finished(0, 0.0, stopped=True))
                return
            from slavik_tui.engine.generate import generate

            threads = 1 if live_trainer(self.app.workspace) else None
            with torch_threads(threads):
                start = last = time.perf_counter()
                pending: list[str] = []
                for piece in generate(model, tokenizer, prompt, **params):
                    if worker.is_cancelled:
                        stopped = True
                        break
                    pending.append(piece)
                    count += 1
                    now = time.perf_counter()
                    if now - last >= BATCH_SECONDS:
                        self.post_message(self.Pieces("".join(pending), count, now - start))
                        pending.clear()
                        last = now
                elapsed = time.perf_counter() - start
            if pending:
                self.post_message(self.Pieces("".join(pending), count, elapsed))
            self.post_message(self.Finished(count, elapsed, stopped=stopped, threads=threads))
        except UserError as exc:
            self.post_message(self.Finished(count, elapsed, error=str(exc)))
        except Exception as exc:  # a bug: say so, keep the app alive
            self.post_message(self.Finished(
                count, elapsed, error=f"generation failed: {type(exc).__name__}: {exc} "
                                      "(a bug; please report it)"))

    @on(Loaded)
    def _model_loaded(self, message: Loaded) -> None:
        self._status(f"loaded {message.name} ({message.params:,} parameters) in "
                     f"{message.seconds:.1f} s; generating… (esc stops)")

    @on(Pieces)
    def _pieces(self, message: Pieces) -> None:
        if self._exchange is None:
            return
        self._exchange.append(message.text)
        rate = message.tokens / message.elapsed if message.elapsed > 0 else 0.0
        self._exchange.set_stats(f"{message.tokens} tokens · {rate:,.1f} tok/s …")
        self._status(f"generating · {message.tokens} tokens · {rate:,.1f} tok/s (esc stops)")
        self.query_one(ExchangeLog).follow()

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self._generating = False
        exchange, self._exchange = self._exchange, None
        rate = message.tokens / message.elapsed if message.elapsed > 0 else 0.0
        figures = f"{message.tokens} tokens · {message.elapsed:.2f} s · {rate:,.1f} tok/s"
        if message.threads is not None:  # say why it may be slower than usual
            figures += f" · {message.threads} thread: a trainer is running"
        if message.error:
            if exchange is not None:
                exchange.set_stats(f"✗ {message.error}")
            self.notify(message.error, severity="error", timeout=8)
            self._status("")
        else:
            if exchange is not None:
                exchange.set_stats(figures + (" · stopped" if message.stopped else ""))
                if not exchange.answer and not message.stopped:
                    exchange.set_stats(figures + " · the model ended the text at once")
            self._status(("stopped · " if message.stopped else "done · ") + figures)
        self.query_one(ExchangeLog).follow()

    def _status(self, text: str) -> None:
        self.query_one("#gen-status", Static).update(text)
