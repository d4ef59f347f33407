"""The datasets a model has seen: the manifest `datasets.json` and the token caches beside it.

Caches (`add_datasets`), all keyed by the sha256 of the file's raw bytes:
- `data/<sha256>.bin`: raw uint16 tokens, documents joined by EOT (np.memmap-readable);
- `data/<sha256>.words`: the distinct lower-cased words of the corpus, for the reward;
- `datasets.json`: the manifest, one entry per distinct file content.

A model folder may come from someone else, so every entry read from the manifest is checked
(types, a sha256 of 64 lowercase hex digits, a known format and codec) before it names a file,
and neither the manifest, `data/` nor a cache is opened through a symbolic link.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import re
import stat
import unicodedata
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable

import numpy as np

from slavik_tui.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_bytes,
)
from slavik_tui.engine.checkpoint import now_iso
from slavik_tui.engine.data.read import FORMATS, parse, read_raw
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import ModelFolder, is_sha256

if TYPE_CHECKING:
    from slavik_tui.engine.tokenizer import Tokenizer

TOKEN_DTYPE = np.uint16

# Words for the reward: runs of letters (any alphabet), no digits or underscores.
WORD_RE = re.compile(r"[^\W\d_]+")

_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


def words_in(text: str) -> set[str]:
    """Distinct lower-cased words (letters only; NFC, so combining accents stay in the word)."""
    return {w.lower() for w in WORD_RE.findall(unicodedata.normalize("NFC", text))}


def _readd(what: Path) -> str:
    """The fix for a damaged or unsafe file of the data: remove it, add the text again."""
    return f"remove it (rm {what}) and add the data again with --data FILE"


# ---- the manifest -----------------------------------------------------------------------------
@dataclass
class DatasetEntry:
    """One dataset a model has seen (a line of datasets.json)."""

    path: str  # absolute path when added (the file may move later; sha256 is the identity)
    sha256: str  # of the raw file bytes; names the caches data/<sha256>.bin/.words
    bytes: int  # raw file size
    tokens: int  # tokens in the cache, EOTs included
    added_at: str  # ISO 8601, UTC
    encoding: str | None = "utf-8"
    format: str = "txt"  # txt | jsonl | csv
    column: str | None = None  # jsonl field / csv column (None for txt)

    @classmethod
    def from_dict(cls, d: dict) -> DatasetEntry:
        """An entry from its JSON object; unknown keys are ignored (newer versions), and
        ValueError names the first field that is missing or wrong."""
        known = {f.name for f in fields(cls)}
        for name in ("path", "sha256", "bytes", "tokens", "added_at"):
            if name not in d:
                raise ValueError(f'has no "{name}"')
        entry = cls(**{k: v for k, v in d.items() if k in known})
        entry._check()
        return entry

    def _check(self) -> None:
        def whole(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 0

        def text_or_none(v: object) -> bool:
            return v is None or isinstance(v, str)

        checks = [
            ("path", isinstance(self.path, str), "a path"),
            ("sha256", is_sha256(self.sha256), "64 lowercase hex digits"),
            ("bytes", whole(self.bytes), "a whole number ≥ 0"),
            ("tokens", whole(self.tokens), "a whole number ≥ 0"),
            ("added_at", isinstance(self.added_at, str), "a date"),
            ("encoding", text_or_none(self.encoding) and _known_codec(self.encoding),
             "a text encoding such as utf-8"),
            ("format", self.format in FORMATS, " or ".join(FORMATS)),
            ("column", text_or_none(self.column), "a column name or null"),
        ]
        for name, ok, want in checks:
            if not ok:
                shown = json.dumps(getattr(self, name), ensure_ascii=False)[:60]
                raise ValueError(f'has "{name}": {shown}, not {want}')


def _known_codec(name: str | None) -> bool:
    if name is None:
        return True
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _damaged(folder: ModelFolder, why: str) -> UserError:
    return UserError(
        f"{folder.datasets} {why}; restore it from a copy of the model folder, or "
        f"{_readd(folder.datasets)}"
    )


def _read_manifest(folder: ModelFolder) -> object:
    """The manifest's parsed JSON ([] when absent), never read through a symlink."""
    path = folder.datasets
    try:
        fd = os.open(path, _NOFOLLOW)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _damaged(folder, "is a symbolic link, which a model folder must not hold")
        raise _damaged(folder, f"cannot be read ({exc.strerror})") from None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise _damaged(folder, "is not a regular file")
        raw = f.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _damaged(folder, "is corrupt (not JSON)") from None


def load_manifest(model_dir: str | os.PathLike) -> list[DatasetEntry]:
    """Every entry of datasets.json, each checked; UserError naming the file when damaged."""
    folder = ModelFolder(model_dir)
    data = _read_manifest(folder)
    if not isinstance(data, list):
        raise _damaged(folder, "is corrupt (not a JSON list)")
    entries = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise _damaged(folder, f"is corrupt (dataset {i} is not a JSON object)")
        try:
            entries.append(DatasetEntry.from_dict(item))
        except ValueError as exc:
            raise _damaged(folder, f"is corrupt (dataset {i} {exc})") from None
    return entries


