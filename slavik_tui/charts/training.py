"""The series a training run is drawn as: loss (per step), val loss (points), reward, size MB
(right axis, dashed, a staircase on an axis from 0). Their keys are what `feed` appends to and
the History screen exports."""

from __future__ import annotations

import zlib

from slavik_tui.charts.series import Color, Series
from slavik_tui.charts.theme import LOSS_COLOR, PALETTE, REWARD_COLOR, SIZE_COLOR, VAL_LOSS_COLOR

GPU_UNITS = {"gpu/util": "%", "gpu/mem_mb": "MB", "gpu/temp_c": "°C", "gpu/power_w": "W"}
# The GRPO stage's per-step readings drawn on the right axis, one at a time (their units differ).
RL_UNITS = {"rl/kl": "nats", "rl/entropy": "nats", "rl/completions/mean_length": "tokens"}


def series_key(metric: str, run: str = "") -> str:
    """The chart key of `metric` ("loss", "val_loss", "reward", "size_mb") for `run`."""
    return f"{run}:{metric}" if run else metric


def training_series(run: str = "", color: Color | None = None) -> list[Series]:
    """The four series of one training run: loss, val loss (points), reward, size MB (right).

    Without `run` the keys are "loss", "val_loss", "reward", "size_mb". With `run` (e.g.
    "model/run" when comparing runs) keys are prefixed "<run>:" and labels read
    "<run> loss" …; `color` then paints all four in the run's colour and the style tells the
    metric: loss a solid line, val loss points, reward dotted, size dashed.
    The size holds its value between evals (the checkpoint does not change in between), on a
    right axis that starts at 0.
    """
    label = (lambda name: f"{run} {name}") if run else (lambda name: name)
    if color is None:
        colors: tuple[Color, ...] = (LOSS_COLOR, VAL_LOSS_COLOR, REWARD_COLOR, SIZE_COLOR)
    else:
        colors = (color,) * 4
    return [
        Series(series_key("loss", run), label("loss"), "loss", colors[0], "left", "line", run),
        Series(series_key("val_loss", run), label("val loss"), "loss", colors[1], "left",
               "points", run),
        Series(series_key("reward", run), label("reward"), "reward", colors[2], "left",
               "line" if color is None else "dotted", run),
        Series(series_key("size_mb", run), label("size MB"), "size", colors[3], "right",
               "dashed", run, hold=True, from_zero=True),
    ]


def extra_group(name: str) -> str | None:
    """What the extras key shows a named metric with: "rewards" for `rewards/NAME` and for the
    GRPO stage's per-step reward (`rl/reward`, `rl/rewards/NAME`: the batch's reward beside the
    evals' blue line); itself for `gpu/NAME` and RL's kl, entropy and completion length (one
    at a time on the right axis: their units differ); None for any other name (not drawn)."""
    if name.startswith(("rewards/", "rl/rewards/")) or name == "rl/reward":
        return "rewards"
    if name.startswith("gpu/") or name in RL_UNITS:
        return name
    return None


def metric_series(name: str, run: str = "", color: Color | None = None) -> Series | None:
    """The "extra" series of a named metric from the history's metrics table (see
    `extra_group`): a per-function reward on the left axis beside the reward, a GPU reading
    on the right axis in its unit; None for names not drawn. Hidden until the extras key
    (`ChartView.extras`) shows its group. Colours: the run's when comparing, else one of the
    palette picked by the name (stable across sessions)."""
    group = extra_group(name)
    if group is None:
        return None
    if color is None:
        color = PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]
    label = f"{run} {name}" if run else name
    if group == "rewards":
        return Series(series_key(name, run), label, "extra", color, "left", "line", run,
                      group=group)
    return Series(series_key(name, run), label, "extra", color, "right", "line", run,
                  group=group, unit={**GPU_UNITS, **RL_UNITS}.get(name, name.split("/", 1)[1]),
                  from_zero=True)
