"""Stopping a run: what a graceful stop is waiting for, and "stop now" (SIGKILL).

A graceful stop (SIGTERM, `runs.stop`) finishes the step under way, saves a checkpoint, runs
a last eval and exits; on a big model each of those can take a minute, so the progress line
says which one it is at (`stop_phase`). Stop now kills the trainer at once: the steps since
the last checkpoint are lost, the checkpoint itself is whole (it is written to a temporary
file and renamed), and the run is recorded as stopped with that reason, so Start resumes it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from slavik_tui.errors import UserError
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.store.history import History
from slavik_tui.store.lock import lock_holder

KILL_WAIT_SECONDS = 10.0


def saved_step(model_dir: Path) -> int:
    """The step of the model's last whole checkpoint (0 when none, or the record is damaged)."""
    try:
        return ModelFolder(model_dir).saved_step()
    except UserError:
        return 0


def stop_phase(stop_step: int | None, step: int | None, saved: int) -> str:
    """What a graceful stop waits for: `stop_step` the step shown when stop was asked,
    `step` the last one logged since, `saved` the last checkpoint's."""
    start = stop_step or 0
    now = step if step is not None else start
    if now <= start:
        text = f"stopping: finishing step {start + 1}…"
    elif saved < now:
        text = f"stopping: saving the checkpoint of step {now}…"
    else:
        text = f"stopping: step {now} saved; a last eval, then the trainer exits…"
    return text + f"  ctrl+t again: stop now (lose the steps after {saved})"


def kill_question(pid: int, step: int | None, saved: int) -> str:
    lost = max(0, (step or saved) - saved)
    return (f"Kill the trainer (pid {pid}) now instead of waiting for it?\n"
            f"The steps after the last checkpoint (step {saved}) are lost: about {lost}. "
            f"The checkpoint is kept and ctrl+r resumes from step {saved}.")


def kill_trainer(model_dir: Path) -> tuple[int, int | None, int]:
    """SIGKILL the model's trainer and record its run as stopped (the reason says it was
    killed and from which checkpoint it resumes). Returns (pid, run id, checkpoint step)."""
    from slavik_tui.runs import live_run

    model_dir = Path(model_dir)
    pid = lock_holder(model_dir)
    if not pid:
        raise UserError(f"no training is running for model '{model_dir.name}'")
    run = live_run(model_dir)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while lock_holder(model_dir) == pid:  # the lock goes with the process
        if time.monotonic() > deadline:
            raise UserError(f"the trainer (pid {pid}) did not die after SIGKILL; "
                            f"check it with `ps -p {pid}`")
        time.sleep(0.05)
    saved = saved_step(model_dir)
    if run is None:
        return pid, None, saved
    from slavik_tui.store.history.schema import died_reason

    with History(ModelFolder(model_dir).history) as history:
        now = history.run(run.id)
        # Unless it ended on its own in the meantime, the run still reads "running" (nobody
        # has noticed the death yet) or as died while running (a watcher's reaper was first).
        if now.pid == pid and (now.status == "running" or (
                now.status == "failed" and now.reason == died_reason(pid))):
            history.end_run(run.id, "stopped",
                            f"killed by the user (stop now); the steps after checkpoint "
                            f"{saved} were lost, resume from step {saved}")
    return pid, run.id, saved
