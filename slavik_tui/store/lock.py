"""One trainer per model: an advisory `flock` on `models/<name>/.lock`.

The lock is the kernel's, not the file's: `flock` is released when the holder's last file
descriptor closes, which also happens when the process dies (even by SIGKILL). So a `.lock`
file left behind by a killed trainer is not a stale lock at all — the next trainer simply
takes it over. The file's text (the holder's pid and a newline) is only there so that others
can say *who* holds it and `slavik-tui stop` can signal it.

The file is opened with O_NOFOLLOW and must be a regular file: a model folder may come from
someone else, and a `.lock` linked to ~/.bashrc would otherwise be truncated.

Release order matters (see `ModelLock.release`): truncate, unlink while still holding the
lock, then close. A trainer racing us may have opened the old path just before the unlink;
after it gets the flock it checks that the path still names the inode it locked, and starts
over if not, so two trainers can never both "hold" the lock on different inodes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import stat
import time
from pathlib import Path

from slavik_tui.errors import UserError
from slavik_tui.spec.folder import ModelFolder

# O_NOFOLLOW: a model folder may come from someone else, and a `.lock` symlink to ~/.bashrc
# must not be created through, truncated or written. O_NONBLOCK: opening a FIFO planted there
# must not hang (it has no effect on a regular file).
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PID_WAIT_S = 0.5  # a new holder writes its pid microseconds after flock(); wait at most this


def pid_alive(pid: int) -> bool:
    """Is there a process with this pid (ours or someone else's)? Pids read from disk may be
    anything: 0 and negatives would ask about process groups, huge ones overflow."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_pid(fd: int) -> int | None:
    """The pid written in the lock file, or None while it is empty or garbled."""
    try:
        text = os.pread(fd, 64, 0)
    except OSError:
        return None
    try:
        pid = int(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return pid if pid > 0 else None


def _same_file(fd: int, path: Path) -> bool:
    """Does `path` still name the inode `fd` has open (not unlinked or replaced)?"""
    try:
        st = os.lstat(path)  # a link put in its place is not the file we locked
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def _would_block(exc: OSError) -> bool:
    return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def _not_a_lock_file(path: Path) -> UserError:
    quoted = shlex.quote(str(path))
    if path.is_symlink():
        kind, remove = "a symbolic link", f"rm {quoted}"  # removes the link, not its target
    else:
        kind, remove = "not a regular file", f"rm -r {quoted}"
    return UserError(
        f"{path} is {kind}, so slavik-tui will not open it as the model's lock (it may point "
        f"at a file of yours); remove it with `{remove}` and run the command again"
    )


def _open_lock(path: Path, flags: int) -> int:
    """A descriptor on the lock file itself, never through a link, only a regular file."""
    try:
        fd = os.open(path, flags | _OPEN_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR):
            raise _not_a_lock_file(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_lock_file(path)
    return fd


class ModelLock:
    """Exclusive right to train (write) one model folder.

    `with ModelLock(model_dir): ...` or `acquire()` / `release()`. Raises UserError when a
    live trainer already holds it; a lock left by a dead process is taken over.
    """

    def __init__(self, model_dir: str | os.PathLike) -> None:
        self.model_dir = Path(model_dir)
        self.path = ModelFolder(self.model_dir).lock
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "ModelLock":
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this ModelLock")
        if not self.model_dir.is_dir():
            raise UserError(
                f"model folder {self.model_dir} does not exist; "
                "see `slavik-tui models` for the models you have"
            )
        deadline = time.monotonic() + _PID_WAIT_S
        while True:
            fd = _open_lock(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if not _would_block(exc):
                    os.close(fd)
                    raise
                pid = _read_pid(fd)
                replaced = not _same_file(fd, self.path)
                os.close(fd)
                # Retry briefly when the holder is mid-release (file unlinked or empty) or a
                # `lock_holder` probe holds LOCK_SH for a moment over a dead trainer's pid.
                if (replaced or pid is None or not pid_alive(pid)) and (
                    time.monotonic() < deadline
                ):
                    time.sleep(0.01)
                    continue
                name = self.model_dir.name
                shown = pid if pid is not None else "unknown"
                raise UserError(
                    f"model '{name}' is already being trained (pid {shown}); "
                    f"stop it with `slavik-tui stop {name}` or wait"
                ) from None
            if not _same_file(fd, self.path):
                # The previous holder unlinked the path between our open() and flock():
                # we locked an orphan inode. Start over on the current path.
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return self

    def release(self) -> None:
        """Truncate, unlink while still holding the flock, then close (which unlocks)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            if _same_file(fd, self.path):  # the folder may have been renamed or deleted
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
        finally:
            os.close(fd)

    def __enter__(self) -> "ModelLock":
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __del__(self) -> None:  # a forgotten lock is released with the object
        if getattr(self, "_fd", None) is not None:
            try:
                os.close(self._fd)  # type: ignore[arg-type]
            except OSError:
                pass


def lock_holder(model_dir: str | os.PathLike) -> int | None:
    """Pid of the live trainer holding `model_dir`'s lock, or None if nobody holds it.

    Probes with a non-blocking shared lock on a separate descriptor, released at once, so a
    holder is never disturbed (a trainer starting in that microsecond retries, see acquire).
    """
    path = ModelFolder(model_dir).lock
    try:
        fd = _open_lock(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UserError:  # a link or a FIFO there: nobody can hold it (acquire refuses it too)
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if not _would_block(exc):
                raise
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        deadline = time.monotonic() + _PID_WAIT_S
        while True:
            pid = _read_pid(fd)
            if pid is not None or time.monotonic() >= deadline:
                # None here means a holder that never wrote its pid: nothing we could signal.
                return pid
            time.sleep(0.01)
    finally:
        os.close(fd)
