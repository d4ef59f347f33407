"""How long one chart frame takes: 3 series × 1,000,000 points at 120×35 cells (target ≤ 25 ms).

    python bench/chart_speed.py [--points 1000000] [--width 120] [--height 35] [--repeats 21]

Prints medians (the machine is shared: single runs are noisy) of
  * the numpy reduction alone (3 series -> per-column min/max), scanning every point and with
    the block summaries the chart really uses;
  * a whole frame as `MetricsChart.render()` makes it (reduction, braille rasterising, plotext
    axes and ticks, rich Text), fit-all / zoomed / log y + EMA;
  * for comparison, the same reduced data handed to plotext's own `plt.plot` (marker "hd"),
    the obvious design this chart does not use.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slavik_tui.ui.widgets.chart import render_frame, training_series  # noqa: E402
from slavik_tui.ui.widgets.chart_data import reduce_columns  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def make_series(n: int):
    rng = np.random.default_rng(0)
    loss, _val, reward, size = training_series()
    x = np.arange(n, dtype=np.float64)
    t = 1.7e9 + 0.4 * x
    loss.append(x, t, 2.5 + 3 * np.exp(-x / (n / 10)) + rng.normal(0, 0.2, n))
    reward.append(x, t, np.clip(0.1 + 0.7 * (1 - np.exp(-x / (n / 3))) + rng.normal(0, 0.05, n), 0, 1))
    size.append(x, t, 82.0 + 3.0 * (x > n / 2) + rng.normal(0, 0.01, n))
    return [loss, reward, size]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=35)
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    n, w, h, r = args.points, args.width, args.height, args.repeats

    series = make_series(n)
    full = (0.0, float(n - 1))
    first = render_frame(series, width=w, height=h, x_range=full)
    hint = first.plot_x[1] - first.plot_x[0]
    subcols = hint * 2
    print(f"{len(series)} series × {n:,} points, {w}×{h} cells ({hint} data columns, {subcols} sub-columns)")

    def reduce(blocks: bool):
        for s in series:
            reduce_columns(
                s.x_step, s.y, *full, subcols, blocks=s.block_minmax() if blocks else None
            )

    print(f"  reduction, every point scanned   {median_ms(lambda: reduce(False), r):7.2f} ms")
    print(f"  reduction, block summaries       {median_ms(lambda: reduce(True), r):7.2f} ms")

    def frame(**kw):
        return lambda: render_frame(series, width=w, height=h, ncols_hint=hint, **kw)

    print(f"  frame, fit all                   {median_ms(frame(x_range=full), r):7.2f} ms  (target ≤ 25)")
    zoom = (0.45 * n, 0.55 * n)
    print(f"  frame, zoomed to 10%             {median_ms(frame(x_range=zoom), r):7.2f} ms")
    t = time.perf_counter()
    for s in series:
        s.smoothed(0.9)
    ema_ms = (time.perf_counter() - t) * 1000
    print(f"  EMA 0.9 of all series, once      {ema_ms:7.2f} ms  (cached, then extended on append)")
    print(
        f"  frame, log y + EMA 0.9           "
        f"{median_ms(frame(x_range=full, log_y=True, smoothing=0.9), r):7.2f} ms"
    )
    print(f"  frame, x = wall time             {median_ms(frame(x_range=(0.0, 0.4 * (n - 1)), x_mode='time'), r):7.2f} ms")

    # The alternative: give plotext the reduced min/max zigzag (2 points per column).
    from textual_plotext.plot import Plot

    reduced = []
    for s in series:
        lo, hi = reduce_columns(s.x_step, s.y, *full, hint, blocks=s.block_minmax())
        xs = np.repeat(np.linspace(*full, hint), 2)
        ys = np.column_stack([lo, hi]).ravel()
        reduced.append((xs.tolist(), ys.tolist(), s))

    def plotext_frame():
        plt = Plot()
        plt.plotsize(w, h)
        plt._set_size(w, h)
        plt.theme("textual-dark")
        for xs, ys, s in reduced:
            plt.plot(xs, ys, marker="hd", color=s.color, yside=s.yside, label=s.label)
        plt.build()

    print(f"  reference: plotext plt.plot hd   {median_ms(plotext_frame, max(r // 3, 3)):7.2f} ms  (not used)")


if __name__ == "__main__":
    main()
