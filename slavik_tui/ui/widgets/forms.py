"""Form pieces shared by the dialogs: a labelled field with its error line, and parsers.

A field shows its own error (the `UserError` text) right next to the input, so a user sees
which value to change and how; a parser turns the typed text into a number or says, in one
line, what is wrong with it. A form puts an error beside the field named by its `field`
(`UserError.field`), never by searching the message's text.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from slavik_tui.errors import UserError
from slavik_tui.spec.numbers import parse_number, parse_whole


class FormField(Widget):
    """`label | input | error` on one row (layout "row"), or the error under the input
    (layout "stacked", for wide inputs such as names and paths).

    The input is any focusable widget (Input, Select, ...); extra widgets (a "browse" button)
    sit after it. `set_error(text)` shows or clears the error and marks the field invalid;
    while the input has the focus the field has the class "-focused" (its label is marked).
    """

    def __init__(self, label: str, widget: Widget, *extra: Widget, layout: str = "row",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.widget = widget
        self.extra = extra
        self.layout_kind = layout
        self.error: str | None = None
        if layout == "stacked":
            self.add_class("-stacked")

    def compose(self) -> ComposeResult:
        error = Static("", classes="field--error -empty", markup=False)
        with Horizontal(classes="field--row"):
            yield Label(self.label, classes="field--label")
            yield self.widget
            yield from self.extra
            if self.layout_kind == "row":
                yield error
        if self.layout_kind != "row":
            yield error

    def set_error(self, message: str | None) -> None:
        """Show `message` next to the input (None clears it)."""
        if message == self.error:
            return
        self.error = message
        self.set_class(bool(message), "-invalid")
        self.widget.set_class(bool(message), "-invalid")
        try:
            line = self.query_one(".field--error", Static)
        except Exception:  # not composed yet: compose reads self.error on mount below
            return
        line.update(message or "")
        line.set_class(not message, "-empty")

    def on_descendant_focus(self) -> None:
        self.add_class("-focused")  # the label is marked (CSS: FormField.-focused)

    def on_descendant_blur(self) -> None:
        self.remove_class("-focused")

    def on_mount(self) -> None:
        if self.error:
            line = self.query_one(".field--error", Static)
            line.update(self.error)
            line.remove_class("-empty")


# ---- parsers: text typed into a field → value, or a UserError that says what to type ----------
# The text → number step is spec/numbers.py's (the command line's too); these add the range.
def parse_int(text: str, what: str, minimum: int = 1, maximum: int | None = None,
              field: str | None = None) -> int:
    value = parse_whole(text, what, field=field)
    if value < minimum:
        raise UserError(f"{what} must be at least {minimum}, got {value}", field=field)
    if maximum is not None and value > maximum:
        raise UserError(f"{what} must be at most {maximum}, got {value}", field=field)
    return value


def parse_optional_int(text: str, what: str, minimum: int = 0,
                       field: str | None = None) -> int | None:
    """Empty means "not set" (e.g. a random seed)."""
    if not text.strip():
        return None
    return parse_int(text, what, minimum=minimum, field=field)


def parse_float(text: str, what: str, minimum: float, maximum: float | None = None,
                above_minimum: bool = False, example: str = "",
                field: str | None = None) -> float:
    """A finite number in [minimum, maximum] (or (minimum, ...] with `above_minimum`)."""
    value = parse_number(text, what, example, field=field)
    hint = f", e.g. {example}" if example else ""
    if value < minimum or (above_minimum and value == minimum):
        sign = ">" if above_minimum else "≥"
        raise UserError(f"{what} must be {sign} {minimum:g}{hint}, got {value:g}", field=field)
    if maximum is not None and value > maximum:
        raise UserError(f"{what} must be ≤ {maximum:g}{hint}, got {value:g}", field=field)
    return value
