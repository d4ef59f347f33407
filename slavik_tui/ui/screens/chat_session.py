"""The Chat mode's conversation (what was said, where it is saved) and the worker-side
functions that answer it: the reply's text pieces and the one-line hint on a model that was
never taught to chat.

The conversation lives on the UI thread as plain `{"role", "content"}` dicts; a worker gets a
copy, turns it into engine Messages, streams the reply and saves the conversation with the
reply (store/conversations.py), so the file always ends with an answer.

A model trained before the chat tokens were reserved cannot use our chat format; it still
chats, the way its texts wrote dialogue: each turn is a dash-led line ("— Привет!"), as
Russian prose writes speech (engine/chat/prose.py reads such lines as turns), and its reply
ends with its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from slavik_tui.store.conversations import ConversationFile

DASH = "— "


class ChatSession:
    """One conversation with one model: its turns (user, assistant, …), without the system
    prompt, which is read from its field at every message."""

    def __init__(self) -> None:
        self.turns: list[dict[str, str]] = []
        self.file: ConversationFile | None = None
        self.model: str | None = None

    @property
    def empty(self) -> bool:
        return not self.turns

    def ask(self, model: str, model_dir: Path, system: str, text: str
            ) -> tuple[list[dict[str, str]], ConversationFile]:
        """Add the user's message; returns (the conversation to answer, where to save it)."""
        if self.file is None or self.model != model:
            self.file, self.model = ConversationFile(model_dir), model
        self.turns.append({"role": "user", "content": text})
        return self.conversation(system), self.file

    def conversation(self, system: str) -> list[dict[str, str]]:
        head = [{"role": "system", "content": system.strip()}] if system.strip() else []
        return head + [dict(t) for t in self.turns]

    def answered(self, reply: str) -> bool:
        """Keep the reply; an empty one takes the unanswered message out (turns alternate),
        and False says so."""
        if reply.strip():
            self.turns.append({"role": "assistant", "content": reply})
            return True
        if self.turns and self.turns[-1]["role"] == "user":
            self.turns.pop()
        return False

    def retry(self) -> str | None:
        """Take back the last reply and the message it answered, to ask again; returns that
        message (None when there is no reply to take back)."""
        if len(self.turns) < 2 or self.turns[-1]["role"] != "assistant":
            return None
        self.turns.pop()
        return self.turns.pop()["content"]

    def clear(self) -> None:
        """A new conversation: the next message starts a new file (the old one stays)."""
        self.turns.clear()
        self.file = None


# ---- in the worker ------------------------------------------------------------------------
def as_messages(conversation: list[dict[str, str]]) -> list[Any]:
    from slavik_tui.engine.chat.messages import Message

    return [Message(m["role"], m["content"]) for m in conversation]


def dash_prompt(conversation: list[Any]) -> str:
    """A conversation as prose dialogue: the system prompt as a line of its own, each turn a
    dash-led line, then the dash that opens the reply."""
    lines = [m.content.strip() for m in conversation if m.role == "system"]
    lines += [DASH + " ".join(m.content.split()) for m in conversation if m.role != "system"]
    return "\n".join(lines) + "\n" + DASH


def dash_reply(model, tokenizer, conversation: list[Any], **settings) -> Iterator[str]:
    """The reply of a model without chat tokens: its next dash line, up to the line's end."""
    from slavik_tui.engine.generate import generate

    pieces = generate(model, tokenizer, dash_prompt(conversation), **settings)

    def until_newline() -> Iterator[str]:
        for piece in pieces:
            head, newline, _ = piece.partition("\n")
            if head:
                yield head
            if newline:
                return

    return until_newline()


def reply_pieces(model, tokenizer, conversation: list[Any], **settings) -> Iterator[str]:
    """The streamed reply to `conversation` (ending with the user's message)."""
    if tokenizer.has_chat_tokens:
        from slavik_tui.engine.chat import reply

        return reply.chat_reply(model, tokenizer, conversation, **settings)
    return dash_reply(model, tokenizer, conversation, **settings)


def fine_tuned(model_dir: Path) -> bool:
    """Has this model had a fine-tuning run on dialogues (`slavik-tui sft`)?"""
    from slavik_tui.store.history import History

    history = Path(model_dir) / "history.sqlite"
    if not history.is_file():
        return False
    with History(history, readonly=True) as h:
        return any(run.kind == "sft" for run in h.runs())


def chat_hint(name: str, model_dir: Path, tokenizer) -> str | None:
    """One line for a model that chats poorly (no chat tokens, never fine-tuned), else None."""
    sft = f"`slavik-tui sft {name} --data FILE`"
    if not tokenizer.has_chat_tokens:
        return f"ⓘ no chat tokens, so it answers in dialogue lines: {sft} adds them"
    try:
        tuned = fine_tuned(model_dir)
    except Exception:  # a damaged history is the History screen's to report, not the chat's
        tuned = False
    if not tuned:
        return f"ⓘ not tuned for chat: {sft} makes it chat better"
    return None
