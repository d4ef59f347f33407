"""The Chat mode's conversation view: the user's and the assistant's turns, each under a label
saying who speaks, the assistant's reply growing as it streams, a line of figures under it.
Text from the user or the model is never read as markup."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

EMPTY_HINT = ("Chat: type a message below and press Enter; the model answers in turn and "
              "remembers the conversation.\nEsc stops a reply · ctrl+l starts a new chat · "
              "ctrl+s exports it as JSONL. Each chat is saved under the model (chats/).")


class ChatTurn(Vertical):
    """One message: a role label, then the text. Assistant turns grow (`append`) and carry a
    line of figures (`set_stats`)."""

    def __init__(self, role: str, text: str = "", model: str | None = None) -> None:
        super().__init__(classes=f"-{role}")
        self.role = role
        self.model = model
        self.answer = text

    def compose(self) -> ComposeResult:
        if self.role == "user":
            label = Text("you", "bold")
        elif self.role == "system":
            label = Text("system prompt", "bold")
        else:
            label = Text.assemble(("assistant", "bold"), (f"  [{self.model}]", "dim"))
        yield Static(label, classes="turn--role")
        yield Static(self.answer, classes="turn--text", markup=False)
        if self.role == "assistant":
            yield Static("…", classes="turn--stats", markup=False)

    def append(self, text: str) -> None:
        self.answer += text
        self.query_one(".turn--text", Static).update(self.answer)

    def set_stats(self, line: str) -> None:
        for stats in self.query(".turn--stats"):
            stats.update(line)


class ChatLog(VerticalScroll):
    """The turns of the current conversation, newest at the bottom; follows the newest while
    you have not scrolled up."""

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_HINT, classes="log--empty", markup=False)

    @property
    def turns(self) -> list[ChatTurn]:
        return list(self.query(ChatTurn))

    def add(self, role: str, text: str = "", model: str | None = None) -> ChatTurn:
        for hint in self.query(".log--empty"):
            hint.remove()
        turn = ChatTurn(role, text, model)
        self.mount(turn)
        self.scroll_end(animate=False)
        return turn

    def drop(self, count: int) -> None:
        """Remove the last `count` turns (a reply asked for again, and its message)."""
        for turn in self.turns[-count:]:
            turn.remove()

    def clear(self) -> None:
        """Empty the view (a new conversation starts)."""
        self.remove_children()
        self.mount(Static(EMPTY_HINT, classes="log--empty", markup=False))

    def follow(self) -> None:
        """Keep the newest text in view, unless the user scrolled up to read."""
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False)
