"""The models/ workspace: one self-contained folder per model (see docs/CONTRACTS.md).

Listing models never imports torch: sizes come from the file system, the parameter count from
`ModelConfig` (pure Python), the last loss from one indexed read of `history.sqlite`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slavik_tui.spec.config import MB, ModelConfig
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import validate_name  # noqa: F401 - re-exported
from slavik_tui.store.lock import ModelLock, lock_holder

ENV_MODELS_DIR = "SLAVIK_MODELS_DIR"

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "trainer_state.pt"
CHECKPOINT_FILE = "checkpoint.json"
DATASETS_FILE = "datasets.json"
HISTORY_FILE = "history.sqlite"


def resolve_models_dir(arg: str | os.PathLike | None) -> Path:
    """`--models-dir`, else $SLAVIK_MODELS_DIR, else ./models; created if missing."""
    raw = arg if arg not in (None, "") else os.environ.get(ENV_MODELS_DIR) or "models"
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(
            f"models folder {path} is a file, not a folder; "
            f"pass another --models-dir or set ${ENV_MODELS_DIR}"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create models folder {path} ({exc.strerror}); "
            f"pass a writable --models-dir or set ${ENV_MODELS_DIR}"
        ) from None
    return path.resolve()


def _read_json(path: Path) -> Any:
    """Parsed JSON, or None if the file is missing or unreadable (listing stays robust)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _folder_sizes(path: Path) -> tuple[int, dict[str, int]]:
    """Total apparent size of every file under `path`, and the sizes of its top-level files."""
    total = 0
    top: dict[str, int] = {}
    stack = [(path, True)]
    while stack:
        folder, is_top = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), False))
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    total += size
                    if is_top:
                        top[entry.name] = size
            except OSError:  # vanished while we looked (a checkpoint being replaced)
                continue
    return total, top


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


@dataclass
class ModelInfo:
    """What the models list shows about one model folder (no torch needed)."""

    name: str
    path: Path
    params: int
    size_mb: float  # the whole folder; MB = 10^6 bytes
    weights_mb: float  # model.safetensors
    optimizer_mb: float  # trainer_state.pt
    other_mb: float  # token caches, history, logs, charts...
    trained: bool  # weights exist and checkpoint.json step > 0
    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    context: int
    datasets: int
    steps: int
    last_loss: float | None
    running_pid: int | None
    config: ModelConfig
    created_at: str | None  # ISO 8601, from config.json

    def to_json_dict(self) -> dict[str, Any]:
        last = self.last_loss
        if last is not None and last != last:  # NaN is not JSON
            last = None
        return {
            "name": self.name,
            "params": self.params,
            "size_mb": self.size_mb,
            "trained": self.trained,
            "d_model": self.d_model,
            "layers": self.n_layers,
            "heads": self.n_heads,
            "vocab_size": self.vocab_size,
            "context": self.context,
            "datasets": self.datasets,
            "steps": self.steps,
            "last_loss": last,
            # extras
            "path": str(self.path),
            "weights_mb": self.weights_mb,
            "optimizer_mb": self.optimizer_mb,
            "other_mb": self.other_mb,
            "running_pid": self.running_pid,
            "created_at": self.created_at,
        }


