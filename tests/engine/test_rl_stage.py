"""The GRPO stage on a tiny trained model: it raises a trivial reward, keeps its prompts apart
from what the evals and the lab score, resumes exactly after SIGKILL, stops gracefully,
detaches, and refuses bad input in one line before any run is recorded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import pytest

from corpus import make_text
from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine.create import create_model
from slavik_tui.engine.data import TokenData
from slavik_tui.engine.evals import eval_pairs
from slavik_tui.engine.reward import DEFAULT_SPEC, held_out_pairs
from slavik_tui.engine.rl import rl
from slavik_tui.engine.rl.prompts import ALIGN, LAB_SAMPLES, PromptPool, scored_windows, split
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.engine.trainer import TrainOptions, train
from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.options import options_argv
from slavik_tui.spec.rl_options import DEFAULT_REWARD, RLOptions
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace

HERE = Path(__file__).parent
CFG = dict(vocab_size=400, context=64, d_model=32, n_layers=1, n_heads=2)
QUIET = dict(report=lambda line: None)
SMALL = dict(batch_size=4, eval_batches=1, dtype="fp32", prompts=4, group=8, max_new=16)
FLAGS = ["--batch-size", "4", "--eval-batches", "1", "--dtype", "fp32", "--prompts", "4",
         "--group", "8", "--max-new", "16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny model trained for 40 steps (made once; each test copies it)."""
    root = tmp_path_factory.mktemp("trained")
    text = root / "corpus.txt"
    text.write_text(make_text(150_000), encoding="utf-8")
    (root / "models").mkdir()
    model_dir = create_model(Workspace(root / "models"), "tiny", [str(text)],
                             ModelConfig(**CFG), **QUIET)
    train(model_dir, TrainOptions(iters=40, batch_size=8, lr=3e-3, eval_every=40,
                                  dtype="fp32"), **QUIET)
    return model_dir


@pytest.fixture
def model_dir(trained, models_dir) -> Path:
    return Path(shutil.copytree(trained, models_dir / "tiny"))


def runs(model_dir: Path) -> list:
    path = model_dir / "history.sqlite"
    with History(path, readonly=True) as h:
        return sorted(h.runs(), key=lambda r: r.id)


def rl_losses(model_dir: Path, run_kind: str = "grpo") -> dict[int, float]:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        arrays = h.steps_arrays()
        first = min(r.start_step for r in h.runs() if r.kind == run_kind)
    return {s: v for s, v in zip(arrays["step"].tolist(), arrays["loss"].tolist()) if s > first}


def test_a_tiny_model_learns_a_trivial_reward_and_the_history_has_its_series(model_dir):
    summary = rl(model_dir, RLOptions(iters=40, lr=1e-2, reward="test_rl_rewards:letter_a",
                                      eval_every=20, **SMALL), **QUIET)
    assert summary["status"] == "finished" and summary["step"] == 80
    with History(model_dir / "history.sqlite", readonly=True) as h:
        run = [r for r in h.runs() if r.kind == "grpo"][0]
        metrics = h.metrics_arrays(run.id)
        steps = h.steps_arrays(run.id)
        evals = h.evals_arrays(run.id)
    reward = metrics["rl/reward"][1]
    assert len(reward) == 40 and len(steps["loss"]) == 40  # the chart's red line, per step
    first, last = reward[:10].mean(), reward[-10:].mean()
    assert last > 2 * first and last > first + 0.05, reward  # more "а", within seconds
    for name in ("rl/reward_std", "rl/rewards/test_rl_rewards:letter_a", "rl/entropy",
                 "rl/frac_reward_zero_std", "rl/completions/mean_length",
                 "rl/completions/min_length", "rl/completions/max_length", "rl/loss"):
        assert len(metrics[name][1]) == 40, name
    lengths = metrics["rl/completions/mean_length"][1]
    assert (lengths <= 16).all() and (metrics["rl/completions/min_length"][1] >= 1).all()
    assert "rl/kl" not in metrics  # no reference without --kl
    assert list(evals["step"]) == [60, 80] and (evals["val_bpb"] > 0).all()


