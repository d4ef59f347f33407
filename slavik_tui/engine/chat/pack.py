"""Conversations packed into fixed rows for fine-tuning.

    ids, mask = pack_conversations(conversations, tokenizer, context)
    # ids, mask: (rows, context + 1); a batch of rows r:
    rows = ids[r].astype(np.int64)               # before any -1: ids are uint16
    x, y = rows[:, :-1], rows[:, 1:]             # inputs and next-token targets
    y = np.where(mask[r, 1:] == 1, y, -1)        # loss only on the assistant's tokens

- **Whole conversations per row.** A row holds one or more rendered conversations
  (template.py) one after another, the rest padded with `<|endoftext|>` at mask 0. A
  conversation is never split across two rows, so every reply is learned with its question
  in view (random windows over one long stream would often cut the question off).
- **A conversation longer than a row** is cut between exchanges (user message + reply) into
  pieces that fit, each starting again with `<|endoftext|>` and the system message, so no
  reply is lost and each keeps its question. Only an exchange too long for a row by itself
  is cut short at the row's end; if none of its reply remains, it is left out.
- Rows are filled in the order given (next fit): the caller shuffles, and splits off the
  validation dialogues, before packing.
"""

from __future__ import annotations

import numpy as np

from slavik_tui.engine.chat.messages import SYSTEM_ROLE, USER_ROLE, Message
from slavik_tui.engine.chat.template import ChatIds, chat_ids, render_conversation
from slavik_tui.engine.data import TOKEN_DTYPE
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.errors import UserError

Piece = tuple[list[int], list[int]]  # (ids, mask) of one row's worth or less


def pack_conversations(
    conversations: list[list[Message]], tokenizer: Tokenizer, context: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask), both (rows, context + 1): ids as TOKEN_DTYPE (uint16), mask uint8 with 1
    on the tokens to learn (see the module docstring)."""
    if not isinstance(context, int) or isinstance(context, bool) or context < 2:
        raise ValueError(f"context must be a whole number of at least 2, got {context!r}")
    ids = chat_ids(tokenizer)
    width = context + 1
    rows: list[Piece] = []
    row_ids: list[int] = []
    row_mask: list[int] = []
    for conversation in conversations:
        for piece_ids, piece_mask in _pieces(conversation, tokenizer, ids, width):
            if len(row_ids) + len(piece_ids) > width:
                rows.append((row_ids, row_mask))
                row_ids, row_mask = [], []
            row_ids += piece_ids
            row_mask += piece_mask
    if row_ids:
        rows.append((row_ids, row_mask))
    if not rows:
        raise UserError(
            f"no dialogue has a reply within the model's context of {context} tokens: every "
            "question is longer than that; use shorter dialogues",
            field="data",
        )
    out_ids = np.full((len(rows), width), ids.eot, dtype=TOKEN_DTYPE)
    out_mask = np.zeros((len(rows), width), dtype=np.uint8)
    for r, (row_ids, row_mask) in enumerate(rows):
        out_ids[r, : len(row_ids)] = row_ids
        out_mask[r, : len(row_mask)] = row_mask
    return out_ids, out_mask


def _pieces(conversation: list[Message], tokenizer: Tokenizer, ids: ChatIds,
            width: int) -> list[Piece]:
    """The conversation as pieces of at most `width` tokens that each hold some reply."""
    whole = render_conversation(conversation, tokenizer, ids)
    if len(whole[0]) <= width:
        return [whole]
    system = conversation[:1] if conversation[0].role == SYSTEM_ROLE else []
    # every piece starts as the conversation does: <|endoftext|>, then the system message
    prefix = render_conversation(system, tokenizer, ids) if system else ([ids.eot], [0])
    pieces: list[Piece] = []
    piece: Piece = ([], [])

    def close() -> None:
        cut = (piece[0][:width], piece[1][:width])  # only a lone long exchange is cut
        if any(cut[1]):
            pieces.append(cut)

    for exchange in _exchanges(conversation[len(system):]):
        ex_ids, ex_mask = render_conversation(exchange, tokenizer, ids)
        ex_ids, ex_mask = ex_ids[1:], ex_mask[1:]  # without its own <|endoftext|>
        if piece[0] and len(piece[0]) + len(ex_ids) > width:
            close()
            piece = ([], [])
        if not piece[0]:
            piece = (list(prefix[0]), list(prefix[1]))
        piece[0].extend(ex_ids)
        piece[1].extend(ex_mask)
    close()
    return pieces


def _exchanges(messages: list[Message]) -> list[list[Message]]:
    """[user, assistant] pairs; a reply without a question, or a last question without a
    reply, is an exchange of its own."""
    out: list[list[Message]] = []
    for m in messages:
        if m.role == USER_ROLE or not out or out[-1][-1].role != USER_ROLE:
            out.append([m])
        else:
            out[-1].append(m)
    return out
