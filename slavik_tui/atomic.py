"""Files that are always whole on disk: write a temp file, fsync, `os.replace`, fsync the dir.

Standard library only, so the engine, the store and the UI all share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from contextlib import contextmanager
from typing import IO, Any, Iterable, Iterator


_UMASK = os.umask(0)  # read once at import (os.umask can only be read by setting it)
os.umask(_UMASK)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file_synced(path: Path, data: bytes | memoryview) -> None:
    """Write `data` to `path` and fsync it (no rename: the caller decides when it goes live)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def replacing(path: Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temp file beside `path`; when the block ends without error, fsync it and
    `os.replace` it over `path` (then fsync the folder). On error the temp file is removed
    and `path` is untouched: readers see the old file or the whole new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Replace `path` with `data` atomically (creating its folder if needed)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as f:
        f.write(data)


def atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    """Replace `path` with UTF-8 text streamed line by line (large CSV exports)."""
    with replacing(path, "w", encoding="utf-8", newline="") as f:
        f.writelines(lines)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's raw bytes (streamed, 1 MiB at a time)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
