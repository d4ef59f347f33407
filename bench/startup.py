"""Start-up time of the app: process start → the Models screen painted on a terminal.

Runs `python -m slavik_tui --models-dir DIR` in a pseudo-terminal (120×40, like a user's
tmux pane) and times from just before the process is spawned until the terminal has
received the footer of the Models screen; then quits the app. The median of several runs
is the number to compare (DESIGN §1: well under a second; target ≤ 0.5 s).

    python bench/startup.py                 # a temporary models folder with 3 fake models
    python bench/startup.py --models-dir models --runs 9
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The Models screen is on the terminal: its header and the table's column headers (first
# frame); the footer's keys follow one frame later (Textual composes the footer after the
# first refresh), so they are timed too.
TABLE_MARKERS = ("Models ·".encode(), b"name")
FOOTER_MARKERS = (b"Export", b"Rename")


def fake_models(root: Path) -> None:
    """Model folders as the app sees them (config, datasets, weights-sized files, history)."""
    sys.path.insert(0, str(ROOT))
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.store.history import History

    for name, cfg, step in [
        ("tiny", ModelConfig(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2), 20),
        ("tolstoy", ModelConfig(), 1200),
        ("славик", ModelConfig(vocab_size=2000, context=128, d_model=128, n_layers=4,
                               n_heads=4), 0),
    ]:
        d = root / name
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"format_version": 1, "model": cfg.to_dict()}))
        (d / "datasets.json").write_text(json.dumps([{"path": "/texts/corpus.txt",
                                                       "tokens": 14_062, "bytes": 44_000,
                                                       "added_at": "2025-03-01"}]))
        if step:
            (d / "model.safetensors").write_bytes(bytes(cfg.n_params * 4))
            (d / "checkpoint.json").write_text(json.dumps({"step": step, "sha256": ""}))
            with History(d / "history.sqlite") as history:
                run = history.start_run("pretrain", {}, target_step=step, pid=1)
                history.log_step(run, step, time.time(), 3.0, 6e-4, 1.0, 1000.0)
                history.end_run(run, "finished")


def one_run(models_dir: Path, cols: int = 120, rows: int = 40,
            timeout: float = 20.0) -> tuple[float, float]:
    """Seconds from spawn to (the table on the terminal, the footer on the terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("TEXTUAL", None)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "slavik_tui", "--models-dir", str(models_dir)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    seen = b""
    painted = footer = None
    deadline = start + timeout
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            seen += chunk
            now = time.perf_counter() - start
            if painted is None and all(marker in seen for marker in TABLE_MARKERS):
                painted = now
            if all(marker in seen for marker in FOOTER_MARKERS):
                footer = now
                break
    finally:
        try:
            os.write(master, b"\x11")  # ctrl+q: quit like a user
            end = time.perf_counter() + 5
            while proc.poll() is None and time.perf_counter() < end:
                if select.select([master], [], [], 0.05)[0]:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        break
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(5)
            os.close(master)
    if painted is None or footer is None:
        tail = seen[-400:].decode("utf-8", "replace")
        raise SystemExit(f"the Models screen never appeared (exit {proc.returncode}): {tail!r}")
    return painted, footer


def import_times() -> dict[str, float]:
    """What the app imports at start, and whether torch is among it (it must not be)."""
    code = ("import sys, time; t = time.perf_counter(); import slavik_tui.ui.app; "
            "print(time.perf_counter() - t, 'torch' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    seconds, torch, numpy = out.stdout.split()
    return {"import_s": float(seconds), "torch": torch == "True", "numpy": numpy == "True"}


def python_start(runs: int = 5) -> float:
    """Median seconds of a bare interpreter start, for scale."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, help="default: a temporary fake folder")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    baseline = python_start()
    tmp = None
    if args.models_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="slavik-bench-"))
        args.models_dir = tmp / "models"
        fake_models(args.models_dir)
    try:
        one_run(args.models_dir)  # warm the file cache (.pyc, fonts of nothing): not counted
        results = [one_run(args.models_dir) for _ in range(args.runs)]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    imports = import_times()
    times = [painted for painted, _ in results]
    footers = [footer for _, footer in results]
    print(f"start → Models screen painted, {args.runs} runs: median "
          f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}); "
          f"footer keys: median {statistics.median(footers):.3f} s")
    print(f"import slavik_tui.ui.app: {imports['import_s']:.3f} s; torch imported: "
          f"{imports['torch']}; numpy imported: {imports['numpy']}")
    print(f"python -c pass alone: {baseline:.3f} s (interpreter + site-packages start-up)")
    print("target: ≤ 0.5 s —", "OK" if statistics.median(times) <= 0.5 else "SLOW",
          "(a busy machine: compare with the baseline above)")


if __name__ == "__main__":
    main()
