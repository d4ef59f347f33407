"""A conversation: a list of `Message(role, content)`, checked once before it is rendered."""

from __future__ import annotations

from dataclasses import dataclass

from slavik_tui.errors import UserError

SYSTEM_ROLE, USER_ROLE, ASSISTANT_ROLE = "system", "user", "assistant"
ROLES = (SYSTEM_ROLE, USER_ROLE, ASSISTANT_ROLE)


@dataclass(frozen=True)
class Message:
    role: str  # one of ROLES
    content: str


Conversation = list[Message]


def conversation_problem(messages: list[Message]) -> str | None:
    """Why `messages` is not a conversation we can render, or None when it is one.

    Rules: roles are system / user / assistant; a system message may only come first; two
    messages of one role never follow each other (turns alternate); no content is empty.
    Readers put the answer in a message naming the file and line; `check_conversation`
    in one for conversations built by the program.
    """
    if not messages:
        return "it has no messages"
    previous = None
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, Message):
            return f"message {i} is a {type(m).__name__}, not a Message"
        if m.role not in ROLES:
            return f"message {i} has role {m.role!r}; roles are system, user and assistant"
        if not isinstance(m.content, str):
            kind = type(m.content).__name__
            return f"message {i} ({m.role}) has content of type {kind}, not text"
        if not m.content.strip():
            return f"message {i} ({m.role}) is empty"
        if m.role == SYSTEM_ROLE and i > 1:
            return f"message {i} is a system message; only the first message may be one"
        if m.role == previous:
            return f"messages {i - 1} and {i} are both {m.role} messages; turns must alternate"
        previous = m.role
    return None


def check_conversation(messages: list[Message]) -> None:
    problem = conversation_problem(messages)
    if problem is not None:
        raise UserError(f"the conversation cannot be used: {problem}")
