"""How fast the UI can open a big metrics history (run by hand; not a test).

    python bench/history_speed.py [--steps 1000000] [--evals 1000] [--keep DIR]

Builds a history.sqlite with two runs of N steps + M evals each (rows inserted with
executemany, then packed into blocks the way the trainer's History does as it logs), and
prints medians of 5 for: opening a read-only History, runs(), steps_arrays / evals_arrays for
one run and for the whole two-run curve, and new_steps polling. Also log_step rows/s.
Target: each open/load under a second.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--evals", type=int, default=1_000)
    ap.add_argument("--keep", help="build in this folder and keep it")
    ap.add_argument("--baseline", action="store_true",
                    help="also time the plain np.fromiter-over-SQL load the blocks replace")
    args = ap.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="history_speed_"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "history.sqlite"
    if path.exists():
        path.unlink()
    try:
        run_a, _run_b = build(path, args.steps, args.evals)
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
            from slavik_tui.store.history import _STEP_SELECT, STEP_DTYPE

            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            query = _STEP_SELECT + " WHERE run_id = ? ORDER BY step, id"
            results.append(("baseline: np.fromiter(SQL) one run", *median_time(
                lambda: np.fromiter(conn.execute(query, (run_a,)), STEP_DTYPE), repeat=3)))
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
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
