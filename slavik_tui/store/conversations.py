"""Conversations of the Chat mode, kept under their model and exportable as JSONL.

    models/<name>/chats/20261203-093012.jsonl    one conversation: one JSON line
    {"messages": [{"role": "system", "content": "…"}, {"role": "user", "content": "Привет"},
                  {"role": "assistant", "content": "Привет!"}]}

The line is the common chat format (what `slavik-tui sft --data` reads, what Hugging Face
datasets hold), so a saved or exported conversation is training data as it is. A file is
rewritten whole after every reply (`atomic.replacing`: readers see the old or the new
conversation, never half of one). The chats/ folder is made by `ModelFolder.inner_dir`,
which refuses a symbolic link there, so nothing is written outside the model through it.

Messages are anything with `role` and `content` (engine/chat's `Message`) or mappings with
those keys: the store knows the file format, not the rules of a conversation.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from slavik_tui.atomic import atomic_write_text, on_disk_full
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import ModelFolder, check_output

SUFFIX = ".jsonl"
STAMP = "%Y%m%d-%H%M%S"  # local time, no colons (they are not allowed in every file system)


def as_dicts(messages: Iterable[Any]) -> list[dict[str, str]]:
    """[{"role", "content"}] of `messages` (Message objects or mappings)."""
    out = []
    for m in messages:
        if isinstance(m, Mapping):
            role, content = m.get("role"), m.get("content")
        else:
            role, content = getattr(m, "role", None), getattr(m, "content", None)
        if not isinstance(role, str) or not isinstance(content, str):
            raise UserError(f"a message needs a role and a text, got {m!r}")
        out.append({"role": role, "content": content})
    return out


def conversation_line(messages: Iterable[Any]) -> str:
    """One conversation as one JSONL line (with its newline); Cyrillic stays readable."""
    return json.dumps({"messages": as_dicts(messages)}, ensure_ascii=False) + "\n"


def chats_dir(model_dir: str | os.PathLike, create: bool = True) -> Path:
    """models/<name>/chats (made when `create`); UserError when it is a link or a file."""
    folder = ModelFolder(model_dir)
    return folder.inner_dir(folder.chats_dir, create=create, then="chat again")


def list_conversations(model_dir: str | os.PathLike) -> list[Path]:
    """The saved conversations of a model, oldest first ([] when there are none)."""
    where = ModelFolder(model_dir).chats_dir
    if not where.is_dir() or where.is_symlink():
        return []
    found = [p for p in where.iterdir()
             if p.suffix == SUFFIX and not p.name.startswith(".") and p.is_file()]
    return sorted(found, key=_order)


def _order(path: Path) -> tuple[str, int]:
    """20261203-093012-2 after 20261203-093012 (plain sorting puts '-' before '.')."""
    head, sep, tail = path.stem.rpartition("-")
    if sep and tail.isdigit() and len(head) == len("20261203-093012"):
        return head, int(tail)
    return path.stem, 1


class ConversationFile:
    """Where one conversation is saved. The file is named when it is first saved, after the
    local time (`20261203-093012.jsonl`, then `-2`, `-3`… within one second); nothing is
    written for a conversation that never got a reply."""

    def __init__(self, model_dir: str | os.PathLike) -> None:
        self.model_dir = Path(model_dir)
        self.path: Path | None = None

    def save(self, messages: Iterable[Any]) -> Path:
        """Write the whole conversation (replacing the last save); returns the file."""
        line = conversation_line(messages)
        where = chats_dir(self.model_dir)
        with on_disk_full(where, "the conversation", then="chat again"):
            if self.path is None:
                self.path = _claim_name(where)
            atomic_write_text(self.path, line)
        return self.path


def _claim_name(where: Path, now: float | None = None) -> Path:
    """A new file name in `where`, created empty with O_EXCL so that two writers (two apps,
    the app and `slavik-tui chat`) never pick the same one; the caller replaces it at once."""
    stem = time.strftime(STAMP, time.localtime(now))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for n in range(1, 1000):
        path = where / f"{stem}{'' if n == 1 else f'-{n}'}{SUFFIX}"
        try:
            os.close(os.open(path, flags, 0o666))
        except FileExistsError:
            continue
        return path
    raise OSError(errno.EEXIST, f"no free conversation file name in {where}")


# ---- export ---------------------------------------------------------------------------------
def check_export(out: str | os.PathLike, models_root: str | os.PathLike) -> bool:
    """UserError when `out` may never be written (inside the models folder, a folder, a
    device, a link); True when it is an existing file that only a confirmation may replace,
    False when it is free."""
    path = check_output(out, models_root, force=True, example="chat.jsonl")
    return os.path.lexists(path)


def export_conversation(messages: Iterable[Any], out: str | os.PathLike,
                        models_root: str | os.PathLike, replace: bool = False) -> Path:
    """Write the conversation as a one-line JSONL file at `out`; an existing file only when
    `replace` (the user confirmed). Returns the path written."""
    path = Path(out).expanduser()
    if check_export(path, models_root) and not replace:
        raise UserError(f"{path} already exists; confirm to replace it, or pick another path")
    line = conversation_line(messages)
    if not path.parent.is_dir():
        raise UserError(f"{path.parent} is not a folder; pick a path in an existing folder")
    with on_disk_full(path.parent, f"the conversation to {path.name}",
                      then="export it again"):
        atomic_write_text(path, line)
    return path
