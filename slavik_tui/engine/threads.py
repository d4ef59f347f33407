"""How many CPU threads torch uses for a run, chosen from the cores that are actually free.

torch starts one thread per core. When another process keeps one of two cores busy, every
parallel region waits for the thread that shares a core with it: a tiny run measured 24 s with
2 threads beside a busy loop, 7.4 s with 1, 5.6 s idle (/work/shared/NOTES.md). So:

- `choose_threads` takes `--threads` or OMP_NUM_THREADS when given (the user knows best and
  runs stay reproducible), else the number of free cores, measured from per-core idle time in
  /proc/stat over ~0.2 s among the cores this process may use (`/proc/loadavg` where there is
  no /proc/stat).
- `ThreadTuner` re-checks during an automatic run: a few steps after the start and then every
  few hundred steps it times the run's own steps alternately at 1 thread and at all usable
  cores, and keeps the faster. Nothing is wasted: the timed steps are real training steps.

Different thread counts may round differently, so an automatic run is not bit-for-bit
reproducible across machines or loads; fix `--threads` (or OMP_NUM_THREADS) when that matters.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

PROBE_STEPS = 3  # timed steps per candidate in one check
FIRST_CHECK = 3  # steps into a run (the first steps pay for allocation and warm-up)
CHECK_EVERY = 300  # steps between checks


@dataclass
class ThreadChoice:
    threads: int
    why: str  # shown to the user: "--threads", "OMP_NUM_THREADS", "auto: 1.0 of 2 cores free"
    auto: bool  # True when the tuner may change it during the run


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]] | None:
    """(idle, total) jiffies per allowed core from /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    times = {}
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (values[3] + values[4], sum(values))
    return times or None


def free_cores(interval: float = 0.2) -> float:
    """How many of this process's cores sat idle over `interval` seconds (fractional)."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = set(range(os.cpu_count() or 1))
    before = _cpu_times(cpus)
    if before is not None:
        time.sleep(interval)
        after = _cpu_times(cpus) or {}
        free = 0.0
        for cpu, (idle0, total0) in before.items():
            idle1, total1 = after.get(cpu, (idle0, total0))
            if total1 > total0:
                free += min(1.0, max(0.0, (idle1 - idle0) / (total1 - total0)))
            else:
                free += 1.0  # no tick elapsed on this core: nothing ran there
        return free
    try:
        load = float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float(len(cpus))
    return max(0.0, len(cpus) - load)


def choose_threads(requested: int | None = None) -> ThreadChoice:
    """The thread count a run starts with (see the module docstring for the order)."""
    if requested:
        return ThreadChoice(int(requested), "--threads", auto=False)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return ThreadChoice(int(env), "OMP_NUM_THREADS", auto=False)
    cores = usable_cores()
    free = free_cores()
    threads = max(1, min(cores, round(free)))
    return ThreadChoice(threads, f"auto: {free:.1f} of {cores} cores free", auto=cores > 1)


def apply(threads: int) -> None:
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class ThreadTuner:
    """Times the run's own steps at 1 thread and at all usable cores now and then, and keeps
    the faster. The loop calls `before_step()` and `after_step(seconds)` around each step."""

    def __init__(self, choice: ThreadChoice, check_every: int = CHECK_EVERY,
                 first_check: int = FIRST_CHECK, probe_steps: int = PROBE_STEPS) -> None:
        self.threads = choice.threads
        cores = usable_cores()
        self.candidates = sorted({1, cores}) if choice.auto and cores > 1 else []
        self.check_every, self.probe_steps = check_every, probe_steps
        self.steps = 0
        self.next_check = first_check
        self.queue: list[int] = []
        self.times: dict[int, list[float]] = {}
        apply(self.threads)

    def before_step(self) -> None:
        if self.candidates and not self.queue and self.steps >= self.next_check:
            # alternate (1, N, 1, N, ...) so a change of load hits both candidates alike
            self.queue = [c for _ in range(self.probe_steps) for c in self.candidates]
            self.times = {c: [] for c in self.candidates}
        if self.queue:
            apply(self.queue[0])

    def after_step(self, seconds: float) -> str | None:
        """Record a step's time; at the end of a check, a line saying what changed (or None)."""
        self.steps += 1
        if not self.queue:
            return None
        self.times[self.queue.pop(0)].append(seconds)
        if self.queue:
            return None
        medians = {c: statistics.median(t) for c, t in self.times.items()}
        best = min(medians, key=medians.get)
        changed, self.threads = best != self.threads, best
        apply(best)
        self.next_check = self.steps + self.check_every
        if not changed:
            return None
        worse = max(medians, key=medians.get)
        return (f"threads: {best} (a step took {medians[best] * 1000:.0f} ms with {best}, "
                f"{medians[worse] * 1000:.0f} ms with {worse})")
