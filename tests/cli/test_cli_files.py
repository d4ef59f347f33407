"""The CLI's commands that touch files: delete and rename (with the app's refusals), export and
`runs --csv` (never into a model folder, never over what is not theirs to replace), and
`models` (a damaged model is shown, never hidden). Each message's advice is followed."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import make_text

from slavik_tui.cli import main
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.store.lock import lock_holder

TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, _out, err = run(capsys, *argv)
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("slavik-tui: error: ") and "Traceback" not in err
    return line


def advised(message: str, verb: str) -> list[str]:
    """The `slavik-tui VERB ...` command a message advises, as argv for main()."""
    found = re.search(rf"`slavik-tui ({verb} [^`]*)`", message)
    assert found, message
    return shlex.split(found.group(1))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A models folder with a trained tiny model, copied for each test."""
    root = tmp_path_factory.mktemp("template") / "models"
    text = root.parent / "corpus.txt"
    text.write_text(make_text(30_000), encoding="utf-8")
    assert main(["--models-dir", str(root), "new", "tiny", "--data", str(text), *TINY]) == 0
    assert main(["--models-dir", str(root), "train", "tiny", "--iters", "6", "--batch-size",
                 "2", "--eval-every", "3", "--save-every", "3", "--dtype", "fp32"]) == 0
    return root


