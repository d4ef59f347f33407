"""The trainer: loss falls, exact resume after SIGKILL, graceful stop, one trainer per model,
NaN guard, crash-safe checkpoints."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.spec.config import ModelConfig
from slavik_tui.engine.create import create_model
from slavik_tui.engine.trainer import TrainingFailed, TrainOptions, lr_at, make_plan, train
from slavik_tui.errors import UserError
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace

TINY_CFG = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)
QUIET = dict(report=lambda line: None)


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    return create_model(Workspace(models_dir), "tiny", [str(corpus_file)],
                        ModelConfig(**TINY_CFG), **QUIET)


def opts(**kw) -> TrainOptions:
    base = dict(batch_size=4, eval_every=10, save_every=10, dtype="fp32")
    base.update(kw)
    return TrainOptions(**base)


def curve(model_dir: Path) -> dict[int, float]:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        arrays = h.steps_arrays()
    return dict(zip(arrays["step"].tolist(), arrays["loss"].tolist()))


def cli(models_dir: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "slavik_tui", "--models-dir", str(models_dir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw,
    )


def wait_until(predicate, timeout=60.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def test_thirty_steps_lower_the_loss(model_dir):
    train(model_dir, opts(iters=30, lr=3e-3, eval_every=30, save_every=30), **QUIET)
    losses = curve(model_dir)
    assert len(losses) == 30
    first = sum(losses[s] for s in range(1, 4)) / 3
    last = sum(losses[s] for s in range(28, 31)) / 3
    assert last < first - 0.8, (first, last)  # from ln(400) ≈ 6.0 to well below
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
        evals = h.evals_arrays(run.id)
    assert run.status == "finished" and run.last_step == 30
    assert len(evals["step"]) == 1
    assert 0.0 <= evals["reward"][0] <= 1.0 and evals["size_mb"][0] > 0
    assert evals["val_bpb"][0] > 0


def test_schedule_warmup_and_cosine():
    plan, resuming = make_plan(TrainOptions(iters=1000), 0, None)
    assert not resuming and plan["target_step"] == 1000 and plan["warmup"] == 100
    assert lr_at(plan, 1) == pytest.approx(plan["lr"] / 100)
    assert lr_at(plan, 100) == pytest.approx(plan["lr"])
    assert lr_at(plan, 1000) == pytest.approx(plan["lr"] * plan["min_lr_ratio"])
    assert lr_at(plan, 550) < lr_at(plan, 300)
    resumed, resuming = make_plan(TrainOptions(), 400, plan)
    assert resuming and resumed == plan
    fresh, resuming = make_plan(TrainOptions(iters=50), 1000, plan)
    assert not resuming and fresh["start_step"] == 1000 and fresh["target_step"] == 1050


def test_exact_resume_after_sigkill(model_dir, tmp_path):
    """A run killed with SIGKILL and resumed reproduces the uninterrupted run's losses."""
    twin_root = tmp_path / "twin"
    twin_root.mkdir()
    shutil.copytree(model_dir, twin_root / "tiny")
    args = ["train", "tiny", "--iters", "400", "--batch-size", "4", "--save-every", "25",
            "--eval-every", "1000", "--dtype", "fp32", "--lr", "2e-3"]

    reference = cli(twin_root, *args)
    out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    expected = curve(twin_root / "tiny")
    assert len(expected) == 400

    victim = cli(model_dir.parent, *args)
    wait_until(lambda: ckpt.saved_step(model_dir) >= 50 and max(curve(model_dir), default=0) >= 60)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    killed_at = max(curve(model_dir))
    saved = ckpt.saved_step(model_dir)
    assert saved < killed_at < 400, "the kill must land mid-run, past a checkpoint"

    resumed = cli(model_dir.parent, "train", "tiny", "--dtype", "fp32")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in out

    got = curve(model_dir)
    assert sorted(got) == list(range(1, 401)), "one curve: superseded steps are not repeated"
    assert got == expected  # bit-for-bit the same losses
    with History(model_dir / "history.sqlite", readonly=True) as h:
        runs = {r.id: r for r in h.runs()}
        all_rows = h.steps_arrays(include_superseded=True)
    first, second = sorted(runs)
    assert runs[first].status == "failed" and "died" in (runs[first].reason or "")
    assert runs[second].status == "finished" and runs[second].start_step == saved
    assert len(all_rows["step"]) == 400 + (killed_at - saved)


