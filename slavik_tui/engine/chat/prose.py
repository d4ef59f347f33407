"""Dialogues in plain text: prose with dash-led lines of speech, and T:/Q:/A: records.

**Dash dialogue.** Russian prose writes each line of speech as a paragraph starting with a
dash ("— ", "– " or "- "; the space is often a no-break space):

    – Дарье Александровне доложи, где прикажут.
    – Дарье Александровне? – как бы с сомнением повторил Матвей.
    «Попробовать хотите», – понял Матвей, ...

Consecutive dash lines (blank lines between them do not count) are one conversation whose
turns alternate user, assistant, user, ...; any other non-blank line ends it. The author's
words inside a line ("– как бы с сомнением повторил Матвей") are not speech and are cut out
(`speech_of`), so the model learns to answer, not to narrate. A conversation needs a user
turn and an assistant turn; a last user turn without an answer is dropped.

**T:/Q:/A: records** (the format of the Koziev premise/question/answer set): records are
separated by blank lines; `T:` lines are a premise, `Q:` a question, `A:` its answer. A
premise and the question after it become one user message ("premise\\nquestion"), the answer
the assistant's; several Q/A pairs in a record make a multi-turn conversation. A line without
a tag continues the line above it.
"""

from __future__ import annotations

import re
from pathlib import Path

from slavik_tui.engine.chat.messages import ASSISTANT_ROLE, USER_ROLE, Conversation, Message
from slavik_tui.errors import UserError

_DASH_LINE = re.compile(r"\s*[—–-]\s+(\S.*)")
# A dash between spaces inside a line. After , ! ? … and before a lowercase word it starts
# the author's words ("угодно, – сказал он"); after punctuation it ends them and speech
# resumes ("сказал он. – Пойдём"). A dash between two words ("Москва – столица") is neither.
_INNER_DASH = re.compile(r"\s+[—–-]\s+")
_LOWER = re.compile(r"[a-zа-яё]")
_QA_LINE = re.compile(r"([TQA]):(.*)")


def looks_like_qa(text: str) -> bool:
    """The first non-blank line is a T:/Q:/A: line."""
    for line in text.split("\n"):
        if line.strip():
            return _QA_LINE.match(line) is not None
    return False


def speech_of(line: str) -> str:
    """The spoken words of one dash line (without the leading dash and the author's words)."""
    match = _DASH_LINE.fullmatch(line)
    rest = match.group(1) if match else line.strip()
    parts: list[str] = []
    start, narrating = 0, False
    for dash in _INNER_DASH.finditer(rest):
        before, after = rest[start:dash.start()], rest[dash.end():dash.end() + 1]
        end_mark = before[-1:] if before else ""
        if not narrating and end_mark and end_mark in ",!?…" and _LOWER.match(after):
            parts.append(before)
            narrating = True
        elif narrating and end_mark and end_mark in ".,:;!?…":
            # "угодно, – сказал он. – Пойдём": the comma stood for the sentence's end
            if end_mark in ".:" and parts[-1].endswith(","):
                parts[-1] = parts[-1][:-1] + "."
            narrating = False
        else:
            continue
        start = dash.end()
    if not narrating:
        parts.append(rest[start:])
    elif parts[-1].endswith(","):
        parts[-1] = parts[-1][:-1] + "."
    return " ".join(p.strip() for p in parts if p.strip())


def dash_dialogues(path: Path, text: str) -> list[Conversation]:
    conversations: list[Conversation] = []
    turns: list[str] = []

    def close() -> None:
        if len(turns) % 2:  # a question nobody answers teaches nothing
            turns.pop()
        if turns:
            roles = (USER_ROLE, ASSISTANT_ROLE)
            conversations.append([Message(roles[i % 2], t) for i, t in enumerate(turns)])
        turns.clear()

    for line in text.split("\n"):
        if not line.strip():
            continue
        if _DASH_LINE.fullmatch(line):
            speech = speech_of(line)
            if speech:
                turns.append(speech)
        else:
            close()
    close()
    if not conversations:
        raise UserError(
            f"{path} has no dialogue: no two lines in a row start with a dash (— , – or - ); "
            "write each turn on its own line starting with a dash, use T:/Q:/A: lines, or a "
            '.jsonl file with "messages"',
            field="data",
        )
    return conversations


def qa_dialogues(path: Path, text: str) -> list[Conversation]:
    conversations: list[Conversation] = []
    record: list[tuple[str, list[str], int]] = []  # (tag, lines, line number) per field
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            match = _QA_LINE.match(line)
            if match is not None:
                record.append((match.group(1), [match.group(2).strip()], lineno))
            elif record:  # a line without a tag continues the field above it
                record[-1][1].append(line.strip())
            else:
                raise _qa_error(path, lineno, "the line does not start with T:, Q: or A:")
        elif record:
            conversations.append(_qa_record(path, record))
            record = []
    if record:
        conversations.append(_qa_record(path, record))
    if not conversations:
        raise UserError(f"{path} has no Q:/A: records; add some or pass another file",
                        field="data")
    return conversations


def _qa_record(path: Path, record: list[tuple[str, list[str], int]]) -> Conversation:
    messages: list[Message] = []
    premise: list[str] = []
    question: str | None = None
    asked = 0  # the line of the open question
    for tag, lines, lineno in record:
        value = "\n".join(lines).strip()
        if not value:
            raise _qa_error(path, lineno, f"the {tag}: line is empty")
        if tag == "T":
            if question is not None:
                raise _qa_error(path, lineno, "a T: line comes between a Q: line and its A: line")
            premise.append(value)
        elif tag == "Q":
            if question is not None:
                raise _qa_error(path, lineno, "two Q: lines follow each other without an A: line")
            question, premise, asked = "\n".join([*premise, value]), [], lineno
        else:
            if question is None:
                raise _qa_error(path, lineno, "an A: line has no Q: line before it")
            messages += [Message(USER_ROLE, question), Message(ASSISTANT_ROLE, value)]
            question = None
    if question is not None:
        raise _qa_error(path, asked, "the Q: line has no A: line after it")
    if premise:
        raise _qa_error(path, record[-1][2], "the T: line has no Q: and A: line after it")
    return messages


def _qa_error(path: Path, lineno: int, why: str) -> UserError:
    return UserError(
        f"{path} line {lineno}: {why}; each record is T: premise lines (optional), then a Q: "
        "line and its A: line, records separated by blank lines",
        field="data",
    )