@pytest.fixture
def models(template, models_dir, capsys) -> Path:
    shutil.rmtree(models_dir)
    shutil.copytree(template, models_dir)
    capsys.readouterr()
    return models_dir


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def hold_lock(model_dir: Path) -> subprocess.Popen:
    """Another process that holds the model's lock, as a trainer does (SIGTERM ends it)."""
    code = ("import sys; from slavik_tui.store.lock import ModelLock; "
            f"lock = ModelLock({str(model_dir)!r}).acquire(); print('held', flush=True); "
            "sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


# ---- delete / rename ---------------------------------------------------------------------------
def test_delete_needs_yes_without_a_terminal_and_asks_on_one(capsys, models, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal: never read
    line = one_line_error(capsys, "delete", "tiny")
    assert "--yes" in line and (models / "tiny").is_dir()
    argv = advised(line, "delete")  # the advice: `slavik-tui delete tiny --yes`
    assert argv == ["delete", "tiny", "--yes"]

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    code, out, err = run(capsys, "delete", "tiny")
    assert code == 1 and "kept 'tiny'" in err and (models / "tiny").is_dir()
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    code, out, err = run(capsys, "delete", "tiny")
    assert code == 0 and "[y/N]" in err and out.strip() == "deleted model 'tiny'"
    assert not (models / "tiny").exists()
    assert "unknown model" in one_line_error(capsys, "delete", "tiny", "--yes")


def test_the_advice_to_delete_an_incomplete_model_works(capsys, models, monkeypatch):
    from slavik_tui.errors import UserError

    (models / "tiny" / "config.json").unlink()
    with pytest.raises(UserError) as exc:
        ModelFolder(models / "tiny").read_meta()
    argv = advised(str(exc.value), "delete")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    line = one_line_error(capsys, *argv)  # followed as written, without a terminal
    code, out, err = run(capsys, *advised(line, "delete"))  # ... and the advice it gives
    assert code == 0, err
    assert not (models / "tiny").exists()


def test_rename(capsys, models):
    code, out, err = run(capsys, "rename", "tiny", "small")
    assert code == 0 and out.strip() == "renamed model 'tiny' to 'small'", err
    assert (models / "small" / "config.json").is_file() and not (models / "tiny").exists()
    code, out, _ = run(capsys, "models", "--json")
    assert [m["name"] for m in json.loads(out)] == ["small"]
    assert "unknown model" in one_line_error(capsys, "rename", "tiny", "x")
    assert "invalid model name" in one_line_error(capsys, "rename", "small", "../x")
    shutil.copytree(models / "small", models / "other")
    assert "already exists" in one_line_error(capsys, "rename", "small", "other")


def test_delete_and_rename_refuse_a_model_being_trained(capsys, models):
    holder = hold_lock(models / "tiny")
    try:
        line = one_line_error(capsys, "delete", "tiny", "--yes")
        assert "while it is being trained" in line and str(holder.pid) in line
        assert "while it is being trained" in one_line_error(capsys, "rename", "tiny", "t2")
        assert (models / "tiny" / "model.safetensors").is_file()
        code, _, err = run(capsys, *advised(line, "stop"))  # `slavik-tui stop tiny`
        assert code == 0, err
        holder.wait(timeout=30)
        assert lock_holder(models / "tiny") is None
    finally:
        holder.kill()
        holder.wait()
    code, _, err = run(capsys, "delete", "tiny", "--yes")
    assert code == 0, err and not (models / "tiny").exists()


# ---- export / runs --csv -----------------------------------------------------------------------
def test_exports_never_overwrite_the_models_own_files(capsys, models, tmp_path):
    weights = models / "tiny" / "model.safetensors"
    history = models / "tiny" / "history.sqlite"
    before = weights.read_bytes(), history.read_bytes()
    for argv in (["export", "tiny", weights, "--format", "weights", "--force"],
                 ["export", "tiny", models / "exported", "--format", "hf"],
                 ["runs", "tiny", "--csv", "1", history, "--force"],
                 ["runs", "tiny", "--csv", "1", models / "tiny" / "run.csv"]):
        assert "inside the models folder" in one_line_error(capsys, *argv)
    assert (weights.read_bytes(), history.read_bytes()) == before
    code, out, _ = run(capsys, "models", "--json")
    assert [m["name"] for m in json.loads(out)] == ["tiny"]
    # the advice: write it outside
    code, _, err = run(capsys, "export", "tiny", tmp_path / "hf", "--format", "hf")
    assert code == 0, err
    assert (tmp_path / "hf" / "config.json").is_file()


def test_an_existing_file_is_replaced_only_with_force(capsys, models, tmp_path):
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"mine")
    csv = tmp_path / "run.csv"
    csv.write_text("mine")
    line = one_line_error(capsys, "export", "tiny", out, "--format", "weights")
    assert "already exists" in line and "--force" in line and out.read_bytes() == b"mine"
    line = one_line_error(capsys, "runs", "tiny", "--csv", "1", csv)
    assert "--force" in line and csv.read_text() == "mine"
    code, _, err = run(capsys, "export", "tiny", out, "--format", "weights", "--force")
    assert code == 0 and out.stat().st_size > 1000, err
    code, _, err = run(capsys, "runs", "tiny", "--csv", "1", csv, "--force")
    assert code == 0 and csv.read_text().startswith("kind,step"), err


def test_devices_links_and_folders_are_never_replaced(capsys, models, tmp_path):
    for argv in (["runs", "tiny", "--csv", "1", "/dev/null", "--force"],
                 ["export", "tiny", "/dev/null", "--format", "weights", "--force"]):
        assert "never replaced" in one_line_error(capsys, *argv)
    assert Path("/dev/null").is_char_device()
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    (tmp_path / "link.csv").symlink_to(target)
    assert "symbolic link" in one_line_error(capsys, "runs", "tiny", "--csv", "1",
                                             tmp_path / "link.csv", "--force")
    assert target.read_text() == "keep" and (tmp_path / "link.csv").is_symlink()
    assert "a folder" in one_line_error(capsys, "export", "tiny", tmp_path, "--format", "bf16")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert "folder with files" in one_line_error(capsys, "export", "tiny", tmp_path / "full",
                                                 "--format", "hf", "--force")


# ---- models: damaged ones are shown ------------------------------------------------------------
@pytest.mark.parametrize("model, field", [
    ({"rope_theta": "big"}, "rope_theta"),
    ({"d_model": "x"}, "d_model"),
    ({"tie_embeddings": "no"}, "tie_embeddings"),
    ([1], None),
])
def test_models_shows_a_damaged_model_and_keeps_the_others(capsys, models, model, field):
    shutil.copytree(models / "tiny", models / "bad")
    config = models / "bad" / "config.json"
    meta = json.loads(config.read_text())
    meta["model"] = {**meta["model"], **model} if isinstance(model, dict) else model
    config.write_text(json.dumps(meta))

    code, out, err = run(capsys, "models")
    assert code == 0 and "tiny" in out and "bad" not in out
    (line,) = [line for line in err.splitlines() if "'bad'" in line]
    assert "damaged model 'bad'" in line and str(config) in line and "Traceback" not in err
    if field:
        assert field in line
    assert " --" not in line, "an error about config.json names no command-line flag"

    code, out, _ = run(capsys, "models", "--json")
    entries = {m["name"]: m for m in json.loads(out)}
    assert entries["tiny"]["trained"] is True
    assert entries["bad"]["damaged"] is True and str(config) in entries["bad"]["error"]


# ---- generate --device ------------------------------------------------------------------------
def test_generate_with_a_bogus_device_is_one_line(capsys, models):
    line = one_line_error(capsys, "generate", "tiny", "hi", "--device", "bogus")
    assert "--device must be auto, cpu, cuda, cuda:N or mps, got 'bogus'" in line


def test_generate_on_cuda_without_a_gpu_is_one_line(capsys, models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    line = one_line_error(capsys, "generate", "tiny", "hi", "--device", "cuda")
    assert "cuda" in line and "--device cpu" in line
