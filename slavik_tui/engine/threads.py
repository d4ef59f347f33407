"""How many CPU threads torch uses for a run, chosen from the cores that are actually free.

torch starts one thread per core. When another process keeps one of two cores busy, every
parallel region waits for the thread that shares a core with it: a tiny run measured 24 s with
2 threads beside a busy loop, 7.4 s with 1, 5.6 s idle (/work/shared/NOTES.md). So:

- `choose_threads` takes `--threads` or OMP_NUM_THREADS when given (the user knows best and
  runs stay reproducible), else the number of free cores, measured from per-core idle time in
  /proc/stat over ~0.2 s among the cores this process may use (`/proc/loadavg` where there is
  no /proc/stat).
- `ThreadTuner` re-checks during an automatic run: a few steps after the start and then every
  few hundred steps it tries the other choice (1 thread or all usable cores) on the run's own
  steps and keeps the faster. Nothing is wasted: the timed steps are real training steps.

Different thread counts may round differently, so an automatic run is not bit-for-bit
reproducible across machines or loads; fix `--threads` (or OMP_NUM_THREADS) when that matters.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch

PROBE_STEPS = 3  # steps timed per thread count (their median is compared)
FIRST_CHECK = 5  # steps into a run (the first steps pay for allocation and warm-up)
CHECK_EVERY = 300  # steps between checks
CLEARLY_SLOWER = 1.5  # a first trial step this much slower ends the check at once


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
    """Now and then tries the other thread count (1 or all usable cores) on the run's own
    steps and keeps it if it is faster. The loop calls `before_step()` and
    `after_step(seconds)` around each step.

    A check costs little: the current count's time is the median of the last few steps, and
    a candidate that is clearly slower on its first step (beside a busy core, 2 threads can
    be 6x slower) is dropped at once; otherwise it gets `probe_steps` steps to prove itself.
    """

    def __init__(self, choice: ThreadChoice, check_every: int = CHECK_EVERY,
                 first_check: int = FIRST_CHECK, probe_steps: int = PROBE_STEPS) -> None:
        self.threads = choice.threads
        cores = usable_cores()
        self.candidates = sorted({1, cores}) if choice.auto and cores > 1 else []
        self.check_every, self.probe_steps = check_every, probe_steps
        self.steps = 0
        self.next_check = max(first_check, probe_steps)
        self.recent: deque[float] = deque(maxlen=probe_steps)  # times at self.threads
        self.trial: int | None = None  # the count being tried, while a check runs
        self.trial_times: list[float] = []
        apply(self.threads)

    def before_step(self) -> None:
        if (self.trial is None and self.candidates and self.steps >= self.next_check
                and len(self.recent) == self.probe_steps):
            self.trial = next(c for c in self.candidates if c != self.threads)
            self.trial_times = []
        apply(self.threads if self.trial is None else self.trial)

    def after_step(self, seconds: float) -> str | None:
        """Record a step's time; at the end of a check, a line saying what changed (or None)."""
        self.steps += 1
        if self.trial is None:
            self.recent.append(seconds)
            return None
        self.trial_times.append(seconds)
        current = statistics.median(self.recent)
        trial = statistics.median(self.trial_times)
        clearly_slower = trial > CLEARLY_SLOWER * current
        if len(self.trial_times) < self.probe_steps and not clearly_slower:
            return None
        old, new = self.threads, self.trial
        self.trial, self.next_check = None, self.steps + self.check_every
        if trial >= current:
            apply(old)
            return None
        self.threads = new
        self.recent = deque(self.trial_times[-self.probe_steps:], maxlen=self.probe_steps)
        apply(new)
        return (f"threads: {new} (a step took {trial * 1000:.0f} ms with {new}, "
                f"{current * 1000:.0f} ms with {old})")
