"""The models/ workspace: one self-contained folder per model (file names: spec/folder.py).

Listing models never imports torch: sizes come from the file system, the parameter count from
`ModelConfig` (pure Python), the last loss from one indexed read of `history.sqlite`.

A models folder may hold folders received from someone else, and the leftovers of a killed
command: listing never follows a symbolic link (a linked model is reported, not opened), one
damaged model never hides the others, and the half-made folder of a `new` whose process died
is removed.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shlex
import shutil
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slavik_tui.errors import UserError
from slavik_tui.spec.config import MB, ModelConfig
from slavik_tui.spec.folder import (
    CONFIG,
    DATA_DIR,
    HISTORY,
    STATE,
    WEIGHTS,
    ModelFolder,
    validate_name,
)
from slavik_tui.store.lock import ModelLock, lock_holder, pid_alive
from slavik_tui.store.sizes import checkpoint_bytes, folder_sizes

ENV_MODELS_DIR = "SLAVIK_MODELS_DIR"
# The hidden folder `new` assembles a model in (engine/create.py), renamed into place at the end.
_CREATING = re.compile(r"\..+\.creating-(?P<pid>[0-9]{1,10})")


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
    # One line for each damaged file that did not stop the listing (history, record, datasets)
    problems: list[str] = field(default_factory=list)
    # The model's size (checkpoint_bytes, None before the first save), then parts of other_mb
    checkpoint_mb: float | None = None
    history_mb: float = 0.0  # history.sqlite with its -wal / -shm
    cache_mb: float = 0.0  # data/: the token cache of each dataset
    stages: tuple[str, ...] = ()  # run kinds that trained a step, first-run order (stages.py)

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
            "checkpoint_mb": self.checkpoint_mb,
            "history_mb": self.history_mb,
            "cache_mb": self.cache_mb,
            "running_pid": self.running_pid,
            "created_at": self.created_at,
            "problems": list(self.problems),
        }


class Workspace:
    """A models/ folder: every real sub-folder with a config.json is a model."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        # history.sqlite path -> (stat key of it and its -wal, last loss, problem): the app
        # lists every 2 s, and an unchanged history needs no sqlite connection to re-read.
        self._loss_cache: dict[Path, tuple[tuple, tuple[float | None, int | None,
                                                          tuple[str, ...], str | None]]] = {}

    # ---- names and folders ----------------------------------------------------------------
    def _scan(self) -> tuple[list[str], list[str]]:
        """(model folders, links to folders), both sorted; leftovers of a dead `new` removed."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return [], []
        models, links = [], []
        for entry in entries:
            if entry.name.startswith("."):
                self._remove_if_leftover(entry)
            elif entry.is_symlink():
                if entry.is_dir():  # follows the link only to see that it names a folder
                    links.append(entry.name)
            elif entry.is_dir() and os.path.isfile(os.path.join(entry.path, CONFIG)):
                models.append(entry.name)
        return sorted(models), sorted(links)

    def names(self) -> list[str]:
        """Sorted names of the model folders (real folders with a config.json)."""
        return self._scan()[0]

    def remove_leftovers(self) -> list[str]:
        """Remove the half-made folders of `new` commands whose process died (killed while
        creating); returns their names. A live creator's folder is never touched."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return [entry.name for entry in entries if self._remove_if_leftover(entry)]

    @staticmethod
    def _remove_if_leftover(entry: os.DirEntry) -> bool:
        match = _CREATING.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            return False
        if pid_alive(int(match["pid"])):  # still creating (or the pid was reused: next time)
            return False
        shutil.rmtree(entry.path, ignore_errors=True)
        return True

    def _linked(self, path: Path) -> UserError:
        target = os.path.realpath(path)
        link, real = shlex.quote(str(path)), shlex.quote(target)
        return UserError(
            f"{path} is a symbolic link (to {target}); slavik-tui does not follow links in the "
            f"models folder, since a linked folder may belong to someone else: put the folder "
            f"itself there with `rm {link} && mv {real} {link}`"
        )

    def model_dir(self, name: str) -> Path:
        """The folder of an existing model; UserError (with the fix) if there is none."""
        name = validate_name(name)
        path = self.root / name
        if path.is_symlink():
            raise self._linked(path)
        if not path.is_dir():
            raise UserError(
                f"unknown model '{name}' in {self.root}; see `slavik-tui models` "
                f"or create it with `slavik-tui new {name} --data FILE`"
            )
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
        """What the models list shows about one model. UserError naming the file and the fix
        when its config.json is unusable; other damaged files go into `problems`."""
        folder = ModelFolder(self.model_dir(name))
        path, name = folder.path, folder.name
        meta = folder.read_meta()
        config = _config_from(meta["model"], folder.config)
        problems: list[str] = []

        # History first: a reader may leave SQLite's -shm/-wal files, which the sizes count.
        running_pid = lock_holder(path)
        last_loss, running_step, stages, problem = self._last_loss(folder.history, running_pid)
        if problem:
            problems.append(problem)
        total, top = folder_sizes(path)
        weights = top.get(WEIGHTS, 0)
        optimizer = top.get(STATE, 0)

        checkpoint = checkpoint_bytes(path)
        steps = 0
        try:
            record = folder.read_record()
        except UserError as exc:
            problems.append(str(exc))
        else:
            steps = record["step"] if record else 0
        if running_step is not None:  # a trainer is past its last checkpoint
            steps = max(steps, running_step)
        n_datasets = 0
        try:
            datasets = folder.read_json(folder.datasets, missing=[])
        except UserError as exc:
            problems.append(str(exc))
        else:
            n_datasets = len(datasets) if isinstance(datasets, list) else 0

        created_at = meta.get("created_at")
        if not isinstance(created_at, str):
            created_at = _iso(folder.config.stat().st_mtime)

        return ModelInfo(
            name=name,
            path=path,
            params=config.n_params,
            size_mb=total / MB,
            weights_mb=weights / MB,
            optimizer_mb=optimizer / MB,
            other_mb=(total - weights - optimizer) / MB,
            trained=WEIGHTS in top and steps > 0,
            d_model=config.d_model,
            n_layers=config.n_layers,
            n_heads=config.n_heads,
            vocab_size=config.vocab_size,
            context=config.context,
            datasets=n_datasets,
            steps=steps,
            last_loss=last_loss,
            running_pid=running_pid,
            config=config,
            created_at=created_at,
            problems=problems,
            checkpoint_mb=checkpoint / MB if checkpoint is not None else None,
            history_mb=sum(top.get(HISTORY + tail, 0) for tail in ("", "-wal", "-shm")) / MB,
            cache_mb=top.get(DATA_DIR, 0) / MB,
            stages=stages,
        )

    def list(self, errors: list[tuple[str, str]] | None = None) -> list[ModelInfo]:
        """Every model, sorted by name; one damaged folder never hides the others. Pass
        `errors` to collect (name, one line) for each folder that could not be listed (a broken
        config.json, a symbolic link) and for each damaged file of one that was listed."""
        models, links = self._scan()
        out = []
        found: list[tuple[str, str]] = []
        for name in models:
            try:
                info = self.info(name)
            except UserError as exc:
                found.append((name, str(exc)))
            else:
                out.append(info)
                found.extend((name, problem) for problem in info.problems)
        found.extend((name, str(self._linked(self.root / name))) for name in links)
        if errors is not None:
            errors.extend(sorted(found, key=lambda item: item[0]))
        return out

    def _last_loss(self, history_path: Path, pid: int | None = None
                   ) -> tuple[float | None, int | None, tuple[str, ...], str | None]:
        """(last train loss, the step trainer `pid`'s running run has reached, the stages it
        went through, one line if the history is damaged), cached by the files' stat."""
        key = (_stat_key(history_path), pid)
        if key[0][0] is None:
            self._loss_cache.pop(history_path, None)
            return None, None, (), None
        cached = self._loss_cache.get(history_path)
        if cached is not None and cached[0] == key:
            return cached[1]
        from slavik_tui.store.history import History  # numpy only when there is a history

        from slavik_tui.store.stages import trained_kinds

        loss, step, stages, problem = None, None, (), None
        try:
            with History(history_path, readonly=True) as hist:
                loss = hist.last_loss()
                stages = trained_kinds(hist)
                run_id = hist.running_run_id(pid) if pid else None
                if run_id is not None:  # its steps since the last checkpoint count too
                    step = hist.run(run_id).last_step
        except UserError as exc:  # a damaged history must not break the list
            problem = str(exc)
        except sqlite3.Error:  # busy or locked past the timeout: try again at the next list
            return None, None, (), None
        self._loss_cache[history_path] = (key, (loss, step, stages, problem))
        return loss, step, stages, problem


def _config_from(model: dict, path: Path) -> ModelConfig:
    """ModelConfig of config.json's "model" object; every mistake in it is one line that names
    the file (and the field, which ModelConfig's own message names)."""
    try:
        return ModelConfig.from_dict(model)
    except (UserError, ValueError, TypeError) as exc:
        raise UserError(
            f"{path}: {exc}; correct the file or restore it from a copy of the model folder",
            field=getattr(exc, "field", None),
        ) from None


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
