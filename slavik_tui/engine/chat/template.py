"""Our chat format: a conversation as token ids, with the loss mask of fine-tuning.

    <|endoftext|> <|system|>Ты помощник.<|end|> <|user|>Привет<|end|> <|assistant|>Привет!<|end|>

(spaces added here for reading; there are none). Each message is its role token, its text
tokenised like any text, and `<|end|>`. The conversation starts with `<|endoftext|>`, as every
document starts after one in pretraining, so the model meets a dialogue where it expects a
new text. No newlines around the special tokens: they would cost tokens and could merge with
the first or last characters of a message, making a reply's tokens depend on its neighbours.

- `render_conversation` → (ids, mask): mask is 1 exactly on the assistant's tokens, its
  `<|end|>` included (the model must learn to stop), 0 on everything else (system and user
  text, role tokens, `<|endoftext|>`). Fine-tuning predicts ids[i+1] from ids[:i+1] and counts
  the loss where mask[i+1] is 1.
- `prompt_ids` → the ids a reply is generated from: the conversation, then `<|assistant|>`.
- `CHAT_TEMPLATE`: the same format as a Hugging Face Jinja chat template, for the hf export
  and GGUF; `apply_chat_template` gives exactly these ids (tests/engine/test_chat_template.py).
  llama.cpp runs it with `--jinja`; without, it recognises <|assistant|> + <|end|> as Phi-3's
  format, which puts a newline after each role token and each <|end|>.
"""

from __future__ import annotations

from dataclasses import dataclass

from slavik_tui.engine.chat.messages import (
    ASSISTANT_ROLE,
    ROLES,
    SYSTEM_ROLE,
    USER_ROLE,
    Message,
    check_conversation,
)
from slavik_tui.engine.tokenizer import ASSISTANT, END_OF_TURN, EOT, SYSTEM, USER, Tokenizer
from slavik_tui.errors import UserError

_ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}

# Jinja (as Hugging Face and llama.cpp run it). Written on one line with expressions only,
# so no whitespace of the template's own leaks into the text whatever the trim settings.
CHAT_TEMPLATE = (
    "{{ '" + EOT + "' }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('roles are system, user and assistant') }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '" + END_OF_TURN + "' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + ASSISTANT + "' }}{% endif %}"
)
assert all(f"<|{role}|>" == _ROLE_TOKENS[role] for role in ROLES)  # what the template builds


@dataclass(frozen=True)
class ChatIds:
    """The special token ids of one tokenizer."""

    eot: int
    system: int
    user: int
    assistant: int
    end: int

    def role(self, role: str) -> int:
        return getattr(self, role)

    @property
    def stops(self) -> frozenset[int]:
        """Ids that end a reply: end of turn, end of text, or a role starting another turn."""
        return frozenset((self.eot, self.system, self.user, self.assistant, self.end))


def chat_ids(tokenizer: Tokenizer) -> ChatIds:
    """The chat token ids of `tokenizer`; UserError when it lacks them."""
    ids = {t: tokenizer.special_id(t) for t in (SYSTEM, USER, ASSISTANT, END_OF_TURN)}
    missing = [t for t, i in ids.items() if i is None]
    if missing:
        raise UserError(
            f"the model's tokenizer has no chat tokens ({', '.join(missing)}): the model was "
            "made before slavik-tui reserved them; fine-tune it on dialogues with "
            "`slavik-tui sft NAME --data FILE`, which adds them"
        )
    return ChatIds(tokenizer.eot_id, ids[SYSTEM], ids[USER], ids[ASSISTANT], ids[END_OF_TURN])


def _blocks(conversation: list[Message], tokenizer: Tokenizer, ids: ChatIds) -> list[list[int]]:
    """Each message's ids: role token, text, end of turn."""
    return [[ids.role(m.role), *tokenizer.encode(m.content), ids.end] for m in conversation]


def render_conversation(
    conversation: list[Message], tokenizer: Tokenizer, ids: ChatIds | None = None
) -> tuple[list[int], list[int]]:
    """(token ids, loss mask) of a whole conversation; see the module docstring."""
    check_conversation(conversation)
    ids = ids or chat_ids(tokenizer)
    tokens, mask = [ids.eot], [0]
    for message, block in zip(conversation, _blocks(conversation, tokenizer, ids)):
        tokens.extend(block)
        learn = 1 if message.role == ASSISTANT_ROLE else 0
        mask.append(0)  # the role token is given, not predicted
        mask.extend([learn] * (len(block) - 1))
    return tokens, mask


def prompt_ids(
    conversation: list[Message], tokenizer: Tokenizer, max_len: int | None = None,
    ids: ChatIds | None = None,
) -> list[int]:
    """The ids to generate the assistant's next reply from (ending with `<|assistant|>`).

    The conversation must end with a user message. With `max_len`, the oldest exchanges are
    left out (a system message stays while it can) until the prompt fits; a last message too
    long even alone keeps only its end.
    """
    check_conversation(conversation)
    if conversation[-1].role != USER_ROLE:
        raise UserError("the conversation must end with the user's message to get a reply")
    ids = ids or chat_ids(tokenizer)
    blocks = _blocks(conversation, tokenizer, ids)
    system = blocks[:1] if conversation[0].role == SYSTEM_ROLE else []
    rest, roles = blocks[len(system):], [m.role for m in conversation[len(system):]]
    while True:
        tokens = [ids.eot, *(t for block in system + rest for t in block), ids.assistant]
        if max_len is None or len(tokens) <= max_len:
            return tokens
        if len(rest) > 1:  # drop the oldest exchange (or a lone assistant message first)
            n = 2 if roles[0] == USER_ROLE else 1
            rest, roles = rest[n:], roles[n:]
        elif system:
            system = []
        else:
            return tokens[-max_len:]
