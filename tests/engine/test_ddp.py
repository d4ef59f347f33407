"""Several processes through torchrun (issue 10): the same curve on 1 and 2 gloo processes,
exact resume of a 2-process run killed with SIGKILL, one curve in the history, the lock, and
the torchrun command line as torchrun itself parses it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine import distributed as dist
from slavik_tui.engine.create import create_model
from slavik_tui.engine.trainer import fit_world
from slavik_tui.errors import UserError
from slavik_tui.runs.detached import launch_command
from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.options import TrainOptions
from slavik_tui.store.history import History
from slavik_tui.store.lock import ModelLock, lock_holder
from slavik_tui.store.workspace import Workspace

TINY_CFG = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)
# A global batch of 2 micro-batches of 4: one per process on 2, accumulated on 1.
ARGS = ["--batch-size", "4", "--grad-accum", "2", "--dtype", "fp32", "--threads", "1",
        "--lr", "2e-3", "--eval-every", "1000", "--log-every", "1000"]


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    return create_model(Workspace(models_dir), "tiny", [str(corpus_file)],
                        ModelConfig(**TINY_CFG), report=lambda line: None)


def curve(model_dir: Path) -> dict[int, float]:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        arrays = h.steps_arrays()
    return dict(zip(arrays["step"].tolist(), arrays["loss"].tolist()))


def cli(models_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "slavik_tui", "--models-dir", str(models_dir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return out


def twin(model_dir: Path, root: Path) -> Path:
    root.mkdir()
    shutil.copytree(model_dir, root / "tiny")
    return root / "tiny"


def assert_same(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected), "one curve: every step once"
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, abs=1e-5), step


def test_two_gloo_processes_give_the_one_process_curve_and_resume_exactly(model_dir, tmp_path):
    iters = ["--iters", "60", "--save-every", "10"]
    one = twin(model_dir, tmp_path / "one")
    finish(cli(one.parent, "train", "tiny", *iters, *ARGS))
    expected = curve(one)
    assert len(expected) == 60

    two = twin(model_dir, tmp_path / "two")
    out = finish(cli(two.parent, "train", "tiny", *iters, *ARGS, "--nproc", "2"))
    assert "x 2 processes" in out
    assert_same(curve(two), expected)
    with History(two / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()  # rank 1 opened no run of its own
    assert run.status == "finished" and run.config["world_size"] == 2

    # Killed with SIGKILL mid-run (rank 0, the writer, first; then the launcher and rank 1):
    # the resumed 2-process run reproduces the uninterrupted curve.
    victim = cli(model_dir.parent, "train", "tiny", *iters, *ARGS, "--nproc", "2")
    deadline = time.monotonic() + 120
    while not (ckpt.saved_step(model_dir) >= 10 and max(curve(model_dir), default=0) >= 15):
        assert time.monotonic() < deadline and victim.poll() is None, "the run never got going"
        time.sleep(0.02)
    os.kill(lock_holder(model_dir), signal.SIGKILL)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    killed_at, saved = max(curve(model_dir)), ckpt.saved_step(model_dir)
    assert saved < killed_at < 60, "the kill must land mid-run, past a checkpoint"
    time.sleep(0.5)  # rank 1, killed with its group, lets go of its files
    out = finish(cli(model_dir.parent, "train", "tiny", "--nproc", "2", "--threads", "1",
                     "--dtype", "fp32"))
    assert "resuming" in out
    assert_same(curve(model_dir), expected)
    with History(model_dir / "history.sqlite", readonly=True) as h:
        runs = sorted(h.runs(), key=lambda r: r.id)
    assert [r.status for r in runs] == ["failed", "finished"]
    assert runs[1].start_step == saved


def test_a_second_launcher_is_refused_by_the_lock(model_dir, capsys):
    from slavik_tui.cli import main

    with ModelLock(model_dir):
        code = main(["--models-dir", str(model_dir.parent), "train", "tiny", "--nproc", "2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "already being trained" in err and "slavik-tui stop tiny" in err


def test_the_nnodes_command_is_what_torchrun_parses():
    from torch.distributed.run import get_args_parser

    opts = TrainOptions(iters=5, nproc=4, nnodes=2, node_rank=1, master_addr="10.0.0.1",
                        master_port=29400)
    argv = launch_command(Path("/m"), "tiny", opts)
    assert argv[1:4] == ["-P", "-m", "torch.distributed.run"]
    args = get_args_parser().parse_args(argv[4:])
    assert (args.nnodes, args.node_rank, args.nproc_per_node) == ("2", 1, "4")
    assert (args.master_addr, args.master_port, args.max_restarts) == ("10.0.0.1", 29400, 0)
    assert args.module and args.training_script == "slavik_tui"
    assert args.training_script_args == ["--models-dir", "/m", "train", "tiny", "--iters", "5"]

    rdzv = launch_command(Path("/m"), "tiny", TrainOptions(nproc=8, nnodes=3,
                                                            rdzv_endpoint="head:29400"))
    args = get_args_parser().parse_args(rdzv[4:])
    assert (args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id) == ("c10d", "head:29400",
                                                                      "slavik-tiny")
    one = get_args_parser().parse_args(launch_command(Path("/m"), "t", TrainOptions(nproc=2))[4:])
    assert args.nnodes == "3" and one.standalone and one.nproc_per_node == "2"
    # a plain run is the trainer itself, no launcher
    assert "torch.distributed.run" not in launch_command(Path("/m"), "t", TrainOptions())


def test_several_machines_need_node_zero_and_a_valid_rank():
    with pytest.raises(UserError, match="--master-addr HOST") as err:
        launch_command(Path("/m"), "t", TrainOptions(nnodes=2))
    assert err.value.field == "master_addr"
    with pytest.raises(UserError, match="below --nnodes 2"):
        launch_command(Path("/m"), "t", TrainOptions(nnodes=2, node_rank=2, master_addr="h"))


def test_the_global_batch_divides_among_the_ranks():
    world = dist.World(rank=1, local_rank=1, size=2, local_size=2)
    plan = {"grad_accum": 1, "batch_size": 4}
    assert fit_world(plan, world, fixed=False, report=lambda line: None)["grad_accum"] == 2
    with pytest.raises(UserError, match="--grad-accum 4") as err:
        fit_world({"grad_accum": 3, "batch_size": 4}, world, fixed=True, report=print)
    assert err.value.field == "grad_accum"
    # rank 1 of 2 with 4 micro-batches a step takes the step's micro-batches 2 and 3
    assert [dist.micro_index(5, m, 4, world) for m in range(dist.rank_accum(4, world))] == [22, 23]
    assert dist.world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1",
                                "LOCAL_WORLD_SIZE": "2"}) == dist.World(3, 1, 4, 2)
    assert dist.world_from_env({}) is dist.SINGLE


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def launched(model_dir: Path) -> tuple[subprocess.Popen, int, list[int]]:
    """A long 2-process run once it has logged a few steps: (the CLI, torchrun, the ranks)."""
    proc = cli(model_dir.parent, "train", "tiny", "--iters", "100000", "--save-every", "1000",
               *ARGS, "--nproc", "2")
    deadline = time.monotonic() + 120
    while max(curve(model_dir), default=0) < 5 if (model_dir / "history.sqlite").exists() \
            else True:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    (torchrun,) = children(proc.pid)
    ranks = children(torchrun)
    assert len(ranks) == 2
    return proc, torchrun, ranks


def test_sigterm_to_torchrun_stops_every_rank_with_a_checkpoint(model_dir):
    proc, torchrun, ranks = launched(model_dir)
    os.kill(torchrun, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped at step" in err
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
    assert run.status == "stopped" and ckpt.saved_step(model_dir) == run.last_step
    assert not any(Path(f"/proc/{pid}").exists() for pid in ranks)


def test_a_rank_that_dies_fails_the_run_and_keeps_the_checkpoint(model_dir):
    proc, torchrun, ranks = launched(model_dir)
    rank1 = next(pid for pid in ranks if pid != lock_holder(model_dir))
    os.kill(rank1, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "training failed" in err
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
    assert run.status == "failed" and run.reason
    assert ckpt.saved_step(model_dir) is not None
