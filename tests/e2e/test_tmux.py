"""End to end in a real terminal: tmux runs the app; keys go in, the screen comes back as text.

Skipped where tmux is missing. Set SLAVIK_E2E_CAPTURES=DIR to keep the screen captures.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from corpus import make_text
from tmux_session import kill_trainers, training_scenario

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,
]


@pytest.fixture
def untrained_models(tmp_path: Path) -> Path:
    """models/tiny, created (tokenizer trained, data tokenised) but never trained."""
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.engine.create import create_model
    from slavik_tui.store.workspace import Workspace

    root = tmp_path / "models"
    root.mkdir()
    text = tmp_path / "corpus.txt"
    text.write_text(make_text(30_000), encoding="utf-8")
    create_model(Workspace(root), "tiny", [str(text)],
                 ModelConfig(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2),
                 report=lambda line: None)
    return root


def test_train_watch_lose_the_terminal_and_come_back(untrained_models, tmp_path):
    captures = Path(os.environ.get("SLAVIK_E2E_CAPTURES") or tmp_path / "captures")
    try:
        result = training_scenario(untrained_models, captures, log=print)
    finally:
        kill_trainers(untrained_models / "tiny")
    assert result["status"] == "stopped"
    for name in ("training-120x40.txt", "training-80x24.txt", "watch-120x40.txt"):
        assert (captures / name).read_text(encoding="utf-8").strip()
