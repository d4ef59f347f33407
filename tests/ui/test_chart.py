"""MetricsChart in a real (headless) Textual app, driven by Pilot: keys, mouse, save, repaint."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_for
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Footer

from slavik_tui.ui.app import SlavikApp
from slavik_tui.ui.screens.help import bindings_of, help_sections
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.charts.frame import render_frame
from slavik_tui.charts.series import Series
from slavik_tui.charts.smooth import Smoothing, twema
from slavik_tui.charts.svg import frame_svg
from slavik_tui.charts.theme import DEFAULT_THEME, plotext_theme
from slavik_tui.ui.chart.compare import CompareCharts
from slavik_tui.ui.chart.save import saved_note
from slavik_tui.ui.chart.widget import MetricsChart

N = 5000
T0 = 1_700_000_000.0  # unix seconds: the chart shows time since the run's first row


class ChartApp(App):
    def __init__(self, chart: MetricsChart) -> None:
        super().__init__()
        self.chart = chart
        self.saved: list[MetricsChart.Saved] = []
        self.notes: list[tuple[str, str]] = []
        """(title, message) of every notification."""

    def notify(self, message: str, *, title: str = "", **kwargs) -> None:
        self.notes.append((title, message))
        super().notify(message, title=title, **kwargs)

    def on_metrics_chart_saved(self, message: MetricsChart.Saved) -> None:
        self.saved.append(message)

    def compose(self) -> ComposeResult:
        yield self.chart
        yield Footer()

    def on_mount(self) -> None:
        self.chart.focus()


def fill(chart: MetricsChart, n: int = N) -> None:
    rng = np.random.default_rng(0)
    x = np.arange(n, dtype=np.float64)
    t = T0 + 0.5 * x
    chart.append("loss", x, t, 3 + 2 * np.exp(-x / 800) + rng.normal(0, 0.1, n))
    chart.append("reward", x, t, 0.8 * (1 - np.exp(-x / 2000)))
    ev = np.arange(0, n, 250, dtype=np.float64)
    chart.append("val_loss", ev, T0 + 0.5 * ev, 3.1 + 2 * np.exp(-ev / 800))
    chart.append("size_mb", ev, T0 + 0.5 * ev, np.full(ev.size, 82.0))


@asynccontextmanager
async def running(chart: MetricsChart | None = None, data: bool = True):
    chart = chart or MetricsChart.for_run(title="test run")
    app = ChartApp(chart)
    async with app.run_test(size=(120, 40)) as pilot:
        if data:
            fill(chart)
        await repainted(pilot, chart)
        yield app, pilot, chart


def run(coro) -> None:
    asyncio.run(coro)


async def repainted(pilot, chart: MetricsChart, timeout: float = 3.0) -> None:
    """Wait until the chart has painted a frame of its current state (≤ one timer tick)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not chart.up_to_date:
        assert asyncio.get_running_loop().time() < deadline, "the chart never repainted"
        await pilot.pause(0.05)


def approx_range(got, want):
    assert got is not None
    assert got[0] == pytest.approx(want[0], abs=1e-6) and got[1] == pytest.approx(want[1], abs=1e-6)


def test_keys_pan_zoom_fit_follow():
    async def scenario():
        async with running() as (app, pilot, chart):
            assert chart.view is None and chart.follow
            assert chart.x_range == (0.0, N - 1)
            assert chart.drawn_series == ["loss", "val_loss", "reward", "size_mb"]

            await pilot.press("plus")  # ×0.5 around the centre
            approx_range(chart.view, (1249.75, 3749.25))
            assert not chart.follow
            await pilot.press("left")  # 10% of the span
            approx_range(chart.view, (999.8, 3499.3))
            await pilot.press("right", "right")
            approx_range(chart.view, (1499.7, 3999.2))
            await pilot.press("equals_sign")
            approx_range(chart.view, (2124.575, 3374.325))
            await pilot.press("minus")
            approx_range(chart.view, (1499.7, 3999.2))
            for _ in range(20):  # panning stops at the data
                await pilot.press("left")
            approx_range(chart.view, (0.0, 2499.5))

            await pilot.press("end")
            approx_range(chart.view, (2499.5, 4999.0))
            assert chart.follow
            # While following, new rows slide the window along.
            chart.append("loss", [5000, 5001, 5002], [T0 + 2500] * 3, [3.0, 3.0, 3.0])
            approx_range(chart.view, (2502.5, 5002.0))
            await pilot.press("left")
            assert not chart.follow
            before = chart.view
            chart.append("loss", [5003], [T0 + 2501.5], [3.0])
            assert chart.view == before  # not following: the view stays put

            await pilot.press("minus", "minus")  # zooming out past everything = fit all
            assert chart.view is None and chart.follow
            await pilot.press("plus", "0")
            assert chart.view is None and chart.x_range == (0.0, 5003.0)
            await pilot.pause(0.3)
            assert chart.last_frame_ms > 0

    run(scenario())


