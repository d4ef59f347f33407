"""How fast the UI can open a big metrics history (run by hand; not a test).

    python bench/history_speed.py [--steps 1000000] [--evals 1000] [--keep DIR]

Builds a history.sqlite with two runs of N steps + M evals each (rows inserted with
executemany, then packed into blocks the way the trainer's History does as it logs), and
prints medians of 5 for: opening a read-only History, runs(), steps_arrays / evals_arrays for
one run and for the whole two-run curve, and new_steps polling. Also log_step rows/s.
Target: each open/load under a second.

Then the same file as the history of a model in the app (`--no-ui` skips this): the History
screen in a headless SlavikApp (Textual's run_test, 120×40), medians of 5, each cold (the
screen's run cache emptied; the OS file cache warm): the runs listed (a fresh read-only
History + runs()), Enter on a 1e6-step run → the chart's first frame with it, c on two such
runs → the first frame of the overlay, v → both side-by-side charts drawn, and + (zoom) on
the overlay → its next frame. "first frame" = the chart has built the frame it paints (the
paint itself follows in the same refresh).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slavik_tui.store.history import History  # noqa: E402


def median_time(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def build(path: Path, n_steps: int, n_evals: int) -> list[int]:
    rng = np.random.default_rng(0)
    with History(path) as hist:
        run_ids = []
        for k in range(2):
            rid = hist.start_run("pretrain", {"bench": True}, k * n_steps, (k + 1) * n_steps)
            hist.end_run(rid, "finished")
            run_ids.append(rid)
    conn = sqlite3.connect(path)
    t0 = time.perf_counter()
    for k, rid in enumerate(run_ids):
        step = np.arange(k * n_steps, (k + 1) * n_steps)
        rows = zip(
            itertools.repeat(rid), step.tolist(), (1.7e9 + step * 0.1).tolist(),
            (3 + rng.random(n_steps)).tolist(), np.full(n_steps, 3e-4).tolist(),
            rng.random(n_steps).tolist(), (5e4 + 1e3 * rng.random(n_steps)).tolist(),
        )
        conn.executemany(
            "INSERT INTO steps(run_id, step, t, loss, lr, grad_norm, tok_s) VALUES (?,?,?,?,?,?,?)",
            rows,
        )
        estep = np.linspace(k * n_steps, (k + 1) * n_steps - 1, n_evals).astype(int)
        conn.executemany(
            "INSERT INTO evals(run_id, step, t, val_loss, val_bpb, reward, size_mb) "
            "VALUES (?,?,?,?,?,?,?)",
            ((rid, int(s), 1.7e9 + s * 0.1, 3.0, 1.2, 0.4, 27.0) for s in estep),
        )
    conn.commit()
    conn.close()
    print(f"insert {2 * n_steps:,} steps + {2 * n_evals:,} evals (executemany): "
          f"{time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    History(path).close()  # a writer opening the file packs the unpacked rows into blocks
    print(f"pack into blocks (done incrementally by log_step in real use): "
          f"{time.perf_counter() - t0:.2f} s")
    return run_ids


def make_model_folder(model_dir: Path) -> None:
    """What the app needs to list a folder as a model (config.json; no weights)."""
    import json

    from slavik_tui.spec.config import ModelConfig

    cfg = ModelConfig(vocab_size=8000, context=256, d_model=256, n_layers=6, n_heads=8)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps({
        "format_version": 1, "model": cfg.to_dict(),
        "tokenizer": {"type": "byte-level-bpe", "vocab_size": cfg.vocab_size,
                      "eot": "<|endoftext|>"},
        "created_at": "2025-03-01T12:00:00+00:00"}), encoding="utf-8")
    (model_dir / "tokenizer.json").write_text("{}", encoding="utf-8")
    (model_dir / "datasets.json").write_text("[]", encoding="utf-8")


def ui_timings(models_root: Path, name: str, run_a: int, run_b: int, n_steps: int,
               repeat: int = 5) -> None:
    """The History screen on this history: see the module docstring."""
    import asyncio

    from slavik_tui.ui.app import SlavikApp
    from slavik_tui.ui.chart.widget import MetricsChart
    from slavik_tui.ui.chart.compare import CompareCharts
    from slavik_tui.ui.widgets.runs_table import RunsTable

    # Time stamps from inside the widgets: when a chart has built a frame (what it paints
    # next) and when the runs table got its rows. Pilot's own waits add up to ~1 s, so the
    # clock must not be read after `await pilot.press(...)`.
    frames: list[tuple[float, object, int]] = []  # (built at, chart, series drawn)
    listed: list[tuple[float, int]] = []  # (shown at, rows)
    make_frame, show_runs = MetricsChart.make_frame, RunsTable.show

    def timed_frame(self, width: int, height: int):
        frame = make_frame(self, width, height)
        frames.append((time.perf_counter(), self, len(frame.drawn)))
        return frame

    def timed_show(self, runs, marked, select=None):
        show_runs(self, runs, marked, select)
        listed.append((time.perf_counter(), len(runs)))

    MetricsChart.make_frame = timed_frame  # a bench: time stamps from inside the widget
    RunsTable.show = timed_show

    def first_frame(t0: float, n_drawn: int, charts: int = 1) -> float | None:
        """Seconds from t0 until `charts` charts had each built a frame drawing >= n_drawn
        series (None: not yet)."""
        done: dict[int, float] = {}
        for t, chart, n in frames:
            if t >= t0 and n >= n_drawn:
                done.setdefault(id(chart), t)
        return sorted(done.values())[charts - 1] - t0 if len(done) >= charts else None

    async def until(pilot, condition, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while (value := condition()) is None or value is False:
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {condition}")
            await pilot.pause(0.01)
        return value

    async def press_until_frame(pilot, key: str, n_drawn: int, charts: int = 1) -> float:
        """Press `key`; seconds until `charts` charts built a frame drawing >= n_drawn series."""
        t0 = time.perf_counter()
        await pilot.press(key)
        return await until(pilot, lambda: first_frame(t0, n_drawn, charts))

    big = f"{n_steps:,}-step"
    labels = {
        "list": "runs listed (fresh read-only History + runs())",
        "enter": f"Enter on a {big} run → first frame",
        "load1": "  of which: reading its arrays (worker thread)",
        "zoom": "+ (zoom) on it → next frame",
        "compare": f"c on two {big} runs → first overlay frame",
        "load2": "  of which: reading their arrays (worker thread)",
        "side": "v → both side-by-side charts' first frames",
    }

    async def body() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {key: [] for key in labels}
        app = SlavikApp(models_root)
        app.scan_paused = True  # no folder listing in the middle of a measurement
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.open_mode("history", name)
            screen = app.screen
            await until(pilot, lambda: bool(screen.query(RunsTable)))
            table = screen.query_one(RunsTable)
            await until(pilot, lambda: table.row_count >= 2)
            row_a = [r.id for r in table.runs].index(run_a)

            loader, view = screen.loader, screen.view
            for _ in range(repeat):  # the runs table from a fresh read-only History
                loader.close()
                t0 = time.perf_counter()
                screen._poll_runs()  # noqa: SLF001
                out["list"].append(await until(pilot, lambda: next(
                    (t - t0 for t, n in listed if t >= t0 and n >= 2), None)))

            for _ in range(repeat):  # Enter on a big run, then + on its chart
                loader._cache.clear()  # noqa: SLF001 - cold: read the run again
                view.clear()
                table.focus()
                table.move_cursor(row=row_a)
                await pilot.pause()
                out["enter"].append(await press_until_frame(pilot, "enter", 4))
                out["load1"].append(view.last_load_seconds)
                out["zoom"].append(await press_until_frame(pilot, "plus", 1))

            screen.marks = [(name, run_a), (name, run_b)]
            for _ in range(repeat):  # c on two big runs, then v
                loader._cache.clear()  # noqa: SLF001
                view.side_by_side = False
                table.focus()
                await pilot.pause()
                out["compare"].append(await press_until_frame(pilot, "c", 8))
                out["load2"].append(view.last_load_seconds)
                out["side"].append(await press_until_frame(pilot, "v", 4, charts=2))
                await until(pilot, lambda: len(screen.query_one(CompareCharts).charts) == 2)
                await pilot.press("v")
        return out

    try:
        results = asyncio.run(body())
    finally:
        MetricsChart.make_frame, RunsTable.show = make_frame, show_runs
    print(f"\nHistory screen (headless app, 120×40), medians of {repeat}:")
    for key, label in labels.items():
        seconds = results[key]
        print(f"{label:<52} {statistics.median(seconds) * 1000:9.1f} ms   "
              f"(min {min(seconds) * 1000:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--evals", type=int, default=1_000)
    ap.add_argument("--keep", help="build in this folder and keep it")
    ap.add_argument("--no-ui", action="store_true",
                    help="skip the History screen timings")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each UI timing")
    ap.add_argument("--baseline", action="store_true",
                    help="also time the plain np.fromiter-over-SQL load the blocks replace")
    args = ap.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="history_speed_"))
    folder.mkdir(parents=True, exist_ok=True)
    models_root = folder / "models"
    path = models_root / "bench" / "history.sqlite"  # a model folder, for the UI timings
    make_model_folder(path.parent)
    if path.exists():
        path.unlink()
    try:
        run_a, run_b = build(path, args.steps, args.evals)
        print(f"file size: {path.stat().st_size / 1e6:.1f} MB")

        results = []

        def fresh_runs():
            with History(path, readonly=True) as h:
                return h.runs()

        results.append(("open read-only + runs() (cold, no cache)", *median_time(fresh_runs)))
        reader = History(path, readonly=True)
        results.append(("runs() (warm: ended runs cached)", *median_time(reader.runs)))
        results.append(("steps_arrays(one run)", *median_time(lambda: reader.steps_arrays(run_a))))
        results.append(("steps_arrays() two runs", *median_time(reader.steps_arrays)))
        results.append(("evals_arrays(one run)", *median_time(lambda: reader.evals_arrays(run_a))))
        results.append(("evals_arrays() two runs", *median_time(reader.evals_arrays)))
        last = int(reader.steps_arrays()["id"].max())
        poll = median_time(lambda: reader.new_steps(last))
        results.append(("new_steps(after last id) poll", *poll))
        if args.baseline:
            from slavik_tui.store.history.schema import STEP_SELECT, step_dtype

            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            query = STEP_SELECT + " WHERE run_id = ? ORDER BY step, id"
            results.append(("baseline: np.fromiter(SQL) one run", *median_time(
                lambda: np.fromiter(conn.execute(query, (run_a,)), step_dtype()), repeat=3)))
            conn.close()
        reader.close()

        for label, seconds, result in results:
            if isinstance(result, np.ndarray):
                size = f"{len(result):,} rows"
            elif isinstance(result, dict):
                size = f"{len(next(iter(result.values()))):,} rows"
            elif isinstance(result, list):
                size = f"{len(result):,} items"
            else:
                size = ""
            print(f"{label:<44} {seconds * 1000:9.1f} ms   {size}")

        # the trainer's write path
        with History(path) as writer:
            rid = writer.start_run("pretrain", {}, 0, 20_000)
            n = 20_000
            t0 = time.perf_counter()
            for i in range(n):
                writer.log_step(rid, i, time.time(), 2.5, 3e-4, 0.7, 5e4)
            dt = time.perf_counter() - t0
            writer.end_run(rid, "finished")
        print(f"log_step (commit per row, blocks packed on the way): {n / dt:,.0f} rows/s "
              f"({dt / n * 1e6:.0f} µs/row)")
        if not args.no_ui:
            ui_timings(models_root, "bench", run_a, run_b, args.steps, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
