"""store/lock.py: one trainer per model, with real processes holding the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slavik_tui.errors import UserError
from slavik_tui.store.lock import LOCK_NAME, ModelLock, lock_holder

REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import sys
    from slavik_tui.store.lock import ModelLock
    lock = ModelLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold until killed or stdin closes
    """
)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "славик"
    d.mkdir()
    return d


@pytest.fixture
def holder(model_dir: Path):
    """A child process holding the model's lock."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(model_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_lock_writes_pid_and_cleans_up(model_dir: Path) -> None:
    path = model_dir / LOCK_NAME
    assert lock_holder(model_dir) is None
    with ModelLock(model_dir) as lock:
        assert lock.held
        assert path.read_text() == f"{os.getpid()}\n"
        assert lock_holder(model_dir) == os.getpid()
    assert not lock.held
    assert not path.exists()
    assert lock_holder(model_dir) is None
    lock.release()  # idempotent


def test_second_lock_in_same_process_is_refused(model_dir: Path) -> None:
    with ModelLock(model_dir):
        with pytest.raises(UserError, match=rf"already being trained \(pid {os.getpid()}\)"):
            ModelLock(model_dir).acquire()
    with ModelLock(model_dir):  # free again after release
        pass


def test_child_holding_lock_refuses_then_dead_child_is_taken_over(
    model_dir: Path, holder: subprocess.Popen
) -> None:
    assert lock_holder(model_dir) == holder.pid
    with pytest.raises(UserError) as err:
        ModelLock(model_dir).acquire()
    msg = str(err.value)
    assert f"pid {holder.pid}" in msg
    assert "model 'славик' is already being trained" in msg
    assert "`slavik-tui stop славик`" in msg
    assert "\n" not in msg

    # probing many times must not disturb the holder
    for _ in range(50):
        assert lock_holder(model_dir) == holder.pid
    with pytest.raises(UserError):
        ModelLock(model_dir).acquire()

    holder.kill()  # SIGKILL: no cleanup code runs, the .lock file stays with its pid
    holder.wait(timeout=10)
    assert (model_dir / LOCK_NAME).read_text().strip() == str(holder.pid)
    assert lock_holder(model_dir) is None
    with ModelLock(model_dir) as lock:
        assert lock.held
        assert (model_dir / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        assert lock_holder(model_dir) == os.getpid()


def test_stale_lock_file_without_holder_is_taken_over(model_dir: Path) -> None:
    (model_dir / LOCK_NAME).write_text("999999999\n")
    assert lock_holder(model_dir) is None
    with ModelLock(model_dir):
        assert lock_holder(model_dir) == os.getpid()


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        ModelLock(tmp_path / "nope").acquire()
    assert lock_holder(tmp_path / "nope") is None


def test_acquire_twice_on_one_object_is_a_bug(model_dir: Path) -> None:
    lock = ModelLock(model_dir).acquire()
    try:
        with pytest.raises(RuntimeError):
            lock.acquire()
    finally:
        lock.release()
