"""How big a model folder is: the model's size (its checkpoint) and what else the folder holds.

The size of a model is one figure, the checkpoint a user would download to use it or go on
training it — weights + optimizer state — and `checkpoint_bytes` is the one function that
computes it, for the Models list (store/workspace.py) and for the trainer's size line
(engine/train_loop.py). The history, the token caches and the logs are counted apart.
"""

from __future__ import annotations

import os
from pathlib import Path

from slavik_tui.spec.folder import STATE, WEIGHTS


def folder_sizes(path: Path) -> tuple[int, dict[str, int]]:
    """Total apparent size of every file under `path`, and the size of each top-level entry
    (a file's own size, a folder's whole contents)."""
    total = 0
    top: dict[str, int] = {}
    stack: list[tuple[Path, str | None]] = [(path, None)]
    while stack:
        folder, under = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = under or entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), name))
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    total += size
                    top[name] = top.get(name, 0) + size
            except OSError:  # vanished while we looked (a checkpoint being replaced)
                continue
    return total, top


def checkpoint_bytes(model_dir: str | os.PathLike) -> int | None:
    """The size of a model: the checkpoint a user would download to use it or train it on,
    the weights + the optimizer state (model.safetensors + trainer_state.pt); None before
    the first save. The Models list and the chart's size line (logged by the trainer at each
    eval) both show this figure; the history and the token caches are listed apart."""
    try:
        return sum(os.stat(Path(model_dir) / name).st_size for name in (WEIGHTS, STATE))
    except OSError:
        return None
