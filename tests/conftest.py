from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/corpus.py

from corpus import make_text  # noqa: E402

# Tests use the same thread count everywhere, so runs compare bit for bit.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Charts are autosaved by a background process when a run ends; tests that check it unset this.
os.environ.setdefault("SLAVIK_NO_AUTOSAVE", "1")


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(30_000), encoding="utf-8")
    return path


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("SLAVIK_MODELS_DIR", str(root))
    return root


TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]
