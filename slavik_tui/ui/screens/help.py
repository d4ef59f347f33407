"""The `?` screen: every key of every screen, read from the BINDINGS themselves, so it can
never list a key that does not exist or miss one that does; then what the mouse does and what
the figures (loss, val loss, bits/byte, reward, size) mean."""

from __future__ import annotations

from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static
from slavik_tui.ui.widgets.app_footer import AppFooter

KEY_NAMES = {
    "question_mark": "?", "escape": "esc", "enter": "enter", "backspace": "backspace",
    "plus": "+", "minus": "-", "equals_sign": "=", "full_stop": ".", "comma": ",",
    "left_square_bracket": "[", "right_square_bracket": "]", "slash": "/", "space": "space",
    "less_than_sign": "<", "greater_than_sign": ">",
    "left": "←", "right": "→", "up": "↑", "down": "↓",
}


# What the mouse does (the keys come from the BINDINGS; a pointer action has no binding).
MOUSE: list[tuple[str, str]] = [
    ("wheel", "over a chart: zoom in / out around the pointer"),
    ("drag", "on a chart: pan along the x axis"),
    ("hover", "over a chart: the cursor and its readout follow the pointer"),
    ("click", "a legend entry: show / hide that series"),
    ("click", "a table row: put the cursor there; again: open it (Models: train, "
              "History: replay)"),
    ("click", "a field, picker or button: focus or press it; a footer key: run it"),
    ("wheel", "over a table, a list or the help: scroll it"),
]

# What the figures on the progress line, in the tables and on the charts mean.
FIGURES: list[tuple[str, str]] = [
    ("loss", "cross-entropy of the next token on the training batch (lower is better)"),
    ("val loss", "the same on held-out text the model never trains on: the honest one"),
    ("bits/byte", "val loss per byte of text: comparable across tokenizers and vocab sizes"),
    ("reward", "a score of what the model writes (higher is better): at each eval it "
               "continues held-out prompts and each continuation is scored against the text "
               "that really followed — by default its chrF character overlap with that text, "
               "plus how much it reads like the corpus character by character, plus how many "
               "of its word pairs the corpus has (word order), each 0–1, minus half the share "
               "of repeated word 3-grams, so −0.5 to 3 (set with train --reward, try a spec "
               "with `slavik-tui reward NAME`, or w on Models)"),
    ("size MB", "the checkpoint: weights + optimizer state (what you would copy to use or "
                "go on training the model); the history and token caches are apart"),
    ("tok/s", "training tokens per second (median over a run in the History table)"),
]


def key_label(key: str) -> str:
    """'f1' → 'F1', 'ctrl+p' → 'ctrl+p', 'question_mark' → '?'."""
    parts = key.split("+")
    last = parts[-1]
    if last in KEY_NAMES:
        last = KEY_NAMES[last]
    elif len(last) >= 2 and last[0] == "f" and last[1:].isdigit():
        last = last.upper()
    return "+".join([*parts[:-1], last])


def _own_bindings(cls: type[DOMNode]) -> list[Binding]:
    """Bindings this project declares on `cls` and its project bases (a subclass's binding
    of a key replaces its base's). Textual's own (focus moves, copy) are the same
    everywhere and would drown the list; an App keeps Textual's App bindings (ctrl+q)."""
    by_key: dict[str, list[Binding]] = {}
    for base in reversed(cls.__mro__):
        if not isinstance(base, type) or not issubclass(base, DOMNode):
            continue
        if not (base.__module__.startswith("slavik_tui") or base is App):
            continue
        by_key.update(BindingsMap(base.__dict__.get("BINDINGS", [])).key_to_bindings)
    return [binding for bindings in by_key.values() for binding in bindings]


def bindings_of(cls: type[DOMNode]) -> list[tuple[str, str]]:
    """(keys, description) of a class's bindings, one row per description (← and → both
    "Pan" make one row); bindings without a description are plumbing and left out."""
    rows: dict[str, list[str]] = {}
    for binding in _own_bindings(cls):
        if not binding.description or binding.system:
            continue
        keys = rows.setdefault(binding.description, [])
        label = key_label(binding.key)
        if label not in keys:
            keys.append(label)
    return [(" / ".join(keys), description) for description, keys in rows.items()]


def help_sections(app: App) -> list[tuple[str, list[tuple[str, str]]]]:
    """Sections (title, rows) for the app, each screen, the widgets inside them and the
    dialogs; the app names them in `help_classes()`."""
    sections = []
    for title, classes in app.help_classes():  # type: ignore[attr-defined]
        rows: list[tuple[str, str]] = []
        for cls in dict.fromkeys(classes):  # each class once, in order
            for row in bindings_of(cls):
                if row not in rows:
                    rows.append(row)
        if title == "Everywhere" and app.ENABLE_COMMAND_PALETTE:
            rows.append((key_label(app.COMMAND_PALETTE_BINDING),
                         "Command palette (every action by name)"))
        if rows:
            sections.append((title, rows))
    return sections


def own_widget_classes(screens: Iterable[Screen]) -> list[type]:
    """Classes of this project's widgets mounted in `screens` (their keys work there too)."""
    found: list[type] = []
    for screen in screens:
        for node in screen.walk_children(with_self=False):
            cls = type(node)
            if cls.__module__.startswith("slavik_tui") and cls not in found:
                found.append(cls)
    return found


class HelpScreen(ModalScreen[None]):
    """Keys of every screen; Esc, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="dialog -wide -tall"):
            yield Label("Keys", classes="dialog--title")
            yield Static(self._table(), id="help-keys")
            yield Label("Letter keys work when the cursor is not in a text field; F-keys "
                        "always do. The mouse is optional.", classes="dialog--hint")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#dialog").focus()

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column()
        sections = [*help_sections(self.app), ("Mouse (where the terminal passes it)", MOUSE),
                    ("What the figures mean", FIGURES)]
        for title, rows in sections:
            table.add_row("", Text(title, style="bold underline"))
            for keys, description in rows:
                table.add_row(keys, description)
            table.add_row("", "")
        return table
