"""check_output: exports and CSVs never land in a model folder, never replace what is not a
regular file, and replace an existing file only when forced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slavik_tui.errors import UserError
from slavik_tui.spec.folder import check_output


@pytest.fixture
def root(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    (models / "B").mkdir(parents=True)
    (models / "B" / "config.json").write_text("{}")
    (models / "B" / "model.safetensors").write_bytes(b"weights")
    return models


def refused(path, root, *needles, **kw) -> str:
    with pytest.raises(UserError) as exc:
        check_output(path, root, **kw)
    message = str(exc.value)
    for needle in needles:
        assert needle in message, message
    return message


def test_nothing_inside_the_models_folder(root, tmp_path, monkeypatch):
    for target in (root / "B" / "model.safetensors", root / "B" / "history.sqlite",
                   root / "B" / "new.csv", root / "x.safetensors", root):
        refused(target, root, "inside the models folder", force=True)
    # an hf folder there would be listed as a model
    refused(root / "exported", root, "inside the models folder", folder=True, force=True)
    # a relative path, or a link, that leads in is caught too
    link = tmp_path / "sneaky"
    link.symlink_to(root / "B")
    refused(link / "model.safetensors", root, "inside the models folder", force=True)
    monkeypatch.chdir(root / "B")
    refused("model.safetensors", root, "inside the models folder", force=True)


def test_only_regular_files_are_replaced_and_only_when_forced(root, tmp_path):
    out = tmp_path / "w.safetensors"
    assert check_output(out, root) == out  # missing: fine
    out.write_bytes(b"old")
    refused(out, root, "already exists", "--force")
    assert check_output(out, root, force=True) == out
    refused("/dev/null", root, "a device", "never replaced", force=True)
    refused(tmp_path, root, "a folder", f"{tmp_path / 'run.csv'}", force=True, example="run.csv")
    link = tmp_path / "link.csv"
    link.symlink_to(out)
    refused(link, root, "symbolic link", force=True)
    os.mkfifo(tmp_path / "fifo")
    refused(tmp_path / "fifo", root, "pipe", force=True)


def test_an_hf_export_needs_a_new_or_empty_folder(root, tmp_path):
    new = tmp_path / "hf"
    assert check_output(new, root, folder=True) == new
    new.mkdir()
    assert check_output(new, root, folder=True) == new  # empty: nothing to lose
    (new / "keep.txt").write_text("mine")
    refused(new, root, "a folder with files in it", force=True, folder=True)
    refused(new / "keep.txt", root, "a file", force=True, folder=True)
