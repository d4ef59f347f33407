"""Files that are always whole on disk: write a temp file, fsync, `os.replace`, fsync the dir.

Standard library only, so the engine, the store and the UI all share it.

- **Only files are replaced.** A target that exists and is not a regular file (a device such
  as /dev/null, a folder, a FIFO, a symlink) is refused with a `UserError`: `os.replace` would
  otherwise swap a device node or a link for a plain file.
- **Modes follow the umask**, like `open()`: 0644 under umask 022, 0600 under 077. The umask
  is read from /proc/self/status (Linux) or from a probe file; never by `os.umask(0)` and back,
  which would leave other threads creating files under umask 0 for that instant.
- **Temp names carry the writer's pid** (`.NAME.PID.XXXX.tmp`): a temp left by a process
  that was killed is removed by the next write of the same name, while a live writer's is kept.
- **A full disk is one line.** `on_disk_full(...)` turns ENOSPC/EDQUOT (and SQLite's "database
  or disk is full") into `DiskFull`, a `UserError` that says how much is free and needed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from slavik_tui.errors import DiskFull, UserError

MB = 1024 * 1024
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL, without importing sqlite3 here


# ---- modes --------------------------------------------------------------------------------
def current_umask() -> int:
    """The process umask, read without changing it."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _probe_umask()


def _probe_umask() -> int:
    """Where /proc is absent: create a file asking for 0777 and see what the umask left."""
    fd, path = tempfile.mkstemp(prefix=".slavik-umask-")
    os.close(fd)
    os.unlink(path)  # mkstemp forces 0600; os.open with O_EXCL honours the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777)
    try:
        return 0o777 & ~stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
        os.unlink(path)


def file_mode() -> int:
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    return 0o777 & ~current_umask()


# ---- what may be replaced -----------------------------------------------------------------
def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_replaceable(path: Path) -> None:
    """UserError unless `path` is absent or a regular file (links are not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path} is {_kind(st.st_mode)}, not a regular file; refusing to "
                        "replace it: choose a path to a new or ordinary file")


# ---- leftovers of killed writers ----------------------------------------------------------
def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(folder: Path, name: str) -> None:
    """Remove `.NAME.PID.*.tmp` files and folders in `folder` whose writer is no longer alive."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[^/]+\.tmp")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or pid_alive(int(found.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def temp_prefix(path: Path) -> str:
    """mkstemp/mkdtemp prefix for a temp beside `path` that remove_stale_temps recognises."""
    return f".{Path(path).name}.{os.getpid()}."


# ---- writing ------------------------------------------------------------------------------
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
    """Write `data` to a fresh `path` and fsync it (no rename: the caller decides when it goes
    live). A file or link already at `path` is unlinked first, never written through; a
    partial file is removed when the write fails (a full disk keeps no half file)."""
    path = Path(path)
    check_replaceable(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def replacing(path: Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temp file beside `path`; when the block ends without error, fsync it and
    `os.replace` it over `path` (then fsync the folder). On error the temp file is removed
    and `path` is untouched: readers see the old file or the whole new one, never half."""
    path = Path(path)
    check_replaceable(path)
    remove_stale_temps(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        check_replaceable(path)  # again: it may have changed while we wrote
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


# ---- a full disk --------------------------------------------------------------------------
def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL


def free_bytes(where: Path) -> int | None:
    """Free space on the disk holding `where` (its nearest existing folder), None if unknown."""
    where = Path(where).absolute()
    for folder in (where, *where.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def disk_full_error(where: Path, what: str, needed: int | None = None,
                    then: str = "run the command again") -> DiskFull:
    """The one line for a full disk: what could not be written, free and needed space."""
    free = free_bytes(where)
    have = f"{free / MB:.1f} MB free" if free is not None else "no space left"
    if needed:
        gap = max(1, -(-(needed - (free or 0)) // MB))
        space = f"{have}, about {needed / MB:.1f} MB needed; free at least {gap} MB there"
    else:
        space = f"{have}; free some space there"
    return DiskFull(f"disk full: could not write {what} in {where} ({space}) and {then}")


@contextmanager
def on_disk_full(where: Path, what: str, needed: int | None = None,
                 then: str = "run the command again") -> Iterator[None]:
    """Inside the block, a full disk raises `DiskFull` (one line) instead of an OSError."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(where, what, needed, then) from None
        raise


# ---- checksums ----------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's raw bytes (streamed, 1 MiB at a time)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