def test_keys_toggle_metrics_smoothing_log_axis():
    async def scenario():
        async with running() as (app, pilot, chart):
            await pilot.press("1")
            await repainted(pilot, chart)
            assert chart.hidden_metrics == {"loss"}
            assert chart.drawn_series == ["reward", "size_mb"]  # val loss is a "loss" too
            await pilot.press("2", "3")
            await repainted(pilot, chart)
            assert chart.hidden_metrics == {"loss", "reward", "size"}
            assert chart.drawn_series == []
            await pilot.press("1", "2", "3")
            assert chart.hidden_metrics == set()

            modes = []
            for _ in range(5):
                await pilot.press("s")
                modes.append(chart.smoothing)
            assert modes == [0.8, 0.9, 0.95, 0.99, 0.0]
            await pilot.press("s", "s")
            await repainted(pilot, chart)
            assert "EMA 0.9" in chart.frame.text.plain
            # The smoothed loss is W&B's time-weighted EMA of the data (cached on the series).
            loss = chart.get_series("loss")
            spec = Smoothing("twema", 0.9)
            assert spec in loss._whole
            assert np.allclose(loss._whole[spec][3], twema(loss.x_step, loss.y, 0.9))

            await pilot.press("l")
            await repainted(pilot, chart)
            assert chart.log_y
            assert "log y" in chart.frame.text.plain

            await pilot.press("x")
            await repainted(pilot, chart)
            assert chart.x_mode == "rel" and "steps since start" in chart.frame.text.plain
            await pilot.press("x")
            await repainted(pilot, chart)
            assert chart.x_mode == "time"
            plain = chart.frame.text.plain
            assert "time" in plain and "10m" in plain and "20m" in plain  # 2500 s of run
            await pilot.press("x")
            assert chart.x_mode == "step"

    run(scenario())


def test_x_axis_toggle_keeps_the_zoomed_range():
    async def scenario():
        async with running() as (app, pilot, chart):
            await pilot.press("plus")
            approx_range(chart.view, (1249.75, 3749.25))
            await pilot.press("x")  # steps since the start: the run starts at step 0
            approx_range(chart.view, (1249.75, 3749.25))
            await pilot.press("x")  # steps -> seconds: t = 0.5 × step
            approx_range(chart.view, (624.875, 1874.625))
            await pilot.press("x")
            approx_range(chart.view, (1249.75, 3749.25))

    run(scenario())


def test_clear_starts_fresh_and_toggles_back():
    async def scenario():
        async with running() as (app, pilot, chart):
            await pilot.press("c")
            assert chart.cleared_at == N - 1
            assert chart.x_range[0] == N - 1
            steps = np.arange(N, N + 100)
            chart.append("loss", steps, T0 + 0.5 * steps, np.ones(100))
            assert chart.x_range == (N - 1, N + 99)  # grows from the clear point
            await pilot.press("plus", "0")  # 0 fits the data since the clear
            assert chart.x_range == (N - 1, N + 99)
            await repainted(pilot, chart)
            assert "from 4999" in chart.frame.text.plain
            await pilot.press("c")  # again: the whole history is back
            assert chart.cleared_at is None and chart.x_range == (0.0, N + 99)

    run(scenario())


