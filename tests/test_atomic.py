"""Whole-file writes: modes follow the umask, only regular files are replaced, leftovers of
killed writers are cleaned, a full disk is one line and leaves no temp file."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from slavik_tui import atomic
from slavik_tui.errors import DiskFull, UserError


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_(value: int) -> None:
        os.umask(value)

    yield set_
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_file_modes_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert atomic.current_umask() == mask
    assert atomic._probe_umask() == mask  # the fallback where /proc is absent agrees
    atomic.atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic.atomic_write_lines(tmp_path / "b.csv", ["a,b\n"])
    atomic.write_file_synced(tmp_path / "c.new", b"y")
    for name in ("a.bin", "b.csv", "c.new"):
        assert mode(tmp_path / name) == expected, name


def test_import_and_writes_never_flip_the_umask(tmp_path):
    """os.umask(0)-and-back is racy with threads: the module must not call it at all."""
    code = (
        "import os, sys\n"
        "def boom(*a): raise AssertionError('os.umask called')\n"
        "os.umask = boom\n"
        "from slavik_tui import atomic\n"
        f"atomic.atomic_write_text(__import__('pathlib').Path({str(tmp_path)!r}) / 'f', 'x')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _refused(path: Path) -> str:
    with pytest.raises(UserError) as info:
        atomic.atomic_write_bytes(path, b"new")
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "not a regular file" in message
    return message


def test_dev_null_is_never_replaced():
    with pytest.raises(UserError, match="a device"):
        atomic.check_replaceable(Path("/dev/null"))
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_device_node_is_refused(tmp_path):
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    assert "a device" in _refused(node)
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_fifo_folder_and_symlink_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "FIFO" in _refused(fifo)
    folder = tmp_path / "dir"
    folder.mkdir()
    assert "a folder" in _refused(folder)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "link"
    link.symlink_to(victim)
    assert "symbolic link" in _refused(link)
    with pytest.raises(UserError):
        atomic.write_file_synced(link, b"through the link")
    assert victim.read_text() == "keep me" and link.is_symlink()
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_file_synced_replaces_a_file_but_never_writes_through(tmp_path):
    path = tmp_path / "w.new"
    path.write_bytes(b"old, longer content")
    atomic.write_file_synced(path, b"new")
    assert path.read_bytes() == b"new"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temps_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    dead = _dead_pid()
    stale_file = tmp_path / f".checkpoint.json.{dead}.ab12cd.tmp"
    stale_file.write_text("half")
    stale_dir = tmp_path / f".checkpoint.json.{dead}.zz.tmp"
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"x")
    live = tmp_path / f".checkpoint.json.{os.getpid()}.ef34.tmp"  # a writer still at work
    live.write_text("in progress")
    other = tmp_path / f".other.json.{dead}.ab.tmp"  # another name: not ours to clean
    other.write_text("x")
    atomic.atomic_write_json(tmp_path / "checkpoint.json", {"step": 1})
    assert not stale_file.exists() and not stale_dir.exists()
    assert live.exists() and other.exists()


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(DiskFull) as info:
        with atomic.on_disk_full(tmp_path, "the CSV", needed=5 * atomic.MB):
            with atomic.replacing(target, "w") as f:
                f.write("partial")
                raise OSError(errno.ENOSPC, "No space left on device")
    message = str(info.value)
    assert message.startswith("disk full: could not write the CSV in ")
    assert "MB free" in message and "5.0 MB needed" in message and "free at least" in message
    assert "\n" not in message
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_disk_full_partial_synced_file_is_removed(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(DiskFull):
        with atomic.on_disk_full(tmp_path, "weights"):
            atomic.write_file_synced(tmp_path / "w.new", b"x" * 1000)
    assert not (tmp_path / "w.new").exists()


def test_sqlite_full_counts_as_disk_full():
    import sqlite3

    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert atomic.is_disk_full(exc)
    assert not atomic.is_disk_full(OSError(errno.EACCES, "denied"))
    with pytest.raises(PermissionError):  # other errors pass through untouched
        with atomic.on_disk_full(Path("."), "x"):
            raise PermissionError(errno.EACCES, "denied")
