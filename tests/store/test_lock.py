"""store/lock.py: one trainer per model, with real processes holding the lock."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slavik_tui.errors import UserError
from slavik_tui.spec.folder import LOCK as LOCK_NAME
from slavik_tui.store.lock import ModelLock, lock_holder

REPO = Path(__file__).resolve().parents[2]


def follow_advice(message: str) -> None:
    """Run the shell command the message quotes in backticks, as a user would."""
    command = re.search(r"`([^`]+)`", message).group(1)
    subprocess.run(shlex.split(command), check=True)

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


# ---- a model folder from someone else (issue 8 #2) -----------------------------------------
def test_lock_symlink_is_refused_and_its_target_untouched(model_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    dangling = tmp_path / "not-yet"
    for target in (victim, dangling):  # a link to a file, and one that O_CREAT would create
        link = model_dir / LOCK_NAME
        link.symlink_to(target)
        with pytest.raises(UserError) as err:
            ModelLock(model_dir).acquire()
        msg = str(err.value)
        assert "symbolic link" in msg and "`rm " in msg and "\n" not in msg
        assert lock_holder(model_dir) is None  # a probe neither follows it nor fails
        assert victim.read_text() == "precious\n" and not dangling.exists()
        follow_advice(msg)  # the lock works again
        with ModelLock(model_dir):
            assert lock_holder(model_dir) == os.getpid()
        assert victim.read_text() == "precious\n" and not dangling.exists()


def test_lock_that_is_a_fifo_or_folder_is_refused_without_hanging(model_dir: Path) -> None:
    path = model_dir / LOCK_NAME
    for make in (os.mkfifo, os.mkdir):  # a FIFO would block a reader without O_NONBLOCK
        make(path)
        assert lock_holder(model_dir) is None
        with pytest.raises(UserError, match="not a regular file") as err:
            ModelLock(model_dir).acquire()
        follow_advice(str(err.value))
        with ModelLock(model_dir):
            assert lock_holder(model_dir) == os.getpid()


def test_train_through_a_lock_symlink_is_one_line_and_the_advice_works(
    models_dir: Path, corpus_file: Path, tmp_path: Path
) -> None:
    """`ln -s ~/victim models/S/.lock; slavik-tui train S` as the report did it."""
    from slavik_tui.engine.create import create_model
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.store.workspace import Workspace

    model = create_model(Workspace(models_dir), "S", [str(corpus_file)],
                         ModelConfig(vocab_size=400, context=32, d_model=32, n_layers=1,
                                     n_heads=2), report=lambda line: None)
    victim = tmp_path / "victim"
    victim.write_text("export PATH=...\n")
    (model / LOCK_NAME).symlink_to(victim)

    def train() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-P", "-m", "slavik_tui", "--models-dir", str(models_dir), "train",
             "S", "--iters", "2", "--batch-size", "2", "--eval-every", "2", "--save-every", "2"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    refused = train()
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "symbolic link" in lines[0] and "rm " in lines[0], lines
    assert victim.read_text() == "export PATH=...\n"
    follow_advice(lines[0])
    done = train()
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "export PATH=...\n"
