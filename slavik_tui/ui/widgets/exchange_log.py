"""The Generation screen's scrolling log: each exchange is a prompt, the streamed answer and
a line of figures (tokens, seconds, tokens/s). Model text is never read as markup."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static


class Exchange(Vertical):
    """One prompt and its answer; the answer grows as pieces arrive."""

    def __init__(self, model: str, prompt: str) -> None:
        super().__init__()
        self.model = model
        self.prompt = prompt
        self.answer = ""

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(f"› {self.prompt}", (f"   [{self.model}]", "dim")),
                     classes="exchange--prompt")
        yield Static("", classes="exchange--answer", markup=False)
        yield Static("…", classes="exchange--stats", markup=False)

    def append(self, text: str) -> None:
        self.answer += text
        self.query_one(".exchange--answer", Static).update(self.answer)

    def set_stats(self, line: str) -> None:
        self.query_one(".exchange--stats", Static).update(line)


class ExchangeLog(VerticalScroll):
    """The exchanges of this session, newest at the bottom; follows the newest while you
    have not scrolled up."""

    def compose(self) -> ComposeResult:
        yield Static("Type a prompt below and press Enter; the model continues your text.\n"
                     "Esc stops it. Earlier prompts and answers stay here.",
                     classes="log--empty", markup=False)

    def start(self, model: str, prompt: str) -> Exchange:
        for hint in self.query(".log--empty"):
            hint.remove()
        exchange = Exchange(model, prompt)
        self.mount(exchange)
        self.scroll_end(animate=False)
        return exchange

    def follow(self) -> None:
        """Keep the newest text in view, unless the user scrolled up to read."""
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False)
