"""store/workspace.py: model names, folders, and what the models list shows."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from slavik_tui.spec.config import ModelConfig
from slavik_tui.errors import UserError
from slavik_tui.store.history import History
from slavik_tui.store.lock import ModelLock
from slavik_tui.store.workspace import (
    ModelInfo, Workspace, resolve_models_dir, validate_name,
)

REPO = Path(__file__).resolve().parents[2]
GARBAGE = random.Random(8)  # garbage bytes, the same on every run
REQUIRED_JSON_KEYS = {
    "name", "params", "size_mb", "trained", "d_model", "layers", "heads", "vocab_size",
    "context", "datasets", "steps", "last_loss",
}


def make_model(
    root: Path, name: str, *, weights: int | None = 1_234_567, optimizer: int = 0,
    step: int = 300, datasets: int = 2, cache: int = 0, losses: tuple[float, ...] = (),
    cfg: ModelConfig | None = None,
) -> Path:
    """A model folder as the engine writes it, with fake weights of a known size."""
    cfg = cfg or ModelConfig(vocab_size=512, context=64, d_model=64, n_layers=2, n_heads=4)
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({
        "format_version": 1, "model": cfg.to_dict(),
        "tokenizer": {"type": "byte-level-bpe", "vocab_size": cfg.vocab_size,
                      "eot": "<|endoftext|>"},
        "created_at": "2026-01-02T03:04:05+00:00",
    }), encoding="utf-8")
    if weights is not None:
        (d / "model.safetensors").write_bytes(b"\0" * weights)
    if optimizer:
        (d / "trainer_state.pt").write_bytes(b"\1" * optimizer)
    (d / "checkpoint.json").write_text(json.dumps(
        {"step": step, "sha256": "0" * 64, "saved_at": "2026-01-02T04:00:00+00:00"}))
    (d / "datasets.json").write_text(json.dumps(
        [{"path": f"/data/{i}.txt", "sha256": str(i), "bytes": 10, "tokens": 5}
         for i in range(datasets)]))
    if cache:
        (d / "data").mkdir()
        (d / "data" / "abc.bin").write_bytes(b"\2" * cache)
    if losses:
        with History(d / "history.sqlite") as h:
            rid = h.start_run("pretrain", {}, 0, len(losses))
            for i, loss in enumerate(losses):
                h.log_step(rid, i, float(i), loss, 1e-3, 1.0, 100.0)
            h.end_run(rid, "finished")
    return d


def folder_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


# ---- models folder ------------------------------------------------------------------------
def test_resolve_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLAVIK_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_models_dir(None) == (tmp_path / "models").resolve()
    assert (tmp_path / "models").is_dir()
    monkeypatch.setenv("SLAVIK_MODELS_DIR", str(tmp_path / "env" / "deep"))
    assert resolve_models_dir(None) == (tmp_path / "env" / "deep").resolve()
    assert resolve_models_dir(str(tmp_path / "arg")) == (tmp_path / "arg").resolve()
    assert (tmp_path / "arg").is_dir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        resolve_models_dir(str(tmp_path / "afile"))


# ---- names --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["slavik", "славик", "m-1.2_x", "Модель_2", "a" * 64, "x..y"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..", "starts with a dot"),
        (".", "starts with a dot"),
        (".hidden", "starts with a dot"),
        ("", "is empty"),
        ("a" * 65, "65 characters long, the limit is 64"),
        ("my model", "' '"),
        ("a:b", "':'"),
        ("tab\there", "'\\t'"),
    ],
)
def test_invalid_names(name: str, rule: str) -> None:
    with pytest.raises(UserError) as err:
        validate_name(name)
    msg = str(err.value)
    assert rule in msg
    assert "e.g. 'slavik-1' or 'славик'" in msg  # an example of a valid name
    assert "\n" not in msg


def test_name_is_normalised_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "йога")
    assert decomposed != "йога"
    assert validate_name(decomposed) == "йога"


# ---- folders ------------------------------------------------------------------------------
def test_names_model_dir_and_unknown_model(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    make_model(tmp_path, "zeta")
    make_model(tmp_path, "alpha")
    make_model(tmp_path, "славик")
    (tmp_path / "no_config").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    assert ws.names() == ["alpha", "zeta", "славик"]
    assert ws.model_dir("славик") == tmp_path / "славик"
    with pytest.raises(UserError) as err:
        ws.model_dir("ghost")
    assert str(err.value) == (
        f"unknown model 'ghost' in {tmp_path}; see `slavik-tui models` "
        "or create it with `slavik-tui new ghost --data FILE`"
    )
    with pytest.raises(UserError, match="path separator"):
        ws.model_dir("../etc")
    assert Workspace(tmp_path / "missing").names() == []


def test_rename(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    make_model(tmp_path, "old", losses=(2.0, 1.5))
    make_model(tmp_path, "taken")
    with pytest.raises(UserError, match="already exists"):
        ws.rename("old", "taken")
    with pytest.raises(UserError, match="path separator"):
        ws.rename("old", "x/y")
    with pytest.raises(UserError, match="unknown model 'nope'"):
        ws.rename("nope", "other")
    new = ws.rename("old", "новое")
    assert new == tmp_path / "новое" and not (tmp_path / "old").exists()
    assert ws.names() == ["taken", "новое"]
    assert ws.info("новое").last_loss == 1.5  # the history moved with it
    assert not (new / ".lock").exists()


def test_rename_and_delete_refused_while_training(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    d = make_model(tmp_path, "busy")
    with ModelLock(d):
        with pytest.raises(UserError) as err:
            ws.rename("busy", "calm")
        assert f"while it is being trained (pid {os.getpid()})" in str(err.value)
        assert "`slavik-tui stop busy`" in str(err.value)
        with pytest.raises(UserError, match="cannot delete model 'busy' while it is being trained"):
            ws.delete("busy")
        assert d.is_dir() and (d / "config.json").is_file()
        assert ws.info("busy").running_pid == os.getpid()
    assert ws.info("busy").running_pid is None


def test_delete(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    make_model(tmp_path, "doomed", cache=100, losses=(1.0,))
    make_model(tmp_path, "kept")
    ws.delete("doomed")
    assert not (tmp_path / "doomed").exists()
    assert ws.names() == ["kept"]
    with pytest.raises(UserError, match="unknown model 'doomed'"):
        ws.delete("doomed")


# ---- info ---------------------------------------------------------------------------------
def test_info_figures_from_a_fabricated_folder(tmp_path: Path) -> None:
    cfg = ModelConfig(vocab_size=1000, context=128, d_model=96, n_layers=3, n_heads=6)
    d = make_model(tmp_path, "славик", cfg=cfg, weights=2_000_000, optimizer=4_000_000,
                   step=1500, datasets=3, cache=500_000, losses=(5.0, 4.0, 3.25))
    info = Workspace(tmp_path).info("славик")
    assert isinstance(info, ModelInfo)
    assert info.name == "славик" and info.path == d
    assert info.params == cfg.n_params
    assert info.config == cfg
    assert (info.d_model, info.n_layers, info.n_heads) == (96, 3, 6)
    assert (info.vocab_size, info.context) == (1000, 128)
    assert info.weights_mb == 2.0 and info.optimizer_mb == 4.0
    total = folder_bytes(d)
    assert info.size_mb == pytest.approx(total / 1e6)
    assert info.other_mb == pytest.approx((total - 6_000_000) / 1e6)
    assert info.other_mb > 0.5  # the token cache and the history count
    assert info.trained is True and info.steps == 1500 and info.datasets == 3
    assert info.last_loss == 3.25
    assert info.running_pid is None
    assert info.created_at == "2026-01-02T03:04:05+00:00"

    js = info.to_json_dict()
    assert REQUIRED_JSON_KEYS <= set(js)
    assert js["layers"] == 3 and js["heads"] == 6 and js["params"] == cfg.n_params
    assert js["size_mb"] == info.size_mb and js["trained"] is True
    json.dumps(js, allow_nan=False)


def test_untrained_and_sparse_folders(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    make_model(tmp_path, "fresh", weights=None, step=0, datasets=0)
    make_model(tmp_path, "zero_step", step=0)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"model": ModelConfig().to_dict()}))
    fresh, zero, b = ws.info("fresh"), ws.info("zero_step"), ws.info("bare")
    assert (fresh.trained, fresh.steps, fresh.weights_mb, fresh.last_loss) == (False, 0, 0.0, None)
    assert zero.trained is False
    assert (b.steps, b.datasets, b.trained, b.params) == (0, 0, False, ModelConfig().n_params)
    assert b.created_at  # falls back to the file time


def test_list_skips_folders_without_config_and_reports_broken_ones(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    make_model(tmp_path, "b")
    make_model(tmp_path, "a")
    (tmp_path / "half").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    errors: list[tuple[str, str]] = []
    assert [m.name for m in ws.list(errors)] == ["a", "b"]
    assert [name for name, _ in errors] == ["broken"]
    assert "not valid JSON" in errors[0][1]
    with pytest.raises(UserError, match="not valid JSON"):
        ws.info("broken")


def test_list_of_50_models_is_fast(tmp_path: Path) -> None:
    for i in range(50):
        make_model(tmp_path, f"m{i:02d}", weights=1000, losses=(3.0, 2.0) if i % 5 == 0 else ())
    ws = Workspace(tmp_path)
    t0 = time.perf_counter()
    infos = ws.list()
    elapsed = time.perf_counter() - t0
    assert len(infos) == 50
    assert [m.last_loss for m in infos[:6]] == [2.0, None, None, None, None, 2.0]
    assert elapsed < 1.5, f"listing 50 models took {elapsed:.2f} s"


def test_store_imports_no_torch_or_ui() -> None:
    code = (
        "import sys, slavik_tui.store.workspace, slavik_tui.store.history, "
        "slavik_tui.store.lock\n"
        "bad = [m for m in ('torch', 'textual', 'rich', 'plotext') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.strip() == ""


def test_last_loss_is_cached_until_the_history_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_model(tmp_path, "m", losses=(5.0, 4.0))
    ws = Workspace(tmp_path)
    assert ws.info("m").last_loss == 4.0
    opened = []
    real_init = History.__init__

    def counting_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args[0])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(History, "__init__", counting_init)
    assert [m.last_loss for m in ws.list()] == [4.0]
    assert opened == []  # unchanged history: no sqlite connection
    monkeypatch.setattr(History, "__init__", real_init)
    with History(tmp_path / "m" / "history.sqlite") as h:
        rid = h.start_run("pretrain", {})
        h.log_step(rid, 10, time.time(), 2.5, 1e-3, 1.0, 10.0)
        h.end_run(rid, "finished")
    assert ws.info("m").last_loss == 2.5


# ---- hostile and damaged folders (issue 8) -------------------------------------------------
def run_advice(message: str) -> None:
    """Run the shell command a message quotes in backticks, as a user would."""
    command = message.split("`")[1]
    subprocess.run(["bash", "-c", command], check=True)


@pytest.mark.parametrize(("model", "field"), [
    ({"rope_theta": "big"}, "rope_theta"),
    ({"d_model": "x"}, "d_model"),
    ({"n_layers": 2.5}, "n_layers"),
    ([1], "'model'"),
])
def test_config_with_a_wrong_type_is_one_line_and_hides_no_other_model(
    tmp_path: Path, model: object, field: str
) -> None:
    """`"rope_theta": "big"` or `"model": [1]` in one config.json broke every listing."""
    make_model(tmp_path, "a")
    bad = make_model(tmp_path, "bad")
    make_model(tmp_path, "c")
    meta = json.loads((bad / "config.json").read_text())
    meta["model"] = {**meta["model"], **model} if isinstance(model, dict) else model
    (bad / "config.json").write_text(json.dumps(meta))
    ws = Workspace(tmp_path)
    errors: list[tuple[str, str]] = []
    assert [m.name for m in ws.list(errors)] == ["a", "c"]
    assert [name for name, _ in errors] == ["bad"]
    msg = errors[0][1]
    assert str(bad / "config.json") in msg and field in msg and "\n" not in msg
    with pytest.raises(UserError) as err:
        ws.info("bad")
    assert str(err.value) == msg
    if isinstance(model, dict):
        assert err.value.field == field


def test_linked_model_folder_is_not_followed_and_the_advice_works(tmp_path: Path) -> None:
    root = tmp_path / "my models"  # the advice is a shell command: quoting matters
    make_model(root, "mine")
    outside = make_model(tmp_path / "somebody's folder", "theirs", losses=(2.0,))
    (root / "theirs").symlink_to(outside)
    ws = Workspace(root)
    errors: list[tuple[str, str]] = []
    assert [m.name for m in ws.list(errors)] == ["mine"]
    assert ws.names() == ["mine"]
    assert [name for name, _ in errors] == ["theirs"]
    assert "symbolic link" in errors[0][1] and str(outside) in errors[0][1]
    for call in (ws.model_dir, ws.info, ws.delete):
        with pytest.raises(UserError, match="symbolic link"):
            call("theirs")
    with pytest.raises(UserError, match="symbolic link"):
        ws.rename("theirs", "other")
    assert (outside / "config.json").is_file()  # nothing was done through the link
    run_advice(errors[0][1])
    errors.clear()
    assert [m.name for m in ws.list(errors)] == ["mine", "theirs"] and errors == []
    assert ws.info("theirs").last_loss == 2.0


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_new_are_removed_but_not_a_live_ones(tmp_path: Path) -> None:
    make_model(tmp_path, "m")
    dead = tmp_path / f".half.made.creating-{dead_pid()}"
    (dead / "data").mkdir(parents=True)
    (dead / "data" / "x.bin").write_bytes(b"\0" * 1000)
    mine = tmp_path / f".busy.creating-{os.getpid()}"  # this process is creating it right now
    mine.mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-target"
    outside.mkdir()
    (outside / "keep").write_text("x")
    linked = tmp_path / f".link.creating-{dead_pid()}"
    linked.symlink_to(outside)
    not_a_dir = tmp_path / f".file.creating-{dead_pid()}"
    not_a_dir.write_text("x")
    other = tmp_path / ".hidden"
    other.mkdir()
    ws = Workspace(tmp_path)
    assert ws.names() == ["m"]
    assert not dead.exists()
    assert mine.is_dir() and other.is_dir() and not_a_dir.is_file()
    assert linked.is_symlink() and (outside / "keep").is_file()
    again = [tmp_path / f".again.creating-{pid}" for pid in (dead_pid(), 0, 9_999_999_999)]
    for path in again:
        path.mkdir()
    assert sorted(ws.remove_leftovers()) == sorted(path.name for path in again)
    assert not any(path.exists() for path in again) and mine.is_dir()


def garble(history: Path) -> None:
    """A history.sqlite with SQLite's header but garbage pages, next to a garbage -wal."""
    data = history.read_bytes()
    history.write_bytes(data[:100] + GARBAGE.randbytes(len(data) - 100))
    history.with_name(history.name + "-wal").write_bytes(GARBAGE.randbytes(8192))


