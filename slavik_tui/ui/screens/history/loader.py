"""What the History screen reads and writes, without Textual: one read-only `History` per
model shared by the workers, the arrays of runs (the last few ended ones cached), CSV exports
and deleting a run. Safe to call from several worker threads at once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from slavik_tui.runs.watch import RunFollower
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.store.history import History, RunInfo, export_compare_csv

CACHE_RUNS = 4  # ended runs kept loaded (a 1e6-step run is ~64 MB of arrays)

Key = tuple[str, int]
"""(model name, run id): a run anywhere in the models folder."""


def label_of(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass
class LoadedRun:
    key: Key
    run: RunInfo
    steps: dict
    evals: dict
    follower: RunFollower | None = None
    """Set for a replayed run still being trained: it hands out the rows written next (its
    named metrics too: `poll_metrics` hands out every row so far on its first call)."""
    metrics: dict = field(default_factory=dict)
    """An ended run's named series (`History.metrics_arrays`: rewards/NAME, gpu/…, rl/…)."""


class RunLoader:
    """Reads runs of any model under `models_root`."""

    def __init__(self, models_root: Path) -> None:
        self.models_root = Path(models_root)
        self._readers: dict[str, History] = {}
        self._readers_lock = threading.Lock()
        self._cache: OrderedDict[Key, LoadedRun] = OrderedDict()
        self._cache_lock = threading.Lock()

    def folder(self, model: str) -> ModelFolder:
        return ModelFolder(self.models_root / model)

    def reader(self, model: str) -> History:
        """The read-only History of a model, one per model, shared by the workers (its own
        mutex serialises them)."""
        with self._readers_lock:
            reader = self._readers.get(model)
            if reader is None:
                reader = History(self.folder(model).history, readonly=True)
                self._readers[model] = reader
            return reader

    def drop_reader(self, model: str) -> None:
        """Open the model's history afresh next time (it failed: the file may be replaced)."""
        with self._readers_lock:
            reader = self._readers.pop(model, None)
        if reader is not None:
            reader.close()

    def runs(self, model: str) -> list[RunInfo]:
        try:
            return self.reader(model).runs()
        except Exception:
            self.drop_reader(model)
            raise

    def load(self, key: Key, follow: bool = False) -> LoadedRun:
        """A run's arrays (every row it wrote, superseded ones too: what that run did). With
        `follow`, a run still being trained comes with a `RunFollower` positioned after them."""
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        reader = self.reader(key[0])
        run = reader.run(key[1])
        if follow and run.status == "running":
            follower = RunFollower(self.folder(key[0]).history, key[1])
            steps, evals = follower.load_all()
            return LoadedRun(key, run, steps, evals, follower)
        steps = reader.steps_arrays(key[1], include_superseded=True)
        evals = reader.evals_arrays(key[1], include_superseded=True)
        metrics = reader.metrics_arrays(key[1], include_superseded=True)
        loaded = LoadedRun(key, run, steps, evals, metrics=metrics)
        if run.status != "running":  # an ended run never changes
            with self._cache_lock:
                self._cache[key] = loaded
                while len(self._cache) > CACHE_RUNS:
                    self._cache.popitem(last=False)
        return loaded

    def run_csv_path(self, key: Key) -> Path:
        return self.folder(key[0]).charts_dir / f"run-{key[1]}.csv"

    def compare_csv_path(self, keys: list[Key]) -> Path:
        same = len({m for m, _ in keys}) == 1
        parts = [str(rid) if same else f"{m}-{rid}" for m, rid in keys]
        return self.folder(keys[0][0]).charts_dir / f"compare-{'_'.join(parts)}.csv"

    def export_run(self, key: Key) -> Path:
        """models/NAME/charts/run-<id>.csv (what `slavik-tui runs NAME --csv` writes)."""
        path = self.run_csv_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.reader(key[0]).export_csv(key[1], path)
        return path

    def export_compare(self, keys: list[Key]) -> Path:
        """models/<first model>/charts/compare-<runs>.csv (model, run, step, metric, value)."""
        path = self.compare_csv_path(keys)
        path.parent.mkdir(parents=True, exist_ok=True)
        export_compare_csv([(m, self.reader(m), rid) for m, rid in keys], path)
        return path

    def delete(self, key: Key) -> None:
        """Delete the run and its rows from the model's history (not the checkpoint)."""
        with History(self.folder(key[0]).history) as writer:
            writer.delete_run(key[1])
        with self._cache_lock:
            self._cache.pop(key, None)

    def close(self) -> None:
        with self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
