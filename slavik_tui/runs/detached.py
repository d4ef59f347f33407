"""Supervisor of detached trainers: start one that outlives the terminal, find it, stop it.

A detached trainer is `python -m slavik_tui train NAME ...` started in a new session
(`setsid`), so a terminal hang-up (an SSH drop, a closed tmux pane) never reaches it. Its
output goes to `models/NAME/runs/<run_id>.log`. The model's `.lock` names the live trainer;
`history.sqlite` says which run it is writing. No torch here: the app imports this module.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from slavik_tui.errors import UserError
from slavik_tui.proc import child_python
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.store.history import History, RunInfo
from slavik_tui.store.lock import lock_holder

ERROR_PREFIX = "slavik-tui: error: "


@dataclass
class DetachedRun:
    run_id: int
    pid: int
    log_path: Path


def train_command(models_root: Path, name: str, train_args: list[str],
                  command: str = "train") -> list[str]:
    """The argv of a trainer process (the CLI contract, so users can run the same line).
    `command` is the stage's command (`train`, `sft`, `rl`); `train_args` its flags, e.g.
    `spec.options.options_argv(opts)`, their paths absolute: the trainer runs in the model
    folder, never in the user's cwd (see slavik_tui.proc)."""
    return [*child_python(), "-m", "slavik_tui", "--models-dir", str(Path(models_root).resolve()),
            command, name, *train_args]


def torchrun_command(models_root: Path, name: str, train_args: list[str], opts,
                     command: str = "train") -> list[str]:
    """The launcher's argv when `opts` (TrainOptions or a stage's subclass) asks for several
    processes or machines: PyTorch's own `torch.distributed.run` (torchrun), started isolated
    (`python -P`), each of its processes running the stage's ordinary command. `train_args`
    are the ranks' flags, without the launch ones (`rank_argv`).

    One machine: `--standalone --nproc-per-node N` (a local rendezvous on a free port).
    Several: `--nnodes K --node-rank R --master-addr HOST --master-port P` (static
    rendezvous, the same line on every node but R), or `--rdzv-backend c10d
    --rdzv-endpoint HOST:PORT --rdzv-id ID` (the id: the model's name, the same on every node).
    """
    launcher = [*child_python(), "-m", "torch.distributed.run"]
    if opts.nnodes == 1 and opts.rdzv_endpoint is None:
        if opts.master_port is not None:  # a fixed port, e.g. to keep two runs apart
            launcher += ["--nnodes", "1", "--node-rank", "0", "--master-addr", "127.0.0.1",
                         "--master-port", str(opts.master_port)]
        else:
            launcher += ["--standalone"]
    elif opts.rdzv_endpoint is not None:
        launcher += ["--nnodes", str(opts.nnodes), "--rdzv-backend", "c10d",
                     "--rdzv-endpoint", opts.rdzv_endpoint, "--rdzv-id", f"slavik-{name}"]
    else:
        launcher += ["--nnodes", str(opts.nnodes), "--node-rank", str(opts.node_rank),
                     "--master-addr", opts.master_addr,
                     "--master-port", str(opts.master_port or 29500)]
    launcher += ["--nproc-per-node", str(opts.nproc), "--max-restarts", "0"]
    worker = train_command(models_root, name, train_args, command)[len(child_python()):]
    return [*launcher, *worker]


def rank_argv(opts) -> list[str]:
    """The flags every rank gets: `opts` without the launch ones (a rank never relaunches)."""
    import dataclasses

    from slavik_tui.spec.options import LAUNCH_KEYS, options_argv

    defaults = {f.name: f.default for f in dataclasses.fields(opts) if f.name in LAUNCH_KEYS}
    plain = dataclasses.replace(opts, **defaults)
    return options_argv(plain)


def launch_command(models_root: Path, name: str, opts, command: str = "train") -> list[str]:
    """The exact command that runs `opts` (what `--dry-run` prints and the form previews):
    torchrun over the ranks when several processes or machines are asked for, else the
    trainer itself. No torch imported (the app calls it for its preview)."""
    from slavik_tui.spec.options import check_launch

    check_launch(opts)
    if opts.launched:
        return torchrun_command(models_root, name, rank_argv(opts), opts, command)
    return train_command(models_root, name, rank_argv(opts), command)