def test_rl_prompts_never_touch_the_windows_evals_and_the_lab_score(model_dir):
    data = TokenData(model_dir, CFG["context"])
    tok = Tokenizer.load(model_dir / "tokenizer.json")
    span = 16 + 16 + ALIGN
    for eval_windows in (8, 0):  # the val loss's windows, and without them
        scored = scored_windows(data, eval_windows)
        spans = split(data, eval_windows, span)
        assert spans
        for k, start in spans:
            assert not any(p == k and s < start + span and start < e for p, s, e in scored)
    assert len(split(data, 0, span)) > len(split(data, 8, span))
    pool = PromptPool.build(data, tok, 8, 16, 1337, "tiny", wanted=4)
    assert pool.apart_from_val_loss
    rl_prompts = {p.prompt for p in pool.pairs}
    lab = {p.prompt for p in held_out_pairs(data, tok, LAB_SAMPLES)}
    evals = {p.prompt for p in eval_pairs(data, tok)}
    assert rl_prompts and not rl_prompts & lab and not rl_prompts & evals
    # a step's draw is a pure function of (seed, step)
    assert pool.draw(5, 4) == pool.draw(5, 4) != pool.draw(6, 4)
    # too many val-loss windows for a short split: apart from the reward-scored ones only
    crowded = PromptPool.build(data, tok, 10_000, 16, 1337, "tiny", wanted=4)
    assert not crowded.apart_from_val_loss and not {p.prompt for p in crowded.pairs} & lab


def test_options_defaults_and_argv_round_trip():
    assert DEFAULT_REWARD == DEFAULT_SPEC
    opts = RLOptions(iters=5, group=4, kl=0.1, std_norm=True, reward="prefix:1")
    from slavik_tui.cli.parser import build_parser, train_options

    args = build_parser().parse_args(["rl", "tiny", *options_argv(opts)])
    assert train_options(args, RLOptions) == opts
    from slavik_tui.errors import UserError

    for bad in (dict(group=1), dict(temperature=0.0), dict(clip=1.5), dict(data=["x.txt"]),
                dict(nproc=2), dict(grad_accum=2)):
        with pytest.raises(UserError):
            RLOptions(**bad).validate()


def main_lines(capsys, *argv: str) -> tuple[int, str, str]:
    from slavik_tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_untrained_model_gets_one_line_and_its_advice_works(models_dir, tmp_path, capsys):
    root = str(models_dir)
    corpus_file = tmp_path / "long.txt"
    corpus_file.write_text(make_text(150_000), encoding="utf-8")
    code, _, err = main_lines(capsys, "--models-dir", root, "new", "fresh", "--data",
                              str(corpus_file), "--vocab-size", "400", "--context", "64",
                              "--d-model", "32", "--layers", "1", "--heads", "2")
    assert code == 0, err
    code, _, err = main_lines(capsys, "--models-dir", root, "rl", "fresh", "--iters", "2",
                              *FLAGS)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "slavik-tui train fresh" in err and runs(models_dir / "fresh") == []
    advice = err.split("`")[1].split()  # run exactly what it says
    assert advice[:3] == ["slavik-tui", "train", "fresh"]
    code, _, err = main_lines(capsys, "--models-dir", root, *advice[1:], "--iters", "3",
                              "--batch-size", "4", "--dtype", "fp32")
    assert code == 0, err
    code, out, err = main_lines(capsys, "--models-dir", root, "rl", "fresh", "--iters", "2",
                                "--eval-every", "2", *FLAGS)
    assert code == 0, err
    assert [r.kind for r in runs(models_dir / "fresh")] == ["pretrain", "grpo"]


def test_the_default_completion_length_fits_a_short_context(model_dir, capsys):
    """Without --max-new the default 64 tokens are cut to what context 64 holds after the
    16-token prompt (it refused its own default: 'use --max-new 48 or less')."""
    flags = [f for f in FLAGS if f not in ("--max-new", "16")]
    code, _, err = main_lines(capsys, "--models-dir", str(model_dir.parent), "rl", "tiny",
                              "--iters", "1", "--group", "2", *flags)
    assert code == 0, err
    assert runs(model_dir)[-1].config["max_new"] == 48


@pytest.mark.parametrize("flags, words", [
    (["--reward", "chfr"], "unknown reward 'chfr'"),
    (["--reward", "chrf:-1"], "not a positive number"),
    (["--reward", "test_rl_rewards:wrong_shape"], "returned 1 scores"),
    (["--reward", "no_such_module:fn"], "cannot import module"),
    (["--max-new", "60"], "--max-new 48 or less"),
    (["--group", "1"], "--group must be at least 2"),
])
def test_bad_input_is_one_line_exit_2_before_any_run(model_dir, capsys, flags, words):
    before = len(runs(model_dir))
    code, _, err = main_lines(capsys, "--models-dir", str(model_dir.parent), "rl", "tiny",
                              "--iters", "2", *FLAGS, *flags)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert len(runs(model_dir)) == before


