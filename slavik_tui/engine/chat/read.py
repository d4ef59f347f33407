"""Reading dialogue files into conversations (lists of `Message`).

    read_dialogues("chats.jsonl")                       # {"messages": [{"role", "content"}]}
    read_dialogues("faq.csv", columns=("q", "a"))       # one question/answer pair per row
    read_dialogues("novel.txt")                         # dash-led lines of speech (prose.py)
    read_dialogues("koziev_qa.txt")                     # T:/Q:/A: records (prose.py)

The format follows the extension (.jsonl/.ndjson, .csv/.tsv, anything else is text); a text
file whose first non-blank line starts with T:, Q: or A: holds records, any other holds prose.
The file is read as engine/data reads a corpus (regular files only, binary and UTF-16
refused, `encoding` for legacy code pages, newlines normalised). A malformed record is one
UserError naming the file, the line and the fix; so is a file without a single dialogue.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from slavik_tui.engine.chat.messages import (
    ASSISTANT_ROLE,
    SYSTEM_ROLE,
    USER_ROLE,
    Conversation,
    Message,
    conversation_problem,
)
from slavik_tui.engine.chat.prose import dash_dialogues, looks_like_qa, qa_dialogues
from slavik_tui.engine.data.read import decoded_text, read_raw
from slavik_tui.errors import UserError

DEFAULT_COLUMNS = ("question", "answer")
_EXAMPLE = ('{"messages": [{"role": "user", "content": "Привет"}, '
            '{"role": "assistant", "content": "Привет!"}]}')


def parse_columns(text: str) -> tuple[str, str]:
    """"q,a" (the --columns flag) → ("q", "a")."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts):
        raise UserError(
            f"--columns {text!r} must name two columns, the question's and the answer's, "
            "separated by a comma: --columns question,answer",
            field="columns",
        )
    return parts[0], parts[1]


def read_dialogues(
    path: str | os.PathLike,
    columns: tuple[str, str] | None = None,
    encoding: str | None = None,
) -> list[Conversation]:
    """The conversations in one file; see the module docstring for the formats."""
    p, raw = read_raw(path)
    text = decoded_text(p, raw, encoding, what="some dialogues")[0]
    ext = p.suffix.lower()
    if ext in (".jsonl", ".ndjson"):
        return _jsonl_dialogues(p, text)
    if ext in (".csv", ".tsv"):
        return _csv_dialogues(p, text, columns or DEFAULT_COLUMNS)
    if looks_like_qa(text):
        return qa_dialogues(p, text)
    return dash_dialogues(p, text)


# ---- .jsonl -----------------------------------------------------------------------------------
def _jsonl_dialogues(path: Path, text: str) -> list[Conversation]:
    conversations: list[Conversation] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue

        def bad(why: str) -> UserError:
            return UserError(f"{path} line {lineno}: {why}; each line must be one object like "
                             f"{_EXAMPLE}", field="data")

        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise bad(f"a JSON {type(obj).__name__}, not an object")
        raw_messages = obj.get("messages")
        if not isinstance(raw_messages, list):
            keys = ", ".join(map(str, obj)) or "none"
            raise bad(f'no "messages" list (fields: {keys})')
        messages: list[Message] = []
        for i, m in enumerate(raw_messages, start=1):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise bad(f'message {i} is not an object with a "role"')
            content = m.get("content")
            if not isinstance(content, str):
                raise bad(f'message {i} has no text "content" '
                          f"(got {type(content).__name__})")
            if m["role"] == SYSTEM_ROLE and not content.strip():
                continue  # an empty system prompt says nothing
            messages.append(Message(m["role"], content))
        problem = conversation_problem(messages)
        if problem is None and not any(m.role == ASSISTANT_ROLE for m in messages):
            problem = "no assistant message, so there is no answer to learn from"
        if problem is not None:
            raise bad(problem)
        conversations.append(messages)
    if not conversations:
        raise UserError(f"{path} has no dialogues; each line must be one object like {_EXAMPLE}",
                        field="data")
    return conversations


# ---- .csv -------------------------------------------------------------------------------------
def _csv_dialogues(path: Path, text: str, columns: tuple[str, str]) -> list[Conversation]:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    first = ["\t" if path.suffix.lower() == ".tsv" else ",", ",", ";", "\t", "|"]
    header: list[str] = []
    delimiter = first[0]
    for delim in dict.fromkeys(first):  # the delimiter whose header has both columns
        try:
            row = next(csv.reader(io.StringIO(text), delimiter=delim), [])
        except csv.Error:
            continue
        row = [c.strip() for c in row]
        if all(c in row for c in columns):
            header, delimiter = row, delim
            break
        if len(row) > len(header):
            header, delimiter = row, delim
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(
            f'{path} has no "{missing[0]}" column (columns: {", ".join(header) or "none"}); '
            "pass --columns QUESTION,ANSWER with the names of its question and answer columns",
            field="columns",
        )
    q_index, a_index = header.index(columns[0]), header.index(columns[1])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    conversations: list[Conversation] = []
    try:
        next(reader)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = [row[i].strip() if i < len(row) else "" for i in (q_index, a_index)]
            for name, cell in zip(columns, cells):
                if not cell:
                    raise UserError(
                        f'{path} line {reader.line_num}: the "{name}" cell is empty; fill it '
                        "in or delete the row",
                        field="data",
                    )
            conversations.append([Message(USER_ROLE, cells[0]), Message(ASSISTANT_ROLE, cells[1])])
    except csv.Error as exc:
        raise UserError(
            f"{path} line {reader.line_num} is not valid CSV ({exc}); fix the quoting there "
            "or save the file again from a spreadsheet",
            field="data",
        ) from None
    if not conversations:
        raise UserError(f"{path} has no rows below its header; add question/answer rows",
                        field="data")
    return conversations