def _save_manifest(folder: ModelFolder, entries: list[DatasetEntry]) -> None:
    atomic_write_json(folder.datasets, [asdict(e) for e in entries])


# ---- caches -----------------------------------------------------------------------------------
def data_dir(folder: ModelFolder, create: bool = False) -> Path:
    """The folder of the caches, refused when it is a symlink or not a folder (so no cache is
    read or written outside the model folder); made when `create`."""
    return folder.inner_dir(folder.data_dir, create, then="add the data again with --data FILE")


def open_cache(folder: ModelFolder, sha256: str, suffix: str = ".bin") -> IO[bytes] | None:
    """A cache file opened for reading, None when it is absent. Opened relative to the
    checked data/ folder and never through a symlink; UserError for a link or a non-file."""
    path = folder.cache(sha256, suffix)
    try:
        dir_fd = os.open(data_dir(folder), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(path.name, _NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be read ({exc})"
        raise UserError(f"{path} {why}; {_readd(path)}") from None
    finally:
        os.close(dir_fd)
    f = open(fd, "rb")
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise UserError(f"{path} is not a regular file; {_readd(path)}")
    return f


def cache_size(folder: ModelFolder, sha256: str, suffix: str = ".bin") -> int | None:
    """Size in bytes of a cache file, None when absent (checked as `open_cache` does)."""
    f = open_cache(folder, sha256, suffix)
    if f is None:
        return None
    with f:
        return os.fstat(f.fileno()).st_size


def _write_words(path: Path, docs: Iterable[str]) -> None:
    words: set[str] = set()
    for doc in docs:
        words |= words_in(doc)
    atomic_write_text(path, "\n".join(sorted(words)) + "\n")


def add_datasets(
    model_dir: str | os.PathLike,
    paths: Iterable[str | os.PathLike],
    tokenizer: Tokenizer,
    encoding: str | None = None,
    column: str | None = None,
) -> list[DatasetEntry]:
    """Tokenise files into the model's caches and list them in datasets.json.

    Every file is read and checked before anything is written, so one bad file adds nothing.
    A file whose content (sha256) is already listed is not read again; an existing .bin is
    reused, never re-tokenised. Returns one entry per distinct file, in order.
    """
    folder = ModelFolder(model_dir)
    entries = load_manifest(folder.path)
    data_dir(folder)  # a linked data/ is refused before any file is read
    by_sha = {e.sha256: e for e in entries}
    todo: list[tuple[DatasetEntry, list[str] | None]] = []
    seen: set[str] = set()
    for path in paths:
        p, raw = read_raw(path)
        sha = sha256_bytes(raw)
        if sha in seen:
            continue
        seen.add(sha)
        existing = by_sha.get(sha)
        if existing is not None and None not in (
            cache_size(folder, sha, ".bin"), cache_size(folder, sha, ".words")
        ):
            todo.append((existing, None))
            continue
        if existing is not None:  # a cache file went missing: rebuild it as first read
            docs, used, fmt, col = parse(p, raw, existing.encoding, existing.column)
        else:
            docs, used, fmt, col = parse(p, raw, encoding, column)
        entry = existing or DatasetEntry(
            path=str(p), sha256=sha, bytes=len(raw), tokens=0, added_at=now_iso(),
            encoding=used, format=fmt, column=col,
        )
        todo.append((entry, docs))

    result: list[DatasetEntry] = []
    changed = False
    for entry, docs in todo:
        if docs is not None:
            data_dir(folder, create=True)
            size = cache_size(folder, entry.sha256, ".bin") or -1
            if size > 0 and size % 2 == 0:
                tokens = size // 2  # cached already: reuse, never re-tokenise
            else:
                arr = np.ascontiguousarray(tokenizer.encode_to_array(docs), dtype=TOKEN_DTYPE)
                atomic_write_bytes(folder.cache(entry.sha256), memoryview(arr).cast("B"))
                tokens = int(arr.size)
            if cache_size(folder, entry.sha256, ".words") is None:
                _write_words(folder.cache(entry.sha256, ".words"), docs)
            if entry.sha256 not in by_sha:
                entry.tokens = tokens
                entries.append(entry)
                by_sha[entry.sha256] = entry
                changed = True
        result.append(entry)
    if changed:
        _save_manifest(folder, entries)
    return result


def load_corpus_words(model_dir: str | os.PathLike) -> set[str]:
    """Union of the .words lists of every dataset in the manifest (missing lists skipped)."""
    folder = ModelFolder(model_dir)
    words: set[str] = set()
    for entry in load_manifest(folder.path):
        f = open_cache(folder, entry.sha256, ".words")
        if f is None:
            continue
        with f:
            try:
                text = f.read().decode("utf-8")
            except UnicodeDecodeError:
                path = folder.cache(entry.sha256, ".words")
                raise UserError(f"{path} is damaged (not UTF-8); {_readd(path)}") from None
        words.update(w for w in text.split("\n") if w)
    return words