def launcher_env() -> dict:
    """The environment of a trainer or launcher: unbuffered output, and PYTHONSAFEPATH so the
    ranks torchrun starts (`python -u -m slavik_tui`, without -P) are isolated from the cwd
    too."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1"}


def start_detached(models_root: Path, name: str, train_args: list[str],
                   timeout: float = 300.0, command: str = "train",
                   argv: list[str] | None = None) -> DetachedRun:
    """Start a trainer in its own session and wait until it has opened its run.

    Waiting (usually a few seconds: importing torch, reading the data) turns every early
    failure — a locked model, a bad file — into a one-line UserError here, instead of a run
    that dies unseen in the background.
    """
    model_dir = Path(models_root) / name
    holder = lock_holder(model_dir)
    if holder:
        raise UserError(
            f"model '{name}' is already being trained (pid {holder}); "
            f"watch it with `slavik-tui watch {name}` or stop it with `slavik-tui stop {name}`"
        )
    folder = ModelFolder(model_dir)
    runs_dir = folder.inner_dir(folder.runs_dir)  # a linked runs/ is refused
    _tidy_pending_logs(model_dir, older_than=timeout)
    pending = runs_dir / f"starting-{uuid.uuid4().hex[:8]}.log"
    env = launcher_env()
    with open(pending, "ab") as log:
        proc = subprocess.Popen(
            argv or train_command(models_root, name, train_args, command),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env, cwd=model_dir,
        )
    # A long-lived parent (the app) reaps the trainer when it ends, leaving no zombie behind;
    # when the parent exits first, init adopts the trainer, which runs on.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run_of_pid(model_dir, proc.pid)
        if run is None and argv is not None:  # a launcher: rank 0 (its child) holds the lock
            run = live_run(model_dir)
        if run is not None:
            log_path = ModelFolder(model_dir).run_log(run.id)
            os.replace(pending, log_path)  # the trainer keeps writing through its open fd
            return DetachedRun(run.id, proc.pid, log_path)
        code = proc.poll()
        if code is not None:
            raise UserError(_failure_line(pending, code))
        time.sleep(0.1)
    raise UserError(
        f"the trainer (pid {proc.pid}) has not started a run after {timeout:.0f} s; "
        f"see {pending}"
    )


_RUN_LINE = re.compile(rb"run (\d+): ")


def _tidy_pending_logs(model_dir: Path, older_than: float) -> None:
    """`starting-*.log` files left by a start whose parent was killed before the trainer opened
    its run. Only ones older than a start may wait are touched (a concurrent start may own a
    newer one), and only while no trainer holds the model: a log that names its run becomes
    runs/<id>.log, one that never got that far is removed."""
    folder = ModelFolder(model_dir)
    now = time.time()
    for log in folder.runs_dir.glob("starting-*.log"):
        try:
            st = os.lstat(log)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < older_than:
                continue
            with open(log, "rb") as f:
                found = _RUN_LINE.search(f.read(4096))
            target = folder.run_log(int(found.group(1))) if found else None
            if target is not None and not os.path.lexists(target):
                os.replace(log, target)
            else:
                os.unlink(log)
        except OSError:  # gone already, or not ours to touch: leave it
            continue


def _run_of_pid(model_dir: Path, pid: int) -> RunInfo | None:
    path = ModelFolder(model_dir).history
    if not path.exists():
        return None
    with History(path, readonly=True) as history:
        run_id = history.running_run_id(pid)
        if run_id is None:
            return None
        run = history.run(run_id)  # summarises this run only, not every run of the model
    return run if run.status == "running" else None


def _failure_line(log_path: Path, code: int) -> str:
    """The trainer's own one-line error, read back from its log."""
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        lines = []
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):]
    last = lines[-1] if lines else "no output"
    return f"the trainer exited with code {code} before starting ({last}); see {log_path}"


def live_run(model_dir: Path) -> RunInfo | None:
    """The run a live trainer is writing, or None when no trainer holds the model."""
    pid = lock_holder(model_dir)
    if not pid:
        return None
    return _run_of_pid(Path(model_dir), pid)


def stop(model_dir: Path, timeout: float = 120.0, wait: bool = True) -> int:
    """Ask the model's trainer to stop gracefully (SIGTERM: finish the step, checkpoint,
    exit). Returns the trainer's pid; with `wait`, returns once it has let go of the model."""
    model_dir = Path(model_dir)
    pid = lock_holder(model_dir)
    if not pid:
        raise UserError(f"no training is running for model '{model_dir.name}'")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    if wait:
        deadline = time.monotonic() + timeout
        while lock_holder(model_dir) == pid:
            if time.monotonic() > deadline:
                raise UserError(
                    f"the trainer (pid {pid}) is still finishing after {timeout:.0f} s; "
                    f"wait, or force it with `kill -9 {pid}` (loses steps since the last checkpoint)"
                )
            time.sleep(0.1)
    return pid
