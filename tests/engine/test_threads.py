"""Thread count: --threads and OMP_NUM_THREADS win, else the free cores; the tuner keeps the
faster of 1 and N threads by timing real steps; the trainer reports its choice."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from slavik_tui.engine import threads
from slavik_tui.engine.create import create_model
from slavik_tui.engine.trainer import TrainOptions, train
from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_requested_and_env_threads_win(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.choose_threads(3) == threads.ThreadChoice(3, "--threads", auto=False)
    assert threads.choose_threads(None) == threads.ThreadChoice(2, "OMP_NUM_THREADS", auto=False)


def test_auto_follows_the_free_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "free_cores", lambda interval=0.2: 1.1)  # one core busy
    choice = threads.choose_threads(None)
    assert choice.threads == 1 and choice.auto and "1.1 of 2 cores free" in choice.why
    monkeypatch.setattr(threads, "free_cores", lambda interval=0.2: 1.9)
    assert threads.choose_threads(None).threads == 2
    monkeypatch.setattr(threads, "free_cores", lambda interval=0.2: 0.0)  # all busy: still 1
    assert threads.choose_threads(None).threads == 1


def test_free_cores_from_per_core_idle_time(monkeypatch):
    samples = iter([
        {0: (100, 200), 1: (100, 200)},
        {0: (102, 300), 1: (198, 300)},  # core 0 busy (2% idle), core 1 idle (98%)
    ])
    monkeypatch.setattr(threads, "_cpu_times", lambda cpus: next(samples))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    assert threads.free_cores() == pytest.approx(1.0)


def test_free_cores_on_this_machine_is_sane():
    free = threads.free_cores(interval=0.05)
    assert 0.0 <= free <= threads.usable_cores() + 1e-9


def _drive(tuner: threads.ThreadTuner, step_time: dict[int, float], n: int,
           used: list[int] | None = None) -> list[str]:
    said = []
    for _ in range(n):
        tuner.before_step()
        count = torch.get_num_threads()
        if used is not None:
            used.append(count)
        line = tuner.after_step(step_time[count])
        if line:
            said.append(line)
    return said


def test_tuner_keeps_the_faster_choice_and_rechecks(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    tuner = threads.ThreadTuner(threads.ThreadChoice(2, "auto", auto=True),
                                check_every=20, first_check=3, probe_steps=3)
    assert torch.get_num_threads() == 2
    said = _drive(tuner, {1: 0.010, 2: 0.040}, 3 + 3)  # a busy neighbour: 1 thread wins
    assert tuner.threads == 1 and torch.get_num_threads() == 1
    assert said == ["threads: 1 (a step took 10 ms with 1, 40 ms with 2)"]
    said = _drive(tuner, {1: 0.030, 2: 0.012}, 20 + 3)  # the neighbour left: back to 2
    assert tuner.threads == 2 and torch.get_num_threads() == 2
    assert said == ["threads: 2 (a step took 12 ms with 2, 30 ms with 1)"]


def test_a_clearly_slower_trial_costs_one_step(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    tuner = threads.ThreadTuner(threads.ThreadChoice(1, "auto", auto=True),
                                check_every=10, first_check=3, probe_steps=3)
    used: list[int] = []
    assert _drive(tuner, {1: 0.010, 2: 0.060}, 30, used) == []
    assert tuner.threads == 1 and torch.get_num_threads() == 1
    assert used.count(2) == 3  # one step per check (steps 4, 15, 26), not three


def test_fixed_choice_is_never_tuned(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    tuner = threads.ThreadTuner(threads.ThreadChoice(2, "--threads", auto=False), first_check=0)
    assert _drive(tuner, {1: 0.001, 2: 1.0}, 20) == [] and torch.get_num_threads() == 2


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    cfg = ModelConfig(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)
    return create_model(Workspace(models_dir), "tiny", [str(corpus_file)], cfg,
                        report=lambda line: None)


def test_the_trainer_reports_its_choice(model_dir, monkeypatch):
    said: list[str] = []
    opts = TrainOptions(iters=10, batch_size=4, eval_every=1000, dtype="fp32", threads=1)
    summary = train(model_dir, opts, report=said.append)
    assert summary["threads"] == 1
    assert "1 threads: --threads" in said[0]
    assert any(line.startswith("step 10/10") and line.endswith("| threads 1") for line in said)
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
    assert run.config["threads"] == 1


def test_an_automatic_run_tunes_during_the_run(model_dir, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    said: list[str] = []
    opts = TrainOptions(iters=12, batch_size=4, eval_every=1000, dtype="fp32")
    summary = train(model_dir, opts, report=said.append)
    assert "auto:" in said[0] and summary["threads"] in (1, 2)
