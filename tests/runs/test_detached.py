"""Detached trainers: the argv comes from the options' metadata, the child never imports code
from the user's folder, and leftovers of a killed start are tidied by the next one."""

from __future__ import annotations

import os
import sys
import time

import pytest

from slavik_tui.cli import main
from slavik_tui.runs import start_detached, stop, train_command
from slavik_tui.spec.options import TrainOptions, options_argv
from slavik_tui.store.lock import lock_holder

TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]


def test_the_trainer_command_is_isolated_and_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = train_command("models", "m", options_argv(TrainOptions(iters=5, threads=1)))
    assert argv[:4] == [sys.executable, "-P", "-m", "slavik_tui"]
    assert argv[4:] == ["--models-dir", str(tmp_path / "models"), "train", "m",
                        "--iters", "5", "--threads", "1"]


@pytest.mark.slow
def test_a_detached_start_ignores_the_cwd_and_tidies_old_starts(tmp_path, models_dir,
                                                                corpus_file, monkeypatch):
    assert main(["new", "m", "--data", str(corpus_file), *TINY]) == 0
    runs = models_dir / "m" / "runs"
    runs.mkdir()
    old = time.time() - 3600
    for name, text in [("starting-aaaa.log", "run 7: training 'm' from step 0\nstep 1\n"),
                       ("starting-bbbb.log", "slavik-tui: error: something\n"),
                       ("starting-cccc.log", "")]:
        (runs / name).write_text(text)
        if name != "starting-cccc.log":  # cccc is recent: a start in progress may own it
            os.utime(runs / name, (old, old))

    # A folder a user might type the command in: modules named like ours and our deps.
    trap = tmp_path / "trap"
    trap.mkdir()
    marker = tmp_path / "imported-from-cwd"
    for module in ("safetensors", "numpy", "tokenizers", "torch"):
        (trap / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').write('{module}')\n")
    monkeypatch.chdir(trap)

    run = start_detached(models_dir, "m", options_argv(TrainOptions(
        iters=100_000, batch_size=2, eval_every=1000, save_every=1000, dtype="fp32")))
    try:
        assert lock_holder(models_dir / "m") == run.pid
        assert run.log_path == runs / f"{run.run_id}.log"
    finally:
        stop(models_dir / "m")
    assert not marker.exists(), f"the trainer imported {marker.read_text()} from the cwd"
    assert (runs / "7.log").read_text().startswith("run 7: training")
    assert not (runs / "starting-aaaa.log").exists()
    assert not (runs / "starting-bbbb.log").exists()
    assert (runs / "starting-cccc.log").exists()


@pytest.mark.slow
def test_a_detached_torchrun_start_and_stop(tmp_path, models_dir, corpus_file, capsys):
    """`train --nproc 2 --detach`: torchrun in the background, its run found through rank 0's
    lock, `stop` ends every rank; the ranks (which torchrun starts without -P) import nothing
    from the model folder, their cwd."""
    assert main(["new", "m", "--data", str(corpus_file), *TINY]) == 0
    model = models_dir / "m"
    marker = tmp_path / "imported-from-model-folder"
    for module in ("numpy", "safetensors", "torch"):
        (model / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').write('{module}')\n")
    capsys.readouterr()
    assert main(["train", "m", "--nproc", "2", "--detach", "--iters", "100000", "--threads", "1",
                 "--dtype", "fp32", "--eval-every", "1000", "--save-every", "1000"]) == 0
    out, err = capsys.readouterr()
    run_id = int(out.strip())
    assert "on 2 processes (torchrun pid" in err
    rank0 = lock_holder(model)
    assert rank0 and f"torchrun pid {rank0})" not in err  # the lock is rank 0's, not torchrun's
    assert stop(model) == rank0
    from slavik_tui.store.history import History

    with History(model / "history.sqlite", readonly=True) as h:
        assert h.run(run_id).status == "stopped"
    assert not marker.exists(), f"a rank imported {marker.read_text()} from the model folder"
    assert "run 1: training 'm'" in (model / "runs" / f"{run_id}.log").read_text()