def cli(models_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(HERE)}
    return subprocess.Popen([sys.executable, "-m", "slavik_tui", "--models-dir",
                             str(models_dir), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_until(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def metric(model_dir: Path, name: str) -> dict[int, float]:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        steps, values = h.metrics_arrays(None, [name])[name]
    return dict(zip(steps.tolist(), values.tolist()))


def test_exact_resume_after_sigkill_with_kl_and_ppo_epochs(model_dir, tmp_path):
    """Killed mid-run and resumed with a bare `rl tiny`, the run logs bit for bit the losses
    and rewards of an uninterrupted one (sampling seeded by step, the reference weights and
    the reward spec kept in the checkpoint)."""
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copytree(model_dir, twin / "tiny")
    args = ["rl", "tiny", "--iters", "40", "--save-every", "5", "--eval-every", "1000",
            "--lr", "3e-3", "--kl", "0.05", "--ppo-epochs", "2",
            "--reward", "test_rl_rewards:letter_a,repetition:0.5", *FLAGS]
    reference = cli(twin, *args)
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    expected = rl_losses(twin / "tiny")
    assert sorted(expected) == list(range(41, 81))

    victim = cli(model_dir.parent, *args)
    wait_until(lambda: ckpt.saved_step(model_dir) >= 50
               and max(rl_losses(model_dir), default=0) >= 53)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    killed_at, saved = max(rl_losses(model_dir)), ckpt.saved_step(model_dir)
    assert saved < killed_at < 80, "the kill must land mid-run, past a checkpoint"

    resumed = cli(model_dir.parent, "rl", "tiny", "--dtype", "fp32")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in out
    assert rl_losses(model_dir) == expected
    for name in ("rl/reward", "rl/kl", "rl/clip_ratio", "rl/entropy"):
        assert metric(model_dir, name) == metric(twin / "tiny", name), name
    assert np.isfinite(list(metric(model_dir, "rl/kl").values())).all()
    kinds = [(r.kind, r.status) for r in runs(model_dir)]
    assert kinds == [("pretrain", "finished"), ("grpo", "failed"), ("grpo", "finished")]


def test_detach_then_stop_ends_the_run_gracefully(model_dir, capsys, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    root = str(model_dir.parent)
    code, out, err = main_lines(capsys, "--models-dir", root, "rl", "tiny", "--detach",
                                "--iters", "100000", "--save-every", "1000",
                                "--eval-every", "1000", *FLAGS)
    assert code == 0, err
    run_id = int(out.strip().splitlines()[0])
    pid = int((model_dir / ".lock").read_text().strip())
    assert os.getsid(pid) == pid != os.getsid(0)  # its own session: a hang-up never reaches it
    wait_until(lambda: len(rl_losses(model_dir)) >= 3)
    code, _, err = main_lines(capsys, "--models-dir", root, "stop", "tiny")
    assert code == 0, err
    with History(model_dir / "history.sqlite", readonly=True) as h:
        run = h.run(run_id)
    assert run.kind == "grpo" and run.status == "stopped"
    assert ckpt.saved_step(model_dir) == run.last_step  # checkpointed at the stop
    assert "stopped" in (model_dir / "runs" / f"{run_id}.log").read_text()


def test_dry_run_prints_the_rl_command(model_dir, capsys):
    code, out, err = main_lines(capsys, "--models-dir", str(model_dir.parent), "rl", "tiny",
                                "--iters", "5", "--kl", "0.1", "--dry-run")
    assert code == 0, err
    assert out.split()[-6:] == ["rl", "tiny", "--iters", "5", "--kl", "0.1"]
    assert "-P" in out.split() and len(runs(model_dir)) == 1  # nothing ran


def test_nan_guard_ends_the_run_and_keeps_the_last_good_checkpoint(model_dir, monkeypatch):
    from slavik_tui.engine.model import GPT
    from slavik_tui.engine.trainer import TrainingFailed

    real_forward = GPT.forward
    calls = {"n": 0}

    def poisoned(self, idx, targets=None):
        logits, loss = real_forward(self, idx, targets)
        if self.training and targets is None:  # the RL update's forward
            calls["n"] += 1
            if calls["n"] > 4 * 6:  # from step 7 on (4 groups a step)
                logits = logits * float("nan")
        return logits, loss

    monkeypatch.setattr(GPT, "forward", poisoned)
    with pytest.raises(TrainingFailed, match="nan"):
        rl(model_dir, RLOptions(iters=20, save_every=5, eval_every=100, **SMALL), **QUIET)
    assert ckpt.saved_step(model_dir) == 45  # 40 pretrained + 5
    run = runs(model_dir)[-1]
    assert run.kind == "grpo" and run.status == "failed" and "--lr" in run.reason
    assert all(torch.isfinite(v).all() for v in ckpt.load_weights(model_dir).values())