class Workspace:
    """A models/ folder: every sub-folder with a config.json is a model."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        # history.sqlite path -> (stat key of it and its -wal, last loss): the app lists
        # every 2 s, and an unchanged history needs no sqlite connection to re-read.
        self._loss_cache: dict[Path, tuple[tuple, float | None]] = {}

    # ---- names and folders ----------------------------------------------------------------
    def names(self) -> list[str]:
        """Sorted names of the model folders (those with a config.json)."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        out = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if os.path.isfile(os.path.join(entry.path, CONFIG_FILE)):
                out.append(entry.name)
        return sorted(out)

    def model_dir(self, name: str) -> Path:
        """The folder of an existing model; UserError (with the fix) if there is none."""
        name = validate_name(name)
        path = self.root / name
        if not path.is_dir():
            raise UserError(
                f"unknown model '{name}' in {self.root}; see `slavik-tui models` "
                f"or create it with `slavik-tui new {name} --data FILE`"
            )
        return path

    def create_dir(self, name: str) -> Path:
        """Make an empty folder for a new model; UserError if the name is taken."""
        name = validate_name(name)
        path = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise UserError(
                f"model '{name}' already exists in {self.root}; pick another name "
                f"or delete it first with `slavik-tui delete {name}`"
            ) from None
        return path

    def rename(self, old: str, new: str) -> Path:
        """Rename a model folder; refused while a trainer holds its lock."""
        src = self.model_dir(old)
        new = validate_name(new)
        dst = self.root / new
        if dst.exists() or dst.is_symlink():
            raise UserError(
                f"cannot rename '{old}' to '{new}': a model named '{new}' already exists "
                f"in {self.root}; pick another name"
            )
        lock = self._lock_for_change(src, old, "rename")
        try:
            if dst.exists():  # appeared while we took the lock
                raise UserError(
                    f"cannot rename '{old}' to '{new}': '{new}' was just created; pick another name"
                )
            os.rename(src, dst)
            # The held .lock moved with the folder; release() unlinks it at its new place.
            lock.path = dst / lock.path.name
            lock.model_dir = dst
        finally:
            lock.release()
        return dst

    def delete(self, name: str) -> None:
        """Remove a model folder and everything in it; refused while it is being trained."""
        path = self.model_dir(name)
        lock = self._lock_for_change(path, name, "delete")
        try:
            # Holding the lock keeps a trainer from starting halfway through the removal.
            shutil.rmtree(path)
        finally:
            lock.release()

    def _lock_for_change(self, path: Path, name: str, verb: str) -> ModelLock:
        lock = ModelLock(path)
        try:
            lock.acquire()
        except UserError:
            pid = lock_holder(path)
            shown = pid if pid is not None else "unknown"
            raise UserError(
                f"cannot {verb} model '{name}' while it is being trained (pid {shown}); "
                f"stop it first with `slavik-tui stop {name}`"
            ) from None
        return lock

    # ---- info -----------------------------------------------------------------------------
    def info(self, name: str) -> ModelInfo:
        path = self.model_dir(name)
        name = path.name
        cfg_path = path / CONFIG_FILE
        if not cfg_path.is_file():
            raise UserError(
                f"model '{name}' in {self.root} has no {CONFIG_FILE}, so the folder is "
                f"incomplete; restore the file or remove the folder with `slavik-tui delete {name}`"
            )
        try:
            meta = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(
                f"{cfg_path} is not valid JSON ({exc}); restore it or re-create the model"
            ) from None
        if not isinstance(meta, dict):
            raise UserError(f"{cfg_path} is not a JSON object; restore it or re-create the model")
        model = meta.get("model", meta)
        if not isinstance(model, dict):
            raise UserError(
                f"{cfg_path}: 'model' is not an object; restore it or re-create the model"
            )
        config = ModelConfig.from_dict(model)

        # History first: a reader may leave SQLite's -shm/-wal files, which the sizes count.
        last_loss = self._last_loss(path / HISTORY_FILE)
        total, top = _folder_sizes(path)
        weights = top.get(WEIGHTS_FILE, 0)
        optimizer = top.get(OPTIMIZER_FILE, 0)

        ckpt = _read_json(path / CHECKPOINT_FILE)
        steps = 0
        if isinstance(ckpt, dict) and isinstance(ckpt.get("step"), int):
            steps = max(0, ckpt["step"])
        datasets = _read_json(path / DATASETS_FILE)
        n_datasets = len(datasets) if isinstance(datasets, list) else 0

        created_at = meta.get("created_at")
        if not isinstance(created_at, str):
            created_at = _iso(cfg_path.stat().st_mtime)

        return ModelInfo(
            name=name,
            path=path,
            params=config.n_params,
            size_mb=total / MB,
            weights_mb=weights / MB,
            optimizer_mb=optimizer / MB,
            other_mb=(total - weights - optimizer) / MB,
            trained=WEIGHTS_FILE in top and steps > 0,
            d_model=config.d_model,
            n_layers=config.n_layers,
            n_heads=config.n_heads,
            vocab_size=config.vocab_size,
            context=config.context,
            datasets=n_datasets,
            steps=steps,
            last_loss=last_loss,
            running_pid=lock_holder(path),
            config=config,
            created_at=created_at,
        )

    def list(self, errors: list[tuple[str, str]] | None = None) -> list[ModelInfo]:
        """Every model, sorted by name. A folder whose config.json is broken is skipped; pass
        `errors` to collect (name, message) for those instead of losing them silently."""
        out = []
        for name in self.names():
            try:
                out.append(self.info(name))
            except UserError as exc:
                if errors is not None:
                    errors.append((name, str(exc)))
        return out

    def _last_loss(self, history_path: Path) -> float | None:
        key = _stat_key(history_path)
        if key[0] is None:
            self._loss_cache.pop(history_path, None)
            return None
        cached = self._loss_cache.get(history_path)
        if cached is not None and cached[0] == key:
            return cached[1]
        from slavik_tui.store.history import History  # numpy only when there is a history

        try:
            with History(history_path, readonly=True) as hist:
                loss = hist.last_loss()
        except (UserError, sqlite3.Error):  # a damaged history must not break the list
            loss = None
        self._loss_cache[history_path] = (key, loss)
        return loss


def _stat_key(history_path: Path) -> tuple:
    """(mtime_ns, size) of history.sqlite and of its -wal (None where missing or empty, as a
    reader may leave an empty -wal behind): every commit changes one of them (WAL mode writes
    the -wal; a checkpoint writes the main file)."""
    key: list[tuple[int, int] | None] = []
    for path in (history_path, history_path.with_name(history_path.name + "-wal")):
        try:
            st = os.stat(path)
        except OSError:
            key.append(None)
        else:
            regular = stat.S_ISREG(st.st_mode) and st.st_size > 0
            key.append((st.st_mtime_ns, st.st_size) if regular else None)
    return tuple(key)
