"""The Generation screen: talk to a trained model and watch the answer stream in.

Two modes (ctrl+t switches; the title and the footer say which):
- **Text**: the model continues a prompt; each exchange stays in the log.
- **Chat**: a conversation of turns under a system prompt (chat_session.py); each reply is
  streamed, and the conversation is saved under the model after every reply
  (store/conversations.py); ctrl+l starts a new one, ctrl+s exports it as JSONL.

The model is loaded in a thread worker (the first `import torch` happens there, not at app
start) and kept while this screen uses it (generation_work.ModelCache). Keys: Esc stops a
reply, else leaves the field (the focus goes to the log, where letters switch screens and
the arrows scroll); `p` or `/` comes back to the prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Input, Label, Select, Static
from textual.worker import get_current_worker

from slavik_tui.errors import UserError
from slavik_tui.ui.screens.chat_mode import ChatMode
from slavik_tui.ui.screens.chat_session import ChatSession
from slavik_tui.ui.screens.generation_work import (
    PARAMS, ChatHint, Finished, Loaded, ModelCache, Pieces, checkpoint_stamp, failure_line,
    finished_figures, live_trainer, parse_params, pump, torch_threads,
)
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.chat_log import ChatLog, ChatTurn
from slavik_tui.ui.widgets.exchange_log import Exchange, ExchangeLog

__all__ = ["GenerationScreen", "checkpoint_stamp", "live_trainer", "parse_params",
           "torch_threads"]

PLACEHOLDERS = {"text": "a prompt, e.g. Привет, как дела — Enter generates",
                "chat": "your message — Enter sends it"}
SAVED = " · saved"  # the status's mark of a chat reply written to the conversation's file


class GenerationScreen(ChatMode, Screen):
    """Prompt → streamed answer (Text mode), or a conversation (Chat mode)."""

    Loaded, Pieces, Finished, ChatHint = Loaded, Pieces, Finished, ChatHint

    BINDINGS = [
        Binding("escape", "stop", "Stop"),
        Binding("escape", "leave_field", "Leave field", show=False),
        Binding("ctrl+t", "mode('chat')", "Chat mode"),
        Binding("ctrl+t", "mode('text')", "Text mode"),
        Binding("ctrl+l", "clear_log", "Clear"),
        Binding("ctrl+l", "new_chat", "New chat"),
        Binding("ctrl+s", "export_chat", "Export"),
        Binding("p,slash", "focus_prompt", "Prompt", key_display="p"),
        Binding("ctrl+n", "focus_model", "Model", show=False),  # in ?, not the footer
        Binding("ctrl+r", "repeat", "Again"),
        Binding("ctrl+r", "retry", "Again"),
    ]

    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = "slavik-tui"
        self.model = model
        self.mode = "text"
        self._models = ModelCache()
        self._exchange: Any = None  # the Exchange or ChatTurn being streamed
        self._generating = False
        self._last_prompt: str | None = None
        self.chat = ChatSession()
        self._hint_for: str | None = None  # the model the chat hint was asked for
        self._told_saved: Path | None = None  # the chat file the user was last told of
        self._status_text = ""

    @property
    def _loaded(self) -> tuple | None:
        return self._models.loaded

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
            with Horizontal(id="chat-system-row", classes="-chat"):
                yield Label("system", classes="gen--label")
                yield Input(placeholder="optional: how the assistant behaves, e.g. "
                            "Ты вежливый собеседник.", id="chat-system", compact=True)
            yield Static("", id="gen-errors", markup=False)
            yield Static("", id="chat-hint", classes="-chat", markup=False)
        yield ExchangeLog(id="gen-log")
        yield ChatLog(id="chat-log", classes="-chat")
        with Horizontal(id="gen-prompt-row"):
            yield Label("›", id="gen-prompt-label")
            yield Input(placeholder=PLACEHOLDERS["text"], id="gen-prompt", compact=True)
        yield AppFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "models", self._models_changed)
        self._apply_mode()
        self.query_one("#gen-prompt", Input).focus()

    # ---- modes, focus and the footer ------------------------------------------------------
    def action_mode(self, mode: str) -> None:
        if self._generating:
            self.notify("Still answering: press Esc to stop it first", severity="warning")
            return
        self.mode = mode
        self._apply_mode()
        self.query_one("#gen-prompt", Input).focus()

    def _apply_mode(self) -> None:
        chat = self.mode == "chat"
        self.sub_title = "Generation · Chat" if chat else "Generation · Text"
        for widget in self.query(".-chat"):
            widget.display = chat
        hint = self.query_one("#chat-hint", Static)
        hint.display = chat and hint.has_class("-shown")
        self.query_one("#gen-log").display = not chat
        self.query_one("#gen-prompt", Input).placeholder = PLACEHOLDERS[self.mode]
        self.query_one("#gen-prompt-label", Label).update("you ›" if chat else "›")
        if self._status_text.endswith(SAVED):  # it was said of the other mode's reply
            self._status(self._status_text.removesuffix(SAVED))
        if chat:
            self._ask_hint()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        chat = self.mode == "chat"
        if action == "mode":
            return parameters[0] != self.mode
        if action in ("new_chat", "export_chat", "retry"):
            return chat
        if action in ("clear_log", "repeat"):
            return not chat
        if action == "stop":
            return self._generating
        if action == "leave_field":
            return isinstance(self.focused, (Input, Select))
        if action == "focus_prompt":
            return getattr(self.focused, "id", None) != "gen-prompt"
        return True

    def _output(self) -> ChatLog | ExchangeLog:
        return self.query_one(ChatLog) if self.mode == "chat" else self.query_one(ExchangeLog)

    def action_leave_field(self) -> None:
        self._output().focus()

    def action_focus_prompt(self) -> None:
        self.query_one("#gen-prompt", Input).focus()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_screen_resume(self) -> None:
        """Coming back here (g, F3, from any screen) lands in the prompt, as the first visit
        and `g` on Models do: a focus left on the log ate what the user typed next."""
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
            self._set_model(trained[0] if trained else None)
            if self.model:
                with self.prevent(Select.Changed):
                    select.value = self.model
        if not trained:
            self._status("no trained model yet: train one on the Training screen (F2)")
        elif not self._generating and self._loaded is None:
            self._status("")

    def select_model(self, name: str) -> None:
        """Called by the app (`g` on the Models screen) to pick `name`."""
        self._set_model(name)
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
        self._set_model(str(event.value))
        self.query_one("#gen-prompt", Input).focus()

    def _set_model(self, name: str | None) -> None:
        if name == self.model:
            return
        self.model = name
        if not self.is_mounted:
            return
        if not self.chat.empty and not self._generating:  # a conversation is with one model
            self.action_new_chat(quiet=True)
        if self.mode == "chat":
            self._ask_hint()

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

    # ---- asking -----------------------------------------------------------------------------
    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "chat-system":  # the system prompt is set: now the message
            self.action_focus_prompt()
            return
        text = self.query_one("#gen-prompt", Input).value
        if self.mode == "chat":
            self.send(text)
        else:
            self.generate(text)

    def action_repeat(self) -> None:
        if self._last_prompt is not None:
            self.generate(self._last_prompt)

    def _ready(self, text: str, what: str) -> dict[str, Any] | None:
        """The sampling settings when a `what` (prompt, message) can be sent now, else None
        (the user was told why)."""
        if self._generating:
            self.notify("Still answering: press Esc to stop it first", severity="warning")
        elif not text.strip():
            self.notify(f"Type a {what} first", severity="warning")
        elif not self.model:
            self.notify("No trained model to talk to: train one first (F2)",
                        severity="warning")
        else:
            params = self._params()
            if params is None:
                self.notify("Fix the settings marked in red", severity="error")
            return params
        return None

    def generate(self, prompt: str) -> None:
        params = self._ready(prompt, "prompt")
        if params is None or not self.model:
            return
        self._last_prompt = prompt
        self._begin(self.query_one(ExchangeLog).start(self.model, prompt))

        def pieces(model, tokenizer) -> Iterator[str]:
            from slavik_tui.engine.generate import generate

            return generate(model, tokenizer, prompt, **params)

        self._stream(self.model, pieces)

    def _begin(self, target: Any) -> None:
        self._generating = True
        self._exchange = target
        self.query_one("#gen-prompt", Input).value = ""
        self._status(f"generating with {self.model}… (esc stops)")
        self.refresh_bindings()

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

    # ---- the workers ----------------------------------------------------------------------
    def _load(self, name: str) -> tuple[Any, Any]:
        """The model and tokenizer of `name`, loading them if needed (in a worker thread)."""
        return self._models.get(name, self.app.workspace.model_dir(name), self.post_message)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _stream(self, name: str, pieces: Callable[[Any, Any], Iterator[str]],
                save: Callable[[str], Path] | None = None) -> None:
        worker = get_current_worker()
        count, elapsed, threads = 0, 0.0, None
        try:
            model, tokenizer = self._load(name)
            if worker.is_cancelled:
                self.post_message(Finished(0, 0.0, stopped=True))
                return
            threads = 1 if live_trainer(self.app.workspace) else None
            with torch_threads(threads):
                text, count, elapsed, stopped = pump(
                    pieces(model, tokenizer), lambda: worker.is_cancelled, self.post_message)
        except Exception as exc:  # UserError: one line; anything else: a bug, said so
            self.post_message(Finished(count, elapsed, error=failure_line(exc)))
            return
        saved = save_error = None
        if save is not None and text.strip():
            try:
                saved = save(text)
            except (UserError, OSError) as exc:
                save_error = f"the conversation was not saved: {exc}"
        self.post_message(Finished(count, elapsed, stopped=stopped, threads=threads,
                                   text=text, saved=saved, save_error=save_error))

    # ---- what the workers say -------------------------------------------------------------
    @on(ChatHint)
    def _hint(self, message: ChatHint) -> None:
        if message.name == self.model:
            hint = self.query_one("#chat-hint", Static)
            hint.update(message.text or "")
            hint.set_class(bool(message.text), "-shown")
            hint.display = self.mode == "chat" and bool(message.text)

    @on(Loaded)
    def _model_loaded(self, message: Loaded) -> None:
        loaded = (f"loaded {message.name} ({message.params:,} parameters) in "
                  f"{message.seconds:.1f} s")
        self._status(loaded + ("; generating… (esc stops)" if self._generating else ""))
        if self.mode == "chat" and message.name == self._hint_for:  # new weights (an sft
            self._hint_for = None                                  # run?): ask again
            self._ask_hint()

    @on(Pieces)
    def _pieces(self, message: Pieces) -> None:
        if self._exchange is None:
            return
        self._exchange.append(message.text)
        rate = message.tokens / message.elapsed if message.elapsed > 0 else 0.0
        self._exchange.set_stats(f"{message.tokens} tokens · {rate:,.1f} tok/s …")
        self._status(f"generating · {message.tokens} tokens · {rate:,.1f} tok/s (esc stops)")
        self._output().follow()

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self._generating = False
        self.refresh_bindings()
        target, self._exchange = self._exchange, None
        chat = isinstance(target, ChatTurn)
        figures = finished_figures(message, unanswered=chat and not self.chat.answered(
            message.text))
        if message.error:
            if target is not None:
                target.set_stats(f"✗ {message.error}")
            self.notify(message.error, severity="error", timeout=8)
            self._status("")
        else:
            if target is not None:
                target.set_stats(figures + (" · stopped" if message.stopped else ""))
                if not chat and not target.answer and not message.stopped:
                    target.set_stats(figures + " · the model ended the text at once")
            saved = SAVED if message.saved else ""
            self._status(("stopped · " if message.stopped else "done · ") + figures + saved)
            if message.saved and message.saved != self._told_saved:
                self._told_saved = message.saved
                self.notify(f"this chat is saved in {message.saved}", timeout=6)
        if message.save_error:
            self.notify(message.save_error, severity="error", timeout=8)
        self._output().follow()

    def _status(self, text: str) -> None:
        self._status_text = text
        self.query_one("#gen-status", Static).update(text)
