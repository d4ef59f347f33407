"""How long one chart frame takes: 3 series × 1,000,000 points at 120×35 cells (target ≤ 25 ms).

    python bench/chart_speed.py [--points 1000000] [--width 120] [--height 35] [--repeats 21]

Prints medians (the machine is shared: single runs are noisy) of
  * the numpy reduction alone (3 series -> per-column min/max), scanning every point and with
    the block summaries the chart really uses;
  * a whole frame as the widget makes it (`charts.frame.render_frame`: reduction, braille
    rasterising, plotext axes and ticks; then Textual strips), fit-all / zoomed / log y + EMA;
  * for comparison, the same reduced data handed to plotext's own `plt.plot` (marker "hd"),
    the obvious design this chart does not use;
  * the widget repainting inside a headless Textual app (frame + Textual's styling of lines).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slavik_tui.charts.frame import render_frame  # noqa: E402
from slavik_tui.charts.reduce import reduce_columns  # noqa: E402
from slavik_tui.charts.training import training_series  # noqa: E402
from slavik_tui.ui.chart.paint import frame_strips  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def report(what: str, ms: float, note: str = "") -> None:
    print(f"  {what:<34} {ms:8.2f} ms  {note}".rstrip())


def make_series(n: int):
    rng = np.random.default_rng(0)
    loss, _val, reward, size = training_series()
    x = np.arange(n, dtype=np.float64)
    t = 1.7e9 + 0.4 * x
    loss.append(x, t, 2.5 + 3 * np.exp(-x / (n / 10)) + rng.normal(0, 0.2, n))
    rising = 0.1 + 0.7 * (1 - np.exp(-x / (n / 3)))
    reward.append(x, t, np.clip(rising + rng.normal(0, 0.05, n), 0, 1))
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
    print(f"{len(series)} series × {n:,} points, {w}×{h} cells", end=" ")
    print(f"({hint} data columns, {subcols} sub-columns), medians of {r} runs")

    def reduce(blocks: bool):
        for s in series:
            reduce_columns(
                s.x_step, s.y, *full, subcols, blocks=s.block_minmax() if blocks else None
            )

    report("reduction, every point scanned", median_ms(lambda: reduce(False), r))
    report("reduction, block summaries", median_ms(lambda: reduce(True), r), "(used)")

    def frame(**kw):
        # What the widget does per repaint: the frame, then its lines as Textual strips.
        return lambda: frame_strips(
            render_frame(series, width=w, height=h, ncols_hint=hint, **kw)
        )

    report("frame, fit all", median_ms(frame(x_range=full), r), "(target <= 25 ms)")
    report("frame, zoomed to 10%", median_ms(frame(x_range=(0.45 * n, 0.55 * n)), r))
    t = time.perf_counter()
    for s in series:
        s.smoothed(0.9)
    ema_ms = (time.perf_counter() - t) * 1000
    report("EMA 0.9 of all series, once", ema_ms, "(cached, then extended on append)")
    report("frame, log y + EMA 0.9", median_ms(frame(x_range=full, log_y=True, smoothing=0.9), r))
    wall = frame(x_range=(0.0, 0.4 * (n - 1)), x_mode="time")
    report("frame, x = wall time", median_ms(wall, r))

    # The alternative: give plotext the reduced min/max zigzag (2 points per column).
    from plotext._figure import _figure_class as Plot

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

    reference = median_ms(plotext_frame, max(r // 3, 3))
    report("reference: plotext plt.plot, hd", reference, "(not used)")

    asyncio.run(in_app(series, w, h, r))


async def in_app(series, w: int, h: int, repeats: int) -> None:
    """The widget repainting inside a headless Textual app (frame + Textual's own styling)."""
    from textual.app import App
    from textual.geometry import Region

    from slavik_tui.ui.chart.widget import MetricsChart

    class BenchApp(App):
        def compose(self):
            yield MetricsChart(series)

    app = BenchApp()
    async with app.run_test(size=(w, h)) as pilot:
        await pilot.pause(0.3)
        chart = app.query_one(MetricsChart)

        def repaint():
            chart.title = chart.title  # a change: a new frame, as new data would make
            chart._styles_cache.clear()  # noqa: SLF001 - and make Textual ask for every line
            chart.render_lines(Region(0, 0, w, h))

        report("widget repaint in a Textual app", median_ms(repaint, repeats))


if __name__ == "__main__":
    main()
