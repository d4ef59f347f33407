"""Fixtures of the UI tests: a models folder with a small trained model (made once per
session by the engine, copied for each test), and a fixed, fake one for snapshots.

Tests are plain functions that start the app with `run_app(root, body, size=...)`: it runs
the async `body(app, pilot)` once the first screen is up (no asyncio plugin is needed).
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from corpus import make_text

TINY = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)


def run_app(models_root: Path, body: Callable[..., Awaitable[None]], size=(80, 24),
            watch: str | None = None):
    """Start the app on `models_root` (with `watch`: on that model's Training screen) in a
    terminal of `size`, let it paint, then run `body(app, pilot)` (Textual's Pilot is async).
    Returns the app, closed."""
    from slavik_tui.ui.app import SlavikApp

    async def main() -> SlavikApp:
        app = SlavikApp(models_root, watch=watch)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await body(app, pilot)
        return app

    return asyncio.run(main())


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app work (workers, timers) until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.05)


def text_of(widget) -> str:
    """The plain text a widget shows (Rich renderables rendered on a wide console)."""
    from rich.console import Console

    visual = widget.render()
    renderable = getattr(visual, "_renderable", None)
    if renderable is None:
        return str(visual)
    console = Console(width=300, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def notifications(app) -> list[str]:
    """What the app has told the user so far (`SlavikApp.notified`), oldest first."""
    return [n.message for n in app.notified]


@pytest.fixture(scope="session")
def trained_source(tmp_path_factory) -> Path:
    """models/tiny: created and trained for 20 steps by the engine, once per session."""
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.engine.create import create_model
    from slavik_tui.engine.trainer import TrainOptions, train
    from slavik_tui.store.workspace import Workspace

    base = tmp_path_factory.mktemp("ui-source")
    root = base / "models"
    root.mkdir()
    text = base / "corpus.txt"
    text.write_text(make_text(30_000), encoding="utf-8")
    create_model(Workspace(root), "tiny", [str(text)], ModelConfig(**TINY),
                 report=lambda line: None)
    train(root / "tiny", TrainOptions(iters=20, batch_size=4, eval_every=10, save_every=10,
                                      dtype="fp32", device="cpu"), report=lambda line: None)
    return root


@pytest.fixture
def models_root(trained_source: Path, tmp_path: Path) -> Path:
    """A private copy of the trained models folder (tests rename, delete, add models)."""
    root = tmp_path / "models"
    shutil.copytree(trained_source, root)
    return root


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "texts" / "corpus.txt"
    path.parent.mkdir()
    path.write_text(make_text(30_000, seed=1), encoding="utf-8")
    return path


def make_untrained(root: Path, name: str = "raw") -> Path:
    """A copy of tiny without weights: what a model looks like before training."""
    dst = root / name
    shutil.copytree(root / "tiny", dst)
    for f in ("checkpoint.json", "model.safetensors", "trainer_state.pt", "history.sqlite",
              "history.sqlite-wal", "history.sqlite-shm"):
        (dst / f).unlink(missing_ok=True)
    return dst


# ---- fake model folders: fixed files, no clock, no training ---------------------------------
def write_config(folder: Path, config) -> None:
    """A model folder's config.json (docs/CONTRACTS.md) for a ModelConfig, with a fixed date."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "format_version": 1, "model": config.to_dict(),
        "tokenizer": {"type": "byte-level-bpe", "vocab_size": config.vocab_size,
                      "eot": "<|endoftext|>"},
        "created_at": "2025-03-01T12:00:00+00:00"}), encoding="utf-8")


def _fake_model(root: Path, name: str, cfg: dict, step: int, losses: list[float],
                datasets: list[tuple[str, int]]) -> None:
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.store.history import History

    config = ModelConfig(**cfg)
    d = root / name
    write_config(d, config)
    (d / "tokenizer.json").write_bytes(b"{}" + b" " * 20_000)
    (d / "datasets.json").write_text(json.dumps([
        {"path": f"/home/user/texts/{file}", "sha256": "0" * 64, "bytes": tokens * 3,
         "tokens": tokens, "added_at": "2025-03-01T12:00:00+00:00"}
        for file, tokens in datasets]), encoding="utf-8")
    if step:
        (d / "model.safetensors").write_bytes(bytes(config.n_params * 4))
        (d / "trainer_state.pt").write_bytes(bytes(config.n_params * 8))
        (d / "checkpoint.json").write_text(json.dumps({"step": step, "sha256": "0" * 64,
                                                       "saved_at": "2025-03-01T13:00:00+00:00"}))
    if losses:
        with History(d / "history.sqlite") as history:
            run_id = history.start_run("pretrain", {}, target_step=step, pid=1)
            for i, loss in enumerate(losses, start=1):
                history.log_step(run_id, i * step // len(losses), 1.7e9 + i, loss, 6e-4, 1.0,
                                 1000.0)
            history.end_run(run_id, "finished")


@pytest.fixture
def snapshot_root(tmp_path: Path, monkeypatch) -> Path:
    """Three fake models with fixed figures; HOME points here, so the header shows ~/models."""
    monkeypatch.setenv("HOME", str(tmp_path))
    root = tmp_path / "models"
    root.mkdir()
    _fake_model(root, "tiny", TINY, 20, [5.91, 5.42], [("corpus.txt", 14_062)])
    _fake_model(root, "tolstoy", dict(vocab_size=8000, context=256, d_model=256, n_layers=6,
                                      n_heads=8), 1200, [4.1, 3.2, 2.7512],
                [("war_and_peace.txt", 1_203_554), ("anna_karenina.txt", 954_120)])
    _fake_model(root, "славик", dict(vocab_size=2000, context=128, d_model=128, n_layers=4,
                                     n_heads=4), 0, [], [("chats.jsonl", 88_410)])
    return root
