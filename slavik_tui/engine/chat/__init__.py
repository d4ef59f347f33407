"""Dialogue: conversations, their files, our chat format, and replies.

- `messages`: `Message(role, content)`, the rules of a conversation.
- `read` / `prose`: dialogue files (.jsonl messages, .csv question/answer, dash-led prose
  lines, T:/Q:/A: records) → conversations.
- `template`: a conversation as token ids and loss mask, the reply prompt, `CHAT_TEMPLATE`.
- `pack`: conversations → fixed rows for fine-tuning.
- `reply`: `chat_reply`, the streamed answer.
- `embeddings`: rows for tokens added to a trained model.
The chat tokens themselves live in engine/tokenizer.py.

`chat_reply` and `grow_embeddings` are imported on first use: they need torch, and reading
or checking a dialogue file (a form, the CLI's argument checks) should not wait for it.
"""

from importlib import import_module

from slavik_tui.engine.chat.messages import (
    ASSISTANT_ROLE,
    ROLES,
    SYSTEM_ROLE,
    USER_ROLE,
    Conversation,
    Message,
    check_conversation,
)
from slavik_tui.engine.chat.pack import pack_conversations
from slavik_tui.engine.chat.read import DEFAULT_COLUMNS, parse_columns, read_dialogues
from slavik_tui.engine.chat.template import (
    CHAT_TEMPLATE,
    ChatIds,
    chat_ids,
    prompt_ids,
    render_conversation,
)

_NEED_TORCH = {"chat_reply": "reply", "grow_embeddings": "embeddings"}


def __getattr__(name: str):
    if name in _NEED_TORCH:
        value = getattr(import_module(f"{__name__}.{_NEED_TORCH[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ASSISTANT_ROLE",
    "CHAT_TEMPLATE",
    "DEFAULT_COLUMNS",
    "ROLES",
    "SYSTEM_ROLE",
    "USER_ROLE",
    "ChatIds",
    "Conversation",
    "Message",
    "chat_ids",
    "chat_reply",
    "check_conversation",
    "grow_embeddings",
    "pack_conversations",
    "parse_columns",
    "prompt_ids",
    "read_dialogues",
    "render_conversation",
]