def test_detach_second_trainer_refused_and_graceful_stop(model_dir, capsys):
    from slavik_tui.cli import main

    root = str(model_dir.parent)
    code = main(["--models-dir", root, "train", "tiny", "--detach", "--iters", "100000",
                 "--batch-size", "4", "--save-every", "1000", "--eval-every", "1000",
                 "--dtype", "fp32"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = int(out.strip().splitlines()[0])
    log = model_dir / "runs" / f"{run_id}.log"
    assert log.exists()
    pid = int((model_dir / ".lock").read_text().strip())
    os.kill(pid, 0)
    # the detached trainer is in its own session: a terminal hang-up never reaches it
    assert os.getsid(pid) == pid != os.getsid(0)

    with pytest.raises(UserError, match="already being trained"):
        train(model_dir, opts(iters=5), **QUIET)
    code = main(["--models-dir", root, "train", "tiny", "--iters", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "already being trained" in err and len(err.strip().splitlines()) == 1

    wait_until(lambda: max(curve(model_dir), default=0) >= 5)
    code = main(["--models-dir", root, "stop", "tiny"])
    assert code == 0, capsys.readouterr().err
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)
    with History(model_dir / "history.sqlite", readonly=True) as h:
        run = h.run(run_id)
    assert run.status == "stopped"
    assert ckpt.saved_step(model_dir) == run.last_step  # checkpointed at the stop
    assert "stopped" in log.read_text()


def test_stale_lock_is_taken_over(model_dir):
    (model_dir / ".lock").write_text("999999\n")  # a pid that is not running
    train(model_dir, opts(iters=3), **QUIET)
    assert ckpt.saved_step(model_dir) == 3


def test_nan_guard_keeps_last_good_checkpoint(model_dir, monkeypatch):
    from slavik_tui.engine import model as model_module

    real_forward = model_module.GPT.forward
    calls = {"n": 0}

    def poisoned(self, idx, targets=None):
        logits, loss = real_forward(self, idx, targets)
        if self.training and targets is not None:
            calls["n"] += 1
            if calls["n"] > 13:
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(model_module.GPT, "forward", poisoned)
    good = None
    with pytest.raises(TrainingFailed, match="nan"):
        train(model_dir, opts(iters=30), **QUIET)
    assert ckpt.saved_step(model_dir) == 10
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
    assert run.status == "failed" and "nan" in run.reason and "--lr" in run.reason
    good = ckpt.load_weights(model_dir)
    assert all(torch.isfinite(v).all() for v in good.values())


def test_crash_mid_save_leaves_previous_checkpoint(model_dir, monkeypatch):
    train(model_dir, opts(iters=10), **QUIET)
    before = ckpt.load_weights(model_dir)
    weights = ckpt.serialize_weights({k: v + 1 for k, v in before.items()})
    state = ckpt.serialize_state({"step": 11})

    # 1) dies while writing the new weights: nothing committed
    real_write = ckpt.write_file_synced

    def dies_writing(path, data):
        real_write(path, data[: len(data) // 3])
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "write_file_synced", dies_writing)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(model_dir, weights, state, 11)
    monkeypatch.setattr(ckpt, "write_file_synced", real_write)
    assert ckpt.saved_step(model_dir) == 10
    assert all(torch.equal(before[k], v) for k, v in ckpt.load_weights(model_dir).items())
    ckpt.recover(model_dir)
    assert not list(model_dir.glob("*.new"))

    # 2) dies between the commit record and the renames: readers see the new checkpoint,
    #    and the next trainer rolls it forward
    real_replace = os.replace

    def dies_renaming(src, dst):
        if str(src).endswith(ckpt.NEW):
            raise OSError("power cut")
        return real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", dies_renaming)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(model_dir, weights, state, 11)
    monkeypatch.setattr(ckpt.os, "replace", real_replace)
    assert ckpt.saved_step(model_dir) == 11
    after = ckpt.load_weights(model_dir)
    assert all(torch.equal(before[k] + 1, v) for k, v in after.items())
    ckpt.recover(model_dir)
    assert not list(model_dir.glob("*.new"))
    assert ckpt.sha256_file(model_dir / ckpt.WEIGHTS) == ckpt.read_record(model_dir)["sha256"]


def test_train_adds_dataset_keeping_tokenizer(model_dir, tmp_path):
    from corpus import make_text

    extra = tmp_path / "extra.txt"
    extra.write_text(make_text(20_000, seed=7), encoding="utf-8")
    tok_before = (model_dir / "tokenizer.json").read_bytes()
    train(model_dir, opts(iters=2, data=[str(extra)]), **QUIET)
    assert (model_dir / "tokenizer.json").read_bytes() == tok_before
    info = Workspace(model_dir.parent).info("tiny")
    assert info.datasets == 2


# ---- the CUDA path, exercised on CPU (issue 10) ----------------------------------------------
def test_an_out_of_memory_step_ends_the_run_in_one_line_and_keeps_the_checkpoint(model_dir,
                                                                               monkeypatch):
    from slavik_tui.engine.train_loop import TrainLoop

    real = TrainLoop.train_step

    def step(self, n):
        if n == 13:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, n)

    monkeypatch.setattr(TrainLoop, "train_step", step)
    with pytest.raises(TrainingFailed) as err:
        train(model_dir, opts(iters=20, save_every=5), **QUIET)
    line = str(err.value)
    assert "\n" not in line and "out of memory" in line and "step 13" in line
    assert "(step 10) is kept" in line and "--batch-size 2 --grad-accum 2" in line
    assert ckpt.saved_step(model_dir) == 10
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
    assert run.status == "failed" and "out of memory" in run.reason
    # the advice works: the same flags train on from the kept checkpoint
    monkeypatch.setattr(TrainLoop, "train_step", real)
    summary = train(model_dir, opts(batch_size=2, grad_accum=2), **QUIET)
    assert summary["status"] == "finished" and summary["step"] == 20


def test_a_failing_torch_compile_falls_back_to_the_plain_model(model_dir, monkeypatch):
    def broken_compile(module, *args, **kwargs):
        def call(*a, **k):
            raise RuntimeError("BackendCompilerFailed: no C compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    lines: list[str] = []
    summary = train(model_dir, opts(iters=3, compile=True), report=lines.append)
    assert summary["status"] == "finished" and len(curve(model_dir)) == 3
    assert any("torch.compile failed (RuntimeError" in line and "training without it" in line
               for line in lines)


def test_a_compiled_run_reports_its_first_steps_time_once(model_dir, monkeypatch, tmp_path):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module, *a, **k: compiled.append(module) or module)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    lines: list[str] = []
    train(model_dir, opts(iters=3, compile=True), report=lines.append)
    assert len(compiled) == 1
    said = [line for line in lines if line.startswith("torch.compile: the first step took")]
    assert len(said) == 1 and "cached for the next" in said[0]


def test_compile_is_the_default_on_cuda_and_for_long_bf16_runs_of_big_models_on_a_cpu():
    from slavik_tui.engine.device import (
        CPU_COMPILE_MIN_PARAMS as P, CPU_COMPILE_MIN_STEPS as N, wants_compile)

    cuda, cpu, bf16, fp32 = torch.device("cuda"), torch.device("cpu"), torch.bfloat16, torch.float32
    assert wants_compile(False, False, cuda) and not wants_compile(False, True, cuda)
    assert not wants_compile(False, False, cpu) and wants_compile(True, False, cpu)
    assert wants_compile(False, False, cpu, bf16, P, N)  # where the compile pays for itself
    assert not wants_compile(False, False, cpu, fp32, P, N)
    assert not wants_compile(False, False, cpu, bf16, P - 1, N)  # tiny models stay eager
    assert not wants_compile(False, False, cpu, bf16, P, N - 1)  # and short runs
    assert not wants_compile(False, True, cpu, bf16, P, N)  # --no-compile wins
    # a stage whose shapes change (RL) never compiles unless asked, not even on CUDA
    assert not wants_compile(False, False, cuda, static_shapes=False)
    assert wants_compile(True, False, cuda, static_shapes=False)


def test_the_compile_cache_lives_in_the_users_cache_folder(monkeypatch, tmp_path):
    from slavik_tui.engine import device

    monkeypatch.setattr(device, "_USER_COMPILE_CACHE", None)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_x")  # torch's own default
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ours = tmp_path / "slavik-tui" / "inductor"
    assert device.compile_cache_dir() == ours
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(ours)
    monkeypatch.setattr(device, "_USER_COMPILE_CACHE", "/elsewhere")  # the user's choice wins
    assert device.compile_cache_dir() == Path("/elsewhere")


def test_a_step_that_cannot_fit_the_free_gpu_memory_is_refused_with_flags_that_fit():
    from slavik_tui.engine.device import check_step_fits, step_bytes

    cfg = ModelConfig(d_model=768, n_layers=12, n_heads=12, context=1024, vocab_size=32000)
    free = step_bytes(cfg, 8) / 0.8 + 1  # 8 sequences fit, 32 do not
    with pytest.raises(UserError) as err:
        check_step_fits(cfg, 32, 1, torch.device("cuda"), available=int(free))
    assert err.value.field == "batch_size"
    assert "--batch-size 8 --grad-accum 4" in str(err.value) and "cuda" in str(err.value)
    check_step_fits(cfg, 8, 4, torch.device("cuda"), available=int(free))  # the advice fits


def test_mfu_counts_six_n_plus_attention_and_knows_the_gpu_peaks():
    from slavik_tui.engine import mfu

    cfg = ModelConfig(**TINY_CFG)
    assert mfu.flops_per_token(cfg) == 6 * cfg.n_params + 12 * 1 * 32 * 32
    assert mfu.gpu_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert mfu.gpu_peak("NVIDIA H100 PCIe") == 756e12 and mfu.gpu_peak("NVIDIA A100-SXM4-80GB")
    assert mfu.gpu_peak("Some Future GPU") is None and mfu.mfu(cfg, 1e6, None) is None
    peak = mfu.cpu_peak(torch.float32, seconds=0.05, n=256)
    assert peak > 1e8 and mfu.cpu_peak(torch.float32) == peak  # measured once
    share = mfu.mfu(cfg, 1000.0, peak, devices=2)
    assert share == pytest.approx(mfu.flops_per_token(cfg) * 1000 / (2 * peak))


def test_gpu_readings_come_from_nvml_and_go_beside_the_eval(monkeypatch):
    import types

    from slavik_tui.engine.gpu_stats import GpuStats, describe
    from slavik_tui.engine.train_loop import TrainLoop

    fake = types.SimpleNamespace(
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByPciBusId=lambda bus: "h",
        nvmlDeviceGetHandleByIndex=lambda i: "h",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=97),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=41_000 * 2**20),
        nvmlDeviceGetTemperature=lambda h, sensor: 65,
        nvmlDeviceGetPowerUsage=lambda h: (_ for _ in ()).throw(RuntimeError("not supported")),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert GpuStats.open(torch.device("cpu")) is None
    gpu = GpuStats.open(torch.device("cuda", 0))
    stats = gpu.read()
    assert stats == {"gpu/util": 97.0, "gpu/mem_mb": 41_000.0, "gpu/temp_c": 65.0}
    assert describe(stats) == "GPU 97% 41,000 MB 65°C"

    logged = []
    loop = TrainLoop.__new__(TrainLoop)
    loop.run_id = 3
    loop.history = types.SimpleNamespace(log_metrics=lambda *a: logged.append(a))
    loop._log_gpu(gpu, 50)
    ((run_id, step, _t, values),) = logged
    assert (run_id, step, values) == (3, 50, stats)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: no readings, no error
    assert GpuStats.open(torch.device("cuda", 0)) is None
