"""A busy CPU must not stall training: a 40-step tiny run, idle and beside a busy loop.

    python bench/busy_cpu.py [--repeats 3] [--steps 40]

Each scenario runs `slavik-tui train` as a child (without OMP_NUM_THREADS, so the trainer's
automatic choice applies) on a fresh copy of a ~1M-parameter model, and times the steps from
the run's own history (step 1 to the last step: start-up, the final save and eval excluded).
Scenarios, side by side in one run because the machine's speed drifts:
- `idle auto`      nothing else running;
- `busy auto`      beside `python3 -c "while True: pass"` — the target: ≥ 70% of idle speed;
- `busy 2 threads` / `busy 1 thread`: the same with --threads fixed, for comparison (2 is
                   torch's default on a 2-core machine).
Prints the median ms/step of each and the whole command's time (start-up, tokenizer load, the
final save and eval included, as a user times it), and the speed of `busy auto` as a share of
`idle auto` by both measures. With one core left, a run cannot beat the speed of 1 thread:
`busy 1 thread` is the ceiling for `busy auto`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slavik_tui.proc import child_python  # noqa: E402
from slavik_tui.store.history import History  # noqa: E402

CONFIG = ["--vocab-size", "2000", "--context", "128", "--d-model", "128", "--layers", "4",
          "--heads", "4"]
TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "revizor.txt"


def slavik(models: Path, *args: str, env: dict) -> None:
    subprocess.run([*child_python(), "-m", "slavik_tui", "--models-dir", str(models), *args],
                   check=True, env=env, stdout=subprocess.DEVNULL, cwd=models)


def text_file(folder: Path) -> Path:
    if TEXT.is_file():
        return TEXT
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from corpus import make_text

    path = folder / "text.txt"
    path.write_text(make_text(400_000), encoding="utf-8")
    return path


def timed_run(base: Path, work: Path, steps: int, env: dict,
              threads: int | None) -> tuple[float, float, int]:
    """ms per step of a fresh `steps`-step run, the whole command's seconds, and the thread
    count the run ended with."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    args = ["train", "m", "--iters", str(steps), "--batch-size", "8", "--eval-every", "100000",
            "--save-every", "100000", "--dtype", "fp32"]
    if threads:
        args += ["--threads", str(threads)]
    started = time.perf_counter()
    proc = subprocess.run([*child_python(), "-m", "slavik_tui", "--models-dir", str(work.parent),
                           *args], check=True, env=env, capture_output=True, text=True,
                          cwd=work)
    wall = time.perf_counter() - started
    with History(work / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
        times = h.steps_arrays()["t"]
    changes = [line for line in proc.stdout.splitlines() if line.startswith("threads:")]
    final = int(changes[-1].split()[1]) if changes else run.config["threads"]
    return (times[-1] - times[0]) / (len(times) - 1) * 1000, wall, final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["SLAVIK_NO_AUTOSAVE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = root / "models"
        models.mkdir()
        slavik(models, "new", "m", "--data", str(text_file(root)), *CONFIG, env=env)
        base = models / "m"
        work = root / "runs" / "m"
        work.parent.mkdir()
        results: dict[str, list[float]] = {}
        walls: dict[str, list[float]] = {}
        chosen: dict[str, list[int]] = {}
        scenarios = [("idle auto", False, None), ("busy auto", True, None),
                     ("busy 2 threads", True, 2), ("busy 1 thread", True, 1)]
        for repeat in range(args.repeats):
            for name, busy, threads in scenarios:
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                try:
                    ms, wall, final = timed_run(base, work, args.steps, env, threads)
                finally:
                    if hog:
                        hog.kill()
                        hog.wait()
                results.setdefault(name, []).append(ms)
                walls.setdefault(name, []).append(wall)
                chosen.setdefault(name, []).append(final)
                print(f"repeat {repeat + 1} {name:15s} {ms:7.1f} ms/step {wall:6.1f} s in all "
                      f"(threads {final})", flush=True)
    print(f"\nmedians over {args.repeats} repeats, {args.steps} steps each "
          f"({os.cpu_count()} cores):")
    for name, values in results.items():
        print(f"  {name:15s} {statistics.median(values):7.1f} ms/step "
              f"{statistics.median(walls[name]):6.1f} s in all   threads at the end: "
              f"{chosen[name]}")

    def share(table: dict[str, list[float]]) -> float:
        return statistics.median(table["idle auto"]) / statistics.median(table["busy auto"])

    print(f"busy auto keeps {share(results):.0%} of idle speed per step and {share(walls):.0%} "
          "over the whole command (target ≥ 70%)")


if __name__ == "__main__":
    main()
