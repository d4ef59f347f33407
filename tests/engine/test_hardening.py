"""Issue 8, engine side: a model with weights is never re-initialised, every piece of advice
works when followed, a full disk is one line and keeps the checkpoint, a bad --device,
--reward or --batch-size is refused before a run is recorded, children never import from the
user's cwd."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import torch

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine import device as device_module
from slavik_tui.engine.create import create_model
from slavik_tui.engine.trainer import TrainOptions, train
from slavik_tui.errors import DiskFull, UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace

TINY_CFG = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)
QUIET = dict(report=lambda line: None)


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    return create_model(Workspace(models_dir), "tiny", [str(corpus_file)],
                        ModelConfig(**TINY_CFG), **QUIET)


@pytest.fixture
def trained(model_dir: Path) -> Path:
    train(model_dir, opts(iters=10), **QUIET)
    return model_dir


def opts(**kw) -> TrainOptions:
    base = dict(batch_size=4, eval_every=1000, save_every=10, dtype="fp32")
    base.update(kw)
    return TrainOptions(**base)


def runs(model_dir: Path) -> list:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        return sorted(h.runs(), key=lambda r: r.id)  # oldest first


def steps(model_dir: Path) -> dict[int, float]:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        arrays = h.steps_arrays()
    return dict(zip(arrays["step"].tolist(), arrays["loss"].tolist()))


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text
    return text


def cli(models_dir: Path, *args: str, capsys) -> tuple[int, str, str]:
    from slavik_tui.cli import main

    code = main(["--models-dir", str(models_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


def lines(captured: list[str]):
    return lambda line: captured.append(line)


# ---- #3: a model with weights is never re-initialised -------------------------------------
@pytest.mark.parametrize("damage", ["missing", "step0", "garbage"])
def test_lost_record_is_rebuilt_from_weights_and_state(trained, damage):
    before = ckpt.load_weights(trained)
    record = trained / "checkpoint.json"
    if damage == "missing":
        record.unlink()
    elif damage == "step0":
        record.write_text(json.dumps({"step": 0}))
    else:
        record.write_text("{ not json")
    said: list[str] = []
    summary = train(trained, opts(iters=3), report=lines(said))
    assert summary["step"] == 13, "continued from step 10, not from a fresh model at 0"
    assert any("rebuilt from model.safetensors and trainer_state.pt (step 10)" in s for s in said)
    assert sorted(steps(trained)) == list(range(1, 14)), "old history not superseded"
    first, second = runs(trained)
    assert second.start_step == 10 and second.status == "finished"
    assert not weights_equal(before, ckpt.load_weights(trained))  # trained on, not replaced
    assert ckpt.saved_step(trained) == 13


def test_damaged_record_advice_works(trained, capsys):
    (trained / "checkpoint.json").write_text("garbage")
    with pytest.raises(UserError) as info:
        ckpt.saved_step(trained)
    advice = one_line(info.value)
    assert "delete" not in advice and "`slavik-tui train tiny`" in advice
    # readers are not blocked meanwhile: the weights on disk still load
    assert ckpt.load_weights(trained).keys()
    code, out, err = cli(trained.parent, "train", "tiny", "--iters", "2", "--batch-size", "4",
                         "--dtype", "fp32", capsys=capsys)
    assert code == 0, err
    assert ckpt.saved_step(trained) == 12


def test_lost_record_and_state_continue_with_a_fresh_optimizer(trained):
    (trained / "checkpoint.json").unlink()
    (trained / "trainer_state.pt").write_bytes(b"not a pickle")
    said: list[str] = []
    train(trained, opts(iters=2), report=lines(said))
    note = next(s for s in said if "fresh optimizer" in s)
    assert "step 10" in note and "trainer_state.pt" in note
    assert ckpt.saved_step(trained) == 12


def test_unloadable_weights_without_record_are_refused_and_the_advice_works(trained):
    (trained / "checkpoint.json").unlink()
    weights = trained / "model.safetensors"
    weights.write_bytes(b"\x00" * 100)
    with pytest.raises(UserError) as info:
        train(trained, opts(iters=2), **QUIET)
    advice = one_line(info.value)
    assert "not a valid safetensors file" in advice
    assert weights.read_bytes() == b"\x00" * 100, "refused, not overwritten"
    move = re.search(r"`mv (\S+) (\S+)`", advice)
    os.rename(move.group(1), move.group(2))
    train(trained, opts(iters=2), **QUIET)  # "train from scratch" works
    assert ckpt.saved_step(trained) == 2
    assert Path(move.group(2)).exists()


# ---- #12: every piece of advice works when followed ---------------------------------------
def test_weights_checksum_mismatch_advice_works(trained):
    weights = trained / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(UserError) as info:
        train(trained, opts(iters=2), **QUIET)
    advice = one_line(info.value)
    assert "does not match its checksum" in advice
    with pytest.raises(UserError):  # generation is refused the same way
        ckpt.load_model(trained)
    move = re.search(r"`mv (\S+) (\S+)`", advice)
    os.rename(move.group(1), move.group(2))
    said: list[str] = []
    train(trained, opts(iters=2), report=lines(said))
    assert any("from scratch" in s for s in said)
    assert ckpt.saved_step(trained) == 2
    ckpt.load_model(trained)


@pytest.mark.parametrize("damage", ["missing", "garbage", "mismatch"])
def test_damaged_trainer_state_advice_reset_optimizer_works(trained, damage, capsys):
    state = trained / "trainer_state.pt"
    before = ckpt.load_weights(trained)
    if damage == "missing":
        state.unlink()
    elif damage == "garbage":
        state.write_bytes(b"garbage")
    else:
        state.write_bytes(ckpt.serialize_state({"step": 10}))
    with pytest.raises(ckpt.StateUnusable) as info:
        train(trained, opts(iters=2), **QUIET)
    advice = one_line(info.value)
    assert "`slavik-tui train tiny --reset-optimizer`" in advice and "delete" not in advice
    assert weights_equal(before, ckpt.load_weights(trained)), "refused, nothing touched"
    code, out, err = cli(trained.parent, "train", "tiny", "--reset-optimizer", "--iters", "2",
                         "--batch-size", "4", "--dtype", "fp32", capsys=capsys)
    assert code == 0, err
    assert "fresh optimizer" in out
    assert ckpt.saved_step(trained) == 12
    assert sorted(steps(trained)) == list(range(1, 13))


def test_reset_optimizer_on_an_intact_checkpoint_keeps_weights_and_plan(trained):
    said: list[str] = []
    train(trained, opts(iters=2, reset_optimizer=True), report=lines(said))
    assert any("AdamW's moments start afresh" in s for s in said)
    assert ckpt.saved_step(trained) == 12


# ---- #8: a full disk ----------------------------------------------------------------------
def _no_space(*_args, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_train_keeps_checkpoint_and_history(trained, monkeypatch, capsys):
    before = ckpt.load_weights(trained)
    real_write = ckpt.write_file_synced

    def fills_disk(path, data):
        real_write(path, data[: len(data) // 3])
        _no_space()

    monkeypatch.setattr(ckpt, "write_file_synced", fills_disk)
    code, out, err = cli(trained.parent, "train", "tiny", "--iters", "10", "--batch-size", "4",
                         "--dtype", "fp32", "--save-every", "5", capsys=capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "error: disk full: could not write the checkpoint of step 15 in " in line
    assert "MB free" in line and "MB needed" in line and "free at least" in line
    assert "slavik-tui train tiny" in line
    run = runs(trained)[-1]
    assert run.status == "failed" and run.reason.startswith("disk full")
    assert ckpt.saved_step(trained) == 10
    assert weights_equal(before, ckpt.load_weights(trained))
    assert sorted(steps(trained)) == list(range(1, 16))  # every logged point kept
    assert not list(trained.glob("*.new")) and not list(trained.glob(".*.tmp"))


def test_disk_full_during_new_leaves_nothing(models_dir, corpus_file, monkeypatch):
    from slavik_tui.engine import create

    monkeypatch.setattr(create, "write_config", _no_space)
    with pytest.raises(DiskFull) as info:
        create_model(Workspace(models_dir), "full", [str(corpus_file)], ModelConfig(**TINY_CFG),
                     **QUIET)
    assert one_line(info.value).startswith("disk full: could not write the new model 'full'")
    assert list(models_dir.iterdir()) == []


@pytest.mark.parametrize("fmt", ["weights", "hf"])
def test_disk_full_during_export_leaves_nothing(trained, tmp_path, monkeypatch, fmt):
    from slavik_tui import atomic
    from slavik_tui.engine.export import export

    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    monkeypatch.setattr(atomic.os, "fsync", _no_space)
    with pytest.raises(DiskFull) as info:
        export(trained, out_dir / "x", fmt)
    assert one_line(info.value).startswith("disk full: could not write the ")
    assert list(out_dir.iterdir()) == []


def test_disk_full_on_a_real_tiny_disk(trained, tmp_path):
    """A real full tmpfs (needs root and unshare): one line, run failed with 'disk full'."""
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a private tmpfs needs root and unshare")
    mount = tmp_path / "disk"
    mount.mkdir()
    script = (
        f'set -e; mount -t tmpfs -o size=8m tmpfs "{mount}"; mkdir "{mount}/models"; '
        f'cp -a "{trained}" "{mount}/models/tiny"; '
        f'free=$(df --output=avail -B1 "{mount}" | tail -1); '
        f'fallocate -l $((free - 160 * 1024)) "{mount}/fill"; '
        f'set +e; "{sys.executable}" -P -m slavik_tui --models-dir "{mount}/models" train tiny '
        '--iters 20 --save-every 5 --eval-every 1000 --batch-size 4 --dtype fp32 '
        f'> "{tmp_path}/out" 2> "{tmp_path}/err"; echo $? > "{tmp_path}/rc"; '
        f'cp -a "{mount}/models/tiny" "{tmp_path}/after"'
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True,
                           text=True, timeout=300)
    if not (tmp_path / "rc").exists():
        pytest.skip(f"could not mount a tmpfs here: {probe.stderr.strip()[:200]}")
    err = (tmp_path / "err").read_text().strip().splitlines()
    assert (tmp_path / "rc").read_text().strip() == "2", err
    assert len(err) == 1 and "error: disk full: " in err[0], err
    after = tmp_path / "after"
    run = runs(after)[-1]
    assert run.status == "failed" and run.reason.startswith("disk full"), run.reason
    assert ckpt.saved_step(after) == 10
    ckpt.load_weights(after)
    assert not list(after.glob("*.new")) and not list(after.glob(".*.tmp"))


# ---- #9: refused before anything is recorded ----------------------------------------------
def test_bogus_and_absent_devices_are_one_line(trained):
    with pytest.raises(UserError, match=r"--device.*'bogus'"):
        ckpt.load_model(trained, device="bogus")
    with pytest.raises(UserError, match=r"--device.*'bogus'"):
        train(trained, opts(iters=1, device="bogus"), **QUIET)
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here")
    with pytest.raises(UserError, match="no CUDA GPU") as info:
        ckpt.load_model(trained, device="cuda")
    assert info.value.field == "device"
    with pytest.raises(UserError, match="no CUDA GPU"):
        train(trained, opts(iters=1, device="cuda"), **QUIET)
    assert len(runs(trained)) == 1, "no run recorded for a refused device"


@pytest.mark.parametrize("reward", ["os:getcwd", "os:sep", "json:dumps", "nosuchmodule:f"])
def test_a_reward_that_is_not_one_fails_before_the_run_opens(model_dir, reward):
    with pytest.raises(UserError) as info:
        train(model_dir, opts(iters=1, reward=reward), **QUIET)
    one_line(info.value)
    assert info.value.field == "reward"
    assert runs(model_dir) == [], "no empty run left behind"
    assert ckpt.saved_step(model_dir) == 0


def test_huge_batch_is_refused_with_flags_that_fit(model_dir, monkeypatch):
    cfg = ModelConfig.load(model_dir / "config.json")
    # as much memory as 16 sequences need (plus the headroom), so 64 cannot fit
    budget = int(device_module.step_bytes(cfg, 16) / device_module.HEADROOM) + 1
    monkeypatch.setattr(device_module, "available_bytes", lambda device: budget)
    with pytest.raises(UserError) as info:
        train(model_dir, opts(iters=1, batch_size=64), **QUIET)
    advice = one_line(info.value)
    assert info.value.field == "batch_size" and "--batch-size 64 needs about" in advice
    assert runs(model_dir) == []
    fit = re.search(r"use --batch-size (\d+) --grad-accum (\d+)", advice)
    batch, accum = int(fit.group(1)), int(fit.group(2))
    assert batch * accum == 64  # the same tokens per step
    summary = train(model_dir, opts(iters=1, batch_size=batch, grad_accum=accum), **QUIET)
    assert summary["status"] == "finished"


def test_batch_of_100000_is_refused_on_this_machine(model_dir):
    with pytest.raises(UserError, match="--batch-size 100000 needs about") as info:
        train(model_dir, opts(iters=1, batch_size=100_000), **QUIET)
    assert "--grad-accum" in one_line(info.value)


# ---- #5: children never import from the user's cwd -----------------------------------------
def test_autosave_child_ignores_modules_in_the_cwd(trained, tmp_path, monkeypatch):
    from slavik_tui.engine.train_loop import autosave_charts

    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "pwned"
    for name in ("plotext", "safetensors", "numpy", "rich"):
        (evil / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name} ')\n")
    monkeypatch.chdir(evil)
    monkeypatch.delenv("SLAVIK_NO_AUTOSAVE", raising=False)
    run_id = runs(trained)[-1].id
    autosave_charts(trained, run_id)
    svg = trained / "charts" / f"run-{run_id}.svg"
    deadline = time.monotonic() + 120
    while not svg.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert svg.exists(), "the autosave child ran"
    assert not marker.exists(), marker.read_text()


def test_child_python_is_isolated():
    import subprocess
    import sys

    from slavik_tui.proc import child_python

    argv = child_python()
    assert argv[0] == sys.executable and argv[1] in ("-P", "-I")
    out = subprocess.run([*argv, "-c", "import sys; print(repr(sys.path[0]))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() not in ("''", repr(os.getcwd()))


# ---- #14 and #15: leftovers and the hf folder's mode --------------------------------------
def test_killed_saves_and_exports_leave_nothing_for_long(trained, tmp_path):
    import subprocess
    import sys

    from slavik_tui.engine.export import export

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = child.pid
    stale_record = trained / f".checkpoint.json.{dead}.x1.tmp"
    stale_record.write_text("{")
    (trained / "model.safetensors.new").write_bytes(b"half")
    out = tmp_path / "hf"
    stale_export = tmp_path / f".hf.{dead}.y2.tmp"
    stale_export.mkdir()
    (stale_export / "model.safetensors").write_bytes(b"half")
    train(trained, opts(iters=1), **QUIET)
    assert not stale_record.exists() and not (trained / "model.safetensors.new").exists()
    export(trained, out, "hf")
    assert not stale_export.exists() and (out / "config.json").exists()


def test_killed_new_leaves_nothing_for_long(models_dir, corpus_file):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = models_dir / f".other.creating-{child.pid}"
    stale.mkdir()
    (stale / "tokenizer.json").write_text("{}")
    live = models_dir / f".busy.creating-{os.getpid()}"
    live.mkdir()
    create_model(Workspace(models_dir), "fresh", [str(corpus_file)], ModelConfig(**TINY_CFG),
                 **QUIET)
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("mask, expected", [(0o022, 0o755), (0o077, 0o700)])
def test_hf_export_folder_follows_the_umask(trained, tmp_path, mask, expected):
    from slavik_tui.engine.export import export

    old = os.umask(mask)
    try:
        out = export(trained, tmp_path / f"hf-{mask:o}", "hf")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == expected
    assert (out / "config.json").stat().st_mode & 0o777 == expected & 0o666


def test_export_onto_a_device_or_fifo_is_refused(trained, tmp_path):
    from slavik_tui.engine.export import export

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        export(trained, fifo, "weights")
    with pytest.raises(UserError, match="not a regular file"):
        export(trained, "/dev/null", "weights")
    assert os.path.exists("/dev/null") and not Path("/dev/null").is_file()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="symbolic link"):
        export(trained, link, "hf")


# ---- #6: a linked charts/ or runs/ is never written through ---------------------------------
@pytest.mark.parametrize("sub", ["charts", "runs"])
def test_linked_inner_folders_are_refused_and_the_advice_works(trained, tmp_path, sub):
    from slavik_tui.charts.autosave import autosave_run
    from slavik_tui.runs import start_detached

    outside = tmp_path / "outside"
    outside.mkdir()
    link = trained / sub
    if link.exists():
        shutil.rmtree(link)
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError) as info:
        if sub == "charts":
            autosave_run(trained, runs(trained)[-1].id)
        else:
            start_detached(trained.parent, trained.name, ["--iters", "1"])
    message = one_line(info.value)
    assert "symbolic link" in message and f"rm {link}" in message
    assert list(outside.iterdir()) == []
    os.remove(link)  # the advice, followed
    if sub == "charts":
        svg, csv_path = autosave_run(trained, runs(trained)[-1].id)
        assert svg.parent == link and svg.is_file() and not link.is_symlink()


def test_chart_saved_from_the_app_refuses_a_linked_charts_folder(tmp_path):
    from slavik_tui.ui.chart.save import prepare_save

    model = tmp_path / "m"
    model.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (model / "charts").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="symbolic link"):  # refused before anything is drawn
        prepare_save(model / "charts", None, "t", None)
    assert list(outside.iterdir()) == []