def test_garbage_history_next_to_a_wal_is_one_line_in_the_list_and_the_advice_works(
    tmp_path: Path,
) -> None:
    d = make_model(tmp_path, "m", losses=(3.0, 2.0))
    make_model(tmp_path, "ok", losses=(1.5,))
    garble(d / "history.sqlite")
    ws = Workspace(tmp_path)
    errors: list[tuple[str, str]] = []
    infos = ws.list(errors)
    assert [(m.name, m.last_loss) for m in infos] == [("m", None), ("ok", 1.5)]
    assert [name for name, _ in errors] == ["m"]
    msg = errors[0][1]
    assert f"{d / 'history.sqlite'} is not a readable SQLite database" in msg
    assert "history.sqlite-wal" in msg and "\n" not in msg
    assert ws.info("m").problems == [msg]
    assert ws.info("m").to_json_dict()["problems"] == [msg]
    # The advice: move the three files out of the folder; a fresh history starts.
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in ("history.sqlite", "history.sqlite-wal", "history.sqlite-shm"):
        if (d / name).exists():
            (d / name).rename(backup / name)
    with History(d / "history.sqlite") as h:
        rid = h.start_run("pretrain", {})
        h.log_step(rid, 1, time.time(), 0.5, 1e-3, 1.0, 10.0)
    errors.clear()
    assert [m.last_loss for m in ws.list(errors)] == [0.5, 1.5] and errors == []