def test_mouse_wheel_zooms_around_the_pointer():
    async def scenario():
        async with running() as (app, pilot, chart):
            x0, x1 = chart.frame.plot_x
            col = x0 + (x1 - x0) // 4
            anchor = chart.column_to_x(col)
            region = chart.content_region

            def wheel(cls):
                return cls(
                    chart, col, 10, 0, 1, 0, False, False, False,
                    screen_x=region.x + col, screen_y=region.y + 10,
                )

            chart.post_message(wheel(events.MouseScrollUp))
            await pilot.pause()
            # The x under the pointer stays put: both sides shrink towards it by 0.8.
            zoom = MetricsChart.WHEEL_ZOOM
            approx_range(chart.view, (anchor - anchor * zoom, anchor + (N - 1 - anchor) * zoom))
            assert 0 < chart.view[0] < N / 4 < chart.view[1] < N - 1
            chart.post_message(wheel(events.MouseScrollUp))
            await pilot.pause()
            assert chart.view[1] - chart.view[0] == pytest.approx((N - 1) * 0.64)
            chart.post_message(wheel(events.MouseScrollDown))
            chart.post_message(wheel(events.MouseScrollDown))
            await pilot.pause()
            assert chart.view is None  # back to everything

    run(scenario())


def test_mouse_drag_pans():
    async def scenario():
        async with running() as (app, pilot, chart):
            await pilot.press("plus")
            await repainted(pilot, chart)  # the drag scale comes from the frame on screen
            lo, hi = chart.view
            per_cell = (hi - lo) / (chart.frame.plot_x[1] - chart.frame.plot_x[0])
            start = (60, 15)
            await pilot.mouse_down(chart, offset=start)
            region = chart.content_region
            for dx in (4, 8, 12):
                chart.post_message(
                    events.MouseMove(
                        chart, start[0] + dx, start[1], dx, 0, 1, False, False, False,
                        screen_x=region.x + start[0] + dx, screen_y=region.y + start[1],
                    )
                )
            await pilot.pause()
            # Dragging right by 12 cells shows data 12 cells further left.
            approx_range(chart.view, (lo - 12 * per_cell, hi - 12 * per_cell))
            await pilot.mouse_up(chart, offset=(start[0] + 12, start[1]))
            assert not chart.dragging and app.mouse_captured is None

    run(scenario())


def test_legend_click_toggles_the_metric():
    async def scenario():
        async with running() as (app, pilot, chart):
            hits = {key: (row, x0) for row, x0, _x1, key in chart.frame.legend_hits}
            assert set(hits) == {"loss", "val_loss", "reward", "size_mb"}
            row, x0 = hits["reward"]
            await pilot.click(chart, offset=(x0 + 1, row))
            assert chart.hidden_metrics == {"reward"}
            await repainted(pilot, chart)
            assert "reward" not in chart.drawn_series
            row, x0 = hits["val_loss"]  # val loss belongs to the loss toggle
            await pilot.click(chart, offset=(x0 + 1, row))
            assert chart.hidden_metrics == {"reward", "loss"}
            row, x0 = hits["reward"]
            await pilot.click(chart, offset=(x0 + 1, row))
            assert chart.hidden_metrics == {"loss"}

    run(scenario())


