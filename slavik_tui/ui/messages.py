"""Messages that workers (threads) post to the screens: attributes down, messages up.

`post_message` is thread-safe, so a worker never touches a widget; it describes what
happened and the screen, on the UI thread, decides what to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class ModelsScanned(Message):
    """A fresh listing of the models folder (`Workspace.list()`) and the (model name,
    message) of folders it could not read."""

    models: list[Any] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ModelsScanned)  # only the newest listing matters


@dataclass
class ModelLoaded(Message):
    """The generation worker has (re)loaded a model's weights."""

    name: str
    params: int
    seconds: float


@dataclass
class GenerationPieces(Message):
    """Text generated since the last message (batched every ~30 ms, never per token)."""

    text: str
    tokens: int  # pieces so far in this answer (the generator yields ≥ 1 token per piece)
    elapsed: float  # seconds since the first token was asked for


@dataclass
class GenerationFinished(Message):
    """The answer is complete, stopped by the user, or failed with a one-line error."""

    tokens: int
    elapsed: float
    stopped: bool = False
    error: str | None = None


@dataclass
class JobProgress(Message):
    """A line of progress from a long job (creating a model trains its tokenizer)."""

    line: str
