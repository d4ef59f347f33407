"""An Input for file paths that completes them like a shell: Tab accepts the suggestion.

Several paths go in one field, separated by spaces as in a shell (`war.txt "my notes.txt"`);
a space inside a name is quoted or escaped. `split_paths` reads the field back.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

from slavik_tui.errors import UserError

_UNESCAPE = re.compile(r"\\(.)")


def _last_token(value: str) -> tuple[int, str | None]:
    """Where the last shell word starts in `value`, and the quote it is open in (if any)."""
    start, quote, escaped = 0, None, False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif quote:
            if ch == quote:
                quote = None
        elif ch == "\\":
            escaped = True
        elif ch in "'\"":
            quote = ch
        elif ch == " ":
            start = i + 1
    return start, quote


def complete_path(value: str, cwd: Path | None = None) -> str | None:
    """`value` with its last path completed as far as it is unambiguous, or None."""
    start, quote = _last_token(value)
    token = value[start:]
    if quote:
        at = token.rindex(quote)
        raw = _UNESCAPE.sub(r"\1", token[:at]) + token[at + 1:]
    elif token[:1] in "'\"" and len(token) > 1:
        return None  # a closed quote: the path is finished
    else:
        raw = _UNESCAPE.sub(r"\1", token)
    expanded = os.path.expanduser(raw)
    folder, base = os.path.split(expanded)
    where = Path(folder) if folder else (cwd or Path.cwd())
    if folder and not where.is_absolute() and cwd is not None:
        where = cwd / where
    try:
        names = sorted(entry.name for entry in os.scandir(where)
                       if entry.name.startswith(base)
                       and (base.startswith(".") or not entry.name.startswith(".")))
    except OSError:
        return None
    if not names:
        return None
    common = os.path.commonprefix(names)
    if len(names) == 1 and (where / names[0]).is_dir():
        common += "/"
    added = common[len(base):]
    if not added:
        return None
    if not quote:
        added = re.sub(r"([\s'\"\\])", r"\\\1", added)
    return value + added


def split_paths(value: str) -> list[str]:
    """The paths typed into a PathInput, `~` expanded."""
    try:
        words = shlex.split(value)
    except ValueError:
        raise UserError("a quote in the file list is not closed; close it or remove it") from None
    return [os.path.expanduser(word) for word in words]


class PathSuggester(Suggester):
    """Suggests the completion of the last path in the field (not cached: folders change)."""

    def __init__(self, cwd: Path | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.cwd = cwd

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(" "):
            return None
        return complete_path(value, self.cwd)


class PathInput(Input):
    """An Input with path completion: the suggestion shows dimmed; Tab (or →) accepts it."""

    BINDINGS = [
        Binding("tab", "complete", "Complete path", show=False),
    ]

    def __init__(self, value: str = "", *, cwd: Path | None = None, **kwargs) -> None:
        super().__init__(value, suggester=PathSuggester(cwd), **kwargs)
        self.cwd = cwd

    def complete_on_tab(self) -> bool:
        """Complete the last path now (as a shell does, not waiting for the dimmed
        suggestion); False when there is nothing to add (Tab then moves on)."""
        if not self.cursor_at_end or not self.value or self.value.endswith(" "):
            return False
        suggestion = complete_path(self.value, self.cwd)
        if suggestion and len(suggestion) > len(self.value):
            self.value = suggestion
            self.cursor_position = len(self.value)
            return True
        return False

    def action_complete(self) -> None:
        if not self.complete_on_tab():
            self.screen.focus_next()
