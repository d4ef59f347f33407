"""The Generation screen's Chat mode: sending a message, a new chat, the export, the hint on
a model never taught to chat. A mixin of `GenerationScreen` (generation.py), which owns the
keys, the widgets and the streaming worker; the conversation itself is `ChatSession`'s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from textual import work
from textual.widgets import Input, Static

from slavik_tui.ui.screens.generation_work import ChatHint
from slavik_tui.ui.widgets.chat_log import ChatLog


class ChatMode:
    """Chat-mode actions; mixed into GenerationScreen (a Screen: `self` has its widgets)."""

    def send(self, text: str) -> None:
        """Chat mode: send the user's message and stream the reply."""
        params = self._ready(text, "message")
        if params is None or not self.model:
            return
        system = self.query_one("#chat-system", Input).value
        model_dir = self.app.workspace.model_dir(self.model)
        log = self.query_one(ChatLog)
        if self.chat.empty and system.strip():
            log.add("system", system.strip())
        conversation, file = self.chat.ask(self.model, model_dir, system, text)
        log.add("user", text)
        self._begin(log.add("assistant", model=self.model))

        def pieces(model, tokenizer) -> Iterator[str]:
            from slavik_tui.ui.screens.chat_session import as_messages, reply_pieces

            return reply_pieces(model, tokenizer, as_messages(conversation), **params)

        def save(reply: str) -> Path:
            return file.save([*conversation, {"role": "assistant", "content": reply}])

        self._stream(self.model, pieces, save)

    def action_retry(self) -> None:
        """ctrl+r: another reply to the last message, in place of the last one."""
        if self._generating:
            self.notify("Still answering: press Esc to stop it first", severity="warning")
            return
        if self._params() is None:
            self.notify("Fix the settings marked in red", severity="error")
            return
        message = self.chat.retry()
        if message is None:
            self.notify("No reply to ask again yet: send a message first", severity="warning")
            return
        self.query_one(ChatLog).drop(2)
        self.send(message)

    def action_new_chat(self, quiet: bool = False) -> None:
        if self._generating:
            self.notify("Still answering: press Esc to stop it first", severity="warning")
            return
        saved = self.chat.file.path if self.chat.file else None
        self.chat.clear()
        self.query_one(ChatLog).clear()
        if saved and not quiet:
            self.notify(f"new chat; the last one is saved in {saved}", timeout=6)

    def action_export_chat(self) -> None:
        from slavik_tui.ui.screens.chat_export import ChatExportScreen, default_target

        if self.chat.empty or not self.chat.model:
            self.notify("Nothing to export yet: chat first", severity="warning")
            return
        system = self.query_one("#chat-system", Input).value
        stamp = (self.chat.file.path.stem if self.chat.file and self.chat.file.path
                 else time.strftime("%Y%m%d-%H%M%S"))

        def exported(path: Path | None) -> None:
            if path:
                self.notify(f"exported the conversation to {path}", timeout=8)

        self.app.push_screen(ChatExportScreen(
            self.chat.conversation(system), default_target(self.chat.model, stamp),
            self.app.models_root), exported)

    def _ask_hint(self) -> None:
        if self.model and self.model != self._hint_for:
            self._hint_for = self.model
            self.query_one("#chat-hint", Static).remove_class("-shown").display = False
            self._chat_hint(self.model)

    @work(thread=True, exclusive=True, group="chat-hint", exit_on_error=False)
    def _chat_hint(self, name: str) -> None:
        from slavik_tui.ui.screens.chat_session import chat_hint

        try:
            _, tokenizer = self._load(name)
            self.post_message(ChatHint(name, chat_hint(
                name, self.app.workspace.model_dir(name), tokenizer)))
        except Exception:  # the reply itself will say what is wrong with the model
            self._hint_for = None
