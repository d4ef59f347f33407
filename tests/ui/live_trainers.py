"""Helpers for tests that start real detached trainers: find them, wait on them, kill them.

A detached trainer outlives the test that started it (that is the point), so every such test
ends with `kill_trainers(models_root)` in a `finally`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from slavik_tui.store.history import History
from slavik_tui.store.lock import lock_holder

# Train "forever" (stopped by the test), with evals often enough to see them arrive.
TRAIN_FIELDS = {"iters": "100000", "batch_size": "2", "eval_every": "5", "save_every": "50"}


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child not reaped yet) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def trainer_pids(models_root: Path) -> set[int]:
    """Pids of every trainer that holds a model lock or has a 'running' run under the root."""
    pids: set[int] = set()
    for model_dir in Path(models_root).iterdir():
        if not model_dir.is_dir():
            continue
        holder = lock_holder(model_dir)
        if holder and holder != os.getpid():
            pids.add(holder)
        path = model_dir / "history.sqlite"
        if path.exists():
            with History(path, readonly=True) as history:
                pids.update(r.pid for r in history.runs()
                            if r.status == "running" and r.pid and r.pid != os.getpid())
    return pids


def kill_trainers(models_root: Path) -> list[int]:
    """SIGKILL every trainer still alive under `models_root`; returns the pids killed."""
    killed = []
    for pid in trainer_pids(models_root):
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    return killed


def run_status(models_root: Path, name: str, run_id: int) -> str:
    with History(Path(models_root) / name / "history.sqlite", readonly=True) as history:
        return history.run(run_id).status


def wait_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