def test_ctrl_s_writes_svg_and_csv(tmp_path: Path):
    async def scenario():
        chart = MetricsChart.for_run(title="run/7", save_dir=tmp_path / "charts")
        async with running(chart) as (app, pilot, chart):
            await pilot.press("plus", "2")  # visible: steps 1250..3749, without reward
            await pilot.press("ctrl+s")
            await app.workers.wait_for_complete()
            await pilot.pause()
            svgs = list((tmp_path / "charts").glob("*.svg"))
            csvs = list((tmp_path / "charts").glob("*.csv"))
            assert len(svgs) == 1 and len(csvs) == 1
            assert svgs[0].name.startswith("run-7-")
            svg = svgs[0].read_text(encoding="utf-8")
            assert svg.startswith("<svg") and "run/7" in svg and "val loss" in svg
            with csvs[0].open(encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            keys = {r["series"] for r in rows}
            assert keys == {"loss", "val_loss", "size_mb"}
            loss = [r for r in rows if r["series"] == "loss"]
            steps = [float(r["step"]) for r in loss]
            assert steps[0] == 1250 and steps[-1] == 3749 and len(steps) == 2500
            first = loss[0]
            assert float(first["time"]) == T0 + 625 and float(first["elapsed_s"]) == 625
            want = chart.get_series("loss").y[1250]
            assert float(first["value"]) == want  # raw, full precision
            assert [m.svg_path for m in app.saved] == svgs
            assert [m.csv_path for m in app.saved] == csvs
            # The note names the folder once and both files, short enough for a corner of
            # an 80×24 screen.
            [note] = [message for title, message in app.notes if title == "Chart saved"]
            lines = note.split("\n")
            assert lines[0] == f"{svgs[0].stem}.svg + .csv"
            assert lines[1].startswith("in /") and lines[1].endswith("_csv0/charts")
            assert len(lines) == 2 and max(map(len, lines)) <= 38

    run(scenario())


def test_saved_note_is_short():
    home = Path.home()
    stem = "tiny-run-3-finished-steps-0-200-2025-03-01-12-00-20250301-121212"
    folder = home / "models" / "tiny" / "charts"
    note = saved_note(folder / f"{stem}.svg", folder / f"{stem}.csv")
    first, second = note.split("\n")
    assert len(first) <= 38 and first.endswith("-20250301-121212.svg + .csv")
    assert first.startswith("tiny-run-3") and "…" in first
    assert second == "in ~/models/tiny/charts"
    deep = Path("/srv") / ("x" * 50) / "models" / "tiny" / "charts"
    note = saved_note(deep / "a.svg", deep / "a.csv")
    assert note.split("\n") == ["a.svg + .csv", note.split("\n")[1]]
    assert len(note.split("\n")[1]) <= 38 and note.endswith("/models/tiny/charts")


def test_save_api_returns_paths(tmp_path: Path):
    chart = MetricsChart.for_run()
    fill(chart, 300)
    svg, csv_path = chart.save(tmp_path)  # not mounted: renders at 120×35
    assert svg.exists() and csv_path.exists()
    assert len(csv_path.read_text().splitlines()) == 1 + 300 + 300 + 2 * 2


def test_repaint_is_throttled():
    async def scenario():
        async with running() as (app, pilot, chart):
            await pilot.pause(0.3)
            before = chart.render_count
            for i in range(1000):  # a burst of rows, one at a time
                chart.append("loss", [N + i], [T0 + 0.5 * (N + i)], [3.0])
            assert chart.render_count == before  # appending only marks the chart dirty
            await repainted(pilot, chart)
            assert chart.render_count - before == 1  # one frame for the whole burst
            assert chart.frame.x_range == (0.0, N + 999)  # showing the new rows
            # Nothing changed: the timer does not repaint.
            idle = chart.render_count
            await pilot.pause(0.5)
            assert chart.render_count == idle
            # A steady stream (rows every 10 ms, the event loop free in between) repaints on
            # the 5 Hz timer, not per row.
            loop = asyncio.get_running_loop()
            before, started = chart.render_count, loop.time()
            for i in range(60):
                chart.append("loss", [N + 1000 + i], [T0 + 0.5 * (N + 1000 + i)], [3.0])
                await asyncio.sleep(0.01)
            await repainted(pilot, chart)
            elapsed = loop.time() - started
            renders = chart.render_count - before
            assert renders <= elapsed / MetricsChart.REFRESH_INTERVAL + 2
            assert renders < 15  # per-row repaints would be ~60
            assert chart.frame.x_range == (0.0, N + 1059)

    run(scenario())


def test_no_color_tells_series_apart_by_glyph(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario():
        async with running() as (app, pilot, chart):
            text = chart.frame.text
            x0, x1 = chart.frame.plot_x
            lines = text.plain.split("\n")
            body = "".join(line[x0:x1] for line in lines[2:-3])
            assert "•" in body  # val loss points
            assert any(0x2800 < ord(ch) <= 0x28FF for ch in body)  # loss: braille
            assert any(ch in "▘▝▀▖▌▞▛▗▚▐▜▄▙▟█" for ch in body)  # reward: quadrant blocks
            for span in text.spans:
                style = span.style
                if hasattr(style, "color") and style.color is not None:
                    assert style.color.triplet not in {(240, 82, 82), (80, 160, 255)}

    run(scenario())


def test_chart_module_does_not_import_torch():
    code = "import sys, slavik_tui.ui.chart.widget\nprint('torch' in sys.modules)\n"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


def test_state_setters_validate_and_convert():
    chart = MetricsChart.for_run()
    fill(chart)
    chart.view = (100.0, 200.0)
    assert chart.view == (100.0, 200.0) and not chart.follow
    chart.view = (4000.0, 6000.0)  # clamped to the data, which ends at 4999: the tail
    assert chart.view == (2999.0, 4999.0) and chart.follow
    chart.view = (-50.0, 10_000.0)  # wider than the data: fit all
    assert chart.view is None
    chart.view = None
    assert chart.view is None and chart.follow
    chart.hidden_metrics = ["size"]
    assert chart.hidden_metrics == {"size"}
    with pytest.raises(ValueError, match="unknown metrics"):
        chart.hidden_metrics = {"accuracy"}
    with pytest.raises(ValueError, match="out of range"):
        chart.smoothing = 1.0
    with pytest.raises(ValueError, match="x_mode"):
        chart.x_mode = "epoch"  # type: ignore[assignment]
    with pytest.raises(KeyError, match="no series 'lr'"):
        chart.append("lr", [1], [1], [1])
    with pytest.raises(ValueError, match="already in the chart"):
        chart.add_series(Series("loss", "again"))
    chart.remove_series("size_mb")
    assert [s.key for s in chart.series] == ["loss", "val_loss", "reward"]
    chart.remove_all()
    assert chart.series == [] and chart.view is None


# ---- the footer --------------------------------------------------------------------------


def footer_text(app) -> str:
    """The footer line as the terminal shows it: the footer and its keys, each painted
    (`render_lines`) where it sits, later ones over earlier ones as Textual composes them."""
    footer = app.screen.query_one(Footer)
    row, cells = footer.region.y, [" "] * footer.region.right
    for widget in (footer, *footer.walk_children()):
        r = widget.region
        if not (widget.display and widget.visible and r.y <= row < r.bottom):
            continue
        [strip] = widget.render_lines(Region(0, row - r.y, r.width, 1))
        for x, ch in enumerate(strip.text, start=r.x):
            if 0 <= x < len(cells):
                cells[x] = ch
    return "".join(cells[footer.region.x:])


async def footer_showing(pilot, app, *words: str) -> str:
    """The footer line once it shows every one of `words` (it recomposes as bindings change)."""
    seen: list[str] = []

    def shows() -> bool:
        seen[:] = [footer_text(app)]
        return all(word in seen[0] for word in words)

    try:
        await wait_for(pilot, shows, timeout=10)
    except AssertionError:
        raise AssertionError(f"the footer never showed {words}: {seen[0]!r}") from None
    return seen[0]


def test_footer_shows_few_chart_keys_and_help_lists_every_one():
    shown = [b.description for b in MetricsChart.BINDINGS if b.show]
    assert shown == ["Zoom in", "Zoom out", "Fit", "Save"]
    listed = {description: keys for keys, description in bindings_of(MetricsChart)}
    assert listed["Pan"] == "← / →" and listed["Follow"] == "end"
    for description in ("Zoom in", "Zoom out", "Fit", "Loss", "Reward", "Size", "Smooth",
                        "Log y", "Save", "Step/+step/time axis", "Clear view", "Cursor",
                        "Hide cursor", "Smoothing kind (EMA/avg/gauss)",
                        "Ignore outliers (y 1–99%)", "One metric at a time"):
        assert description in listed


_GROUP = Binding.Group("Series", compact=True)


class _Keys(Widget, can_focus=True):
    BINDINGS = [
        Binding("1", "noop(1)", "Loss", group=_GROUP),
        Binding("2", "noop(2)", "Reward", group=_GROUP),
        Binding("3", "noop(3)", "Size", group=_GROUP),
        Binding("s", "noop('s')", "Smooth"),
        *(Binding(k, f"noop('{k}')", f"Longer description {k}") for k in "abcdef"),
    ]

    def action_noop(self, key: object) -> None:
        pass


class _FooterApp(App):
    CSS_PATH = SlavikApp.CSS_PATH  # the footer's fix is part of the app's stylesheet

    def compose(self) -> ComposeResult:
        yield _Keys()
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one(_Keys).focus()


def test_compact_footer_keeps_groups_apart_and_the_palette_key_flush_right():
    async def scenario():
        app = _FooterApp()
        async with app.run_test(size=(80, 24)) as pilot:
            footer = await footer_showing(pilot, app, "Series")
            # Textual's compact footer drew "123 Seriess Smooth" ("Series" + "s Smooth").
            assert footer.startswith("123 Series s Smooth a Longer description a b ")
            await pilot.resize_terminal(110, 24)  # wide: ^p palette docks right
            footer = await footer_showing(pilot, app, "Series", "palette")
            # It sat one column left of the edge, over whatever key lay under it.
            assert footer.endswith("▏^p palette"), footer

    run(scenario())


def test_training_footer_at_80_columns_keeps_the_screens_keys(models_root):
    async def scenario():
        app = SlavikApp(models_root, watch="tiny")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainingScreen"
                           and isinstance(app.focused, MetricsChart))
            footer = await footer_showing(pilot, app, "Zoom", "? Help")
            assert footer.startswith("+- Zoom 0 Fit ^s Save ^r "), footer
            for key in ("f Form", "F1 Models", "F3 Generate", "F4 History", "? Help"):
                assert key in footer, footer
            assert "^r Start" in footer or "^r Resume" in footer
            keys = {description for _title, rows in help_sections(app) for _k, description
                    in rows}
            assert {"Pan", "Loss", "Smooth", "Log y", "Follow"} <= keys  # hidden, still in ?

    run(scenario())


# ---- one theme name, with or without an app -------------------------------------------------


def test_frames_look_the_same_in_an_app_and_without_one():
    async def scenario():
        async with running() as (app, pilot, chart):
            assert app.theme == DEFAULT_THEME
            inside = chart.make_frame(100, 30)
        outside = render_frame(chart.series, width=100, height=30, x_range=inside.x_range,
                               title="test run", status=chart.status_text())
        assert outside.lines == inside.lines
        assert outside.background == (30, 30, 30)  # textual-dark's $surface
        svg = frame_svg(outside, "t")
        assert "#1e1e1e" in svg.lower()  # the SVG sits on it too
        assert plotext_theme("pro") == "pro"  # a plotext theme is taken as it is

    run(scenario())


# ---- side by side --------------------------------------------------------------------------


def _arrays(n: int, t0: float) -> tuple[dict, dict]:
    x = np.arange(1.0, n + 1)
    steps = {"step": x, "t": t0 + 2 * x, "loss": 5.0 - x / n}
    ev = x[x % 10 == 0]
    evals = {"step": ev, "t": t0 + 2 * ev, "val_loss": 5.0 - ev / n, "reward": ev / n,
             "size_mb": np.full(ev.size, 0.34)}
    return steps, evals


class _SideApp(App):
    def compose(self) -> ComposeResult:
        yield CompareCharts()


def test_side_by_side_charts_share_the_union_range_and_stay_linked():
    async def scenario():
        app = _SideApp()
        async with app.run_test(size=(120, 30)) as pilot:
            side = app.query_one(CompareCharts)
            await side.show([("long", *_arrays(100, T0)), ("short", *_arrays(40, T0 + 5000))])
            long, short = side.charts
            await wait_for(pilot, lambda: long.drawn_series and short.drawn_series)
            # Fit all: both from step 1 to 100, though "short" ends at 40.
            assert long.fit_range() == short.fit_range() == (1.0, 100.0)
            assert short.frame.x_range == (1.0, 100.0)
            short.focus()
            await pilot.press("plus")  # a key on one chart moves both
            assert short.view == long.view == (25.75, 75.25)
            await pilot.press("left")
            assert short.view == long.view and short.view[0] < 25.75
            # the wheel over one chart
            before = long.view
            app.post_message(events.MouseScrollUp(long, 60, 10, 0, 0, 0, False, False, False,
                                                  screen_x=long.region.x + 60,
                                                  screen_y=long.region.y + 10))
            await pilot.pause(0.1)
            assert long.view != before and short.view == long.view
            await pilot.press("0", "x", "x")  # by time since each run's start: 2 s a step
            assert long.x_mode == short.x_mode == "time"
            assert long.fit_range() == short.fit_range() == (0.0, 198.0)
            await pilot.press("2")
            assert long.hidden_metrics == short.hidden_metrics == {"reward"}

    run(scenario())
