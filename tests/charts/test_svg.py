"""The saved chart is a vector chart made from the data (`charts.svg.chart_svg`): polylines
through the data points on the axes their labels describe, both axes with units, the right one
from 0, the title once, hidden series left out, text escaped; ctrl+s writes it with the CSV."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from slavik_tui.charts.smooth import Smoothing
from slavik_tui.charts.svg import chart_svg, run_chart_svg
from slavik_tui.charts.svg_parts import css_color, decimate
from slavik_tui.charts.theme import LOSS_COLOR, REWARD_COLOR, SIZE_COLOR
from slavik_tui.charts.training import metric_series, training_series
from slavik_tui.ui.chart.save import prepare_save, view_note, view_svg
from slavik_tui.ui.chart.view import ChartView

NS = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000.0


def filled(n: int = 400) -> list:
    series = training_series()
    by = {s.key: s for s in series}
    steps = np.arange(n, dtype=float)
    by["loss"].append(steps, T0 + steps, 4.0 * np.exp(-steps / 150) + 0.5 + 0.05 * np.sin(steps))
    ev = np.arange(0, n, 50, dtype=float)
    by["val_loss"].append(ev, T0 + ev, 4.0 * np.exp(-ev / 150) + 0.6)
    by["reward"].append(ev, T0 + ev, np.linspace(0.05, 0.4, ev.size))
    by["size_mb"].append(ev, T0 + ev, np.where(ev < n / 2, 2.81, 2.86))
    return series


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg")
    return ET.fromstring(svg)


def texts(root: ET.Element, cls: str | None = None) -> list[ET.Element]:
    return [t for t in root.iter(f"{NS}text") if cls is None or t.get("class") == cls]


def groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-key"): g for g in root.iter(f"{NS}g") if g.get("class") == "series"}


def points(line: ET.Element) -> np.ndarray:
    return np.array([[float(v) for v in p.split(",")] for p in line.get("points").split()])


def axis_map(root: ET.Element, side: str):
    """value -> y pixel, read off the tick labels of one y axis (label baseline = y + 4)."""
    [axis] = [g for g in root.iter(f"{NS}g") if g.get("class") == f"y-axis-{side}"]
    ticks = [(float(t.text), float(t.get("y")) - 4) for t in axis.iter(f"{NS}text")
             if t.get("class") != "axis-label"]
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    return lambda v: p0 + (np.asarray(v) - v0) * (p1 - p0) / (v1 - v0), ticks


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    rect = root.find(f"{NS}defs/{NS}clipPath/{NS}rect")
    x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def test_lines_go_through_the_data_on_the_labelled_axes():
    series = filled()
    root = parse(chart_svg(series, x_range=(0, 399), title="tiny · run 1"))
    x0, y0, x1, y1 = plot_box(root)
    g = groups(root)
    assert set(g) == {"loss", "val_loss", "reward", "size_mb"}
    [loss_line] = g["loss"].findall(f"{NS}polyline")
    pts = points(loss_line)
    loss = series[0].y
    assert len(pts) == 400  # few points: every one is drawn
    assert pts[0][0] == pytest.approx(x0, abs=0.01) and pts[-1][0] == pytest.approx(x1, abs=0.01)
    to_y, _ = axis_map(root, "left")
    assert pts[0][1] == pytest.approx(float(to_y(loss[0])), abs=0.02)
    assert pts[-1][1] == pytest.approx(float(to_y(loss[-1])), abs=0.02)
    assert loss_line.get("stroke") == css_color(LOSS_COLOR)
    assert g["reward"].find(f"{NS}polyline").get("stroke") == css_color(REWARD_COLOR)
    # val loss: one circle per eval, on the same axis
    circles = g["val_loss"].findall(f"{NS}circle")
    assert len(circles) == 8
    assert float(circles[-1].get("cy")) == pytest.approx(float(to_y(series[1].y[-1])), abs=0.02)
    # size: steps from 0 on the right axis (2.81 → 2.86 is a small step, not a cliff)
    to_mb, ticks = axis_map(root, "right")
    assert ticks[0] == (0.0, pytest.approx(y1, abs=0.01))
    size = points(g["size_mb"].find(f"{NS}polyline"))
    assert g["size_mb"].find(f"{NS}polyline").get("stroke") == css_color(SIZE_COLOR)
    assert len(size) == 2 * 8 - 1  # each value held until the next eval
    assert np.all(size[1::2, 1] == size[0:-1:2, 1]) and np.all(size[2::2, 0] == size[1::2, 0])
    assert size[0][1] == pytest.approx(float(to_mb(2.81)), abs=0.02)
    assert size[-1][1] == pytest.approx(float(to_mb(2.86)), abs=0.02)
    assert size[0][1] - size[-1][1] < 0.03 * (y1 - y0)


def test_axes_have_units_the_title_is_there_once_and_the_legend_has_last_values():
    title = "tiny · run 1 · finished"
    root = parse(chart_svg(filled(), x_range=(0, 399), title=title))
    labels = [t.text for t in texts(root, "axis-label")]
    assert labels == ["step", "loss (nats/token) · reward", "size (MB)"]
    assert [t.text for t in texts(root)].count(title) == 1
    assert [t.get("class") for t in texts(root) if t.text == title] == ["title"]
    legend = [g for g in root.iter(f"{NS}g") if g.get("class") == "legend-entry"]
    words = [g.find(f"{NS}text").text for g in legend]
    assert words[0].startswith("loss ") and words[-1] == "size MB  2.86"
    assert texts(root, "subtitle")[0].text == "steps 0–399 · raw"
    time_root = parse(chart_svg(filled(), x_range=(0, 399), x_mode="time", title=title))
    assert texts(time_root, "axis-label")[0].text == "time since the run's start"
    assert "6m" in [t.text for t in time_root.iter(f"{NS}text")]  # 360 s as a duration


def test_hidden_series_are_left_out():
    root = parse(chart_svg(filled(), x_range=(0, 399), hidden={"reward", "size"}))
    assert set(groups(root)) == {"loss", "val_loss"}
    assert [t.text for t in texts(root, "axis-label")] == ["step", "loss (nats/token)"]
    assert not [g for g in root.iter(f"{NS}g") if g.get("class") == "y-axis-right"]
    keys = [g.get("data-key") for g in root.iter(f"{NS}g") if g.get("class") == "legend-entry"]
    assert keys == ["loss", "val_loss"]


def test_text_is_escaped():
    series = filled()
    series[0].label = 'run <&> "q"'
    title = "m <script>&amp; \x01x"
    svg = chart_svg(series, x_range=(0, 399), title=title)
    assert "<script>" not in svg and "\x01" not in svg
    root = parse(svg)
    assert root.find(f"{NS}title").text == "m <script>&amp; x"
    assert texts(root, "title")[0].text == "m <script>&amp; x"
    legend = [t.text for t in texts(root) if t.text and t.text.startswith("run <&>")]
    assert legend and legend[0].startswith('run <&> "q"  ')


def test_the_view_range_and_smoothing_are_the_views():
    series = filled()
    root = parse(chart_svg(series, x_range=(100, 200), smoothing=0.9,
                           smoothing_label="EMA 0.9", title="t"))
    x0, _y0, x1, _y1 = plot_box(root)
    assert texts(root, "subtitle")[0].text == "steps 100–200 · EMA 0.9"
    loss = groups(root)["loss"]
    raw, line = loss.findall(f"{NS}polyline")
    assert raw.get("class") == "raw" and float(raw.get("stroke-opacity")) < 0.5
    pts = points(line)
    assert len(pts) == 103  # steps 99..201: one point beyond each edge, clipped
    per_step = (x1 - x0) / 100
    assert pts[1][0] == pytest.approx(x0, abs=0.01) and pts[0][0] == pytest.approx(x0 - per_step)
    to_y, _ = axis_map(root, "left")
    smooth = series[0].drawable(Smoothing("twema", 0.9))  # a number: the twema amount
    assert pts[1][1] == pytest.approx(float(to_y(smooth[100])), abs=0.02)
    assert points(raw)[1][1] == pytest.approx(float(to_y(series[0].y[100])), abs=0.02)
    # points and size steps are not smoothed
    size = points(groups(root)["size_mb"].find(f"{NS}polyline"))
    assert len(np.unique(np.round(size[:, 1], 2))) == 2


def test_many_points_are_decimated_without_losing_a_spike():
    series = training_series()
    n = 200_000
    steps = np.arange(n, dtype=float)
    y = np.full(n, 2.0)
    y[123_457] = 9.0
    y[150_001] = np.nan  # a diverged step: a gap
    series[0].append(steps, T0 + steps, y)
    svg = chart_svg(series, x_range=(0, n - 1))
    root = parse(svg)
    lines = groups(root)["loss"].findall(f"{NS}polyline")
    assert len(lines) == 2  # broken at the NaN
    pts = np.vstack([points(p) for p in lines])
    assert len(pts) < 5000 and len(svg) < 200_000
    to_y, _ = axis_map(root, "left")
    assert pts[:, 1].min() == pytest.approx(float(to_y(9.0)), abs=0.02)
    keep = decimate(steps, y, 0, n - 1, 800)
    assert keep[0] == 0 and keep[-1] == n - 1 and 123_457 in keep


def test_log_y_and_an_empty_chart():
    series = filled()
    root = parse(chart_svg(series, x_range=(0, 399), log_y=True, hidden={"size"}))
    assert texts(root, "axis-label")[1].text.endswith("(log scale)")
    assert "log y" in texts(root, "subtitle")[0].text
    empty = parse(chart_svg(training_series(), x_range=(0, 1), title="nothing yet"))
    assert not groups(empty) and "no data in view" in [t.text for t in texts(empty)]


def test_run_chart_svg_draws_history_arrays():
    steps = {"step": np.arange(10.0), "t": T0 + np.arange(10.0), "loss": np.linspace(3, 1, 10)}
    evals = {"step": np.array([5.0, 9.0]), "t": T0 + np.array([5.0, 9.0]),
             "val_loss": np.array([2.0, 1.5]), "reward": np.array([0.1, np.nan]),
             "size_mb": np.array([1.0, 1.0])}
    root = parse(run_chart_svg(steps, evals, "m · run 2"))
    assert set(groups(root)) == {"loss", "val_loss", "reward", "size_mb"}
    assert len(points(groups(root)["loss"].find(f"{NS}polyline"))) == 10


def test_ctrl_s_job_writes_the_vector_chart_and_the_csv(tmp_path: Path):
    view = ChartView(series={s.key: s for s in filled()})
    view.set_range(100, 300)
    view.toggle_metric("reward")
    view.set_smoothing(0.6)
    assert view_note(view) == "EMA 0.6 · x: step"
    job = prepare_save(tmp_path / "out", None, "tiny <run> 1", view)
    svg_path, csv_path = job.write()
    assert svg_path.parent == csv_path.parent == tmp_path / "out"
    root = parse(svg_path.read_text(encoding="utf-8"))
    assert set(groups(root)) == {"loss", "val_loss", "size_mb"}
    assert texts(root, "title")[0].text == "tiny <run> 1"
    assert texts(root, "subtitle")[0].text == "steps 100–300 · EMA 0.6 · x: step"
    with csv_path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["series"] for r in rows} == {"loss", "val_loss", "size_mb"}
    loss = [float(r["step"]) for r in rows if r["series"] == "loss"]
    assert loss[0] == 100 and loss[-1] == 300


def test_wandb_smoothing_relative_steps_and_robust_y_are_the_views():
    series = filled()
    for s in series:
        s.s0 = 100.0  # the run started at step 100 (a resumed model)
    spec = Smoothing("twema", 0.9)
    root = parse(chart_svg(series, x_range=(0, 299), x_mode="rel", smoothing=spec, title="t"))
    assert texts(root, "subtitle")[0].text == "steps +0–299 · EMA 0.9"
    assert texts(root, "axis-label")[0].text == "steps since the run's start"
    raw, line = groups(root)["loss"].findall(f"{NS}polyline")
    to_y, _ = axis_map(root, "left")
    want, pts = series[0].drawable(spec), points(line)  # pts[0]: step 99, beyond the edge
    assert pts[1][0] == pytest.approx(plot_box(root)[0], abs=0.01)  # step 100 at +0
    assert pts[1][1] == pytest.approx(float(to_y(want[100])), abs=0.02)
    assert pts[-1][1] == pytest.approx(float(to_y(want[-1])), abs=0.02)
    off = parse(chart_svg(series, x_range=(0, 299), smoothing=Smoothing("gauss", 0.0)))
    assert len(groups(off)["loss"].findall(f"{NS}polyline")) == 1  # off: no raw line beneath
    assert texts(off, "subtitle")[0].text == "steps 0–299 · raw"
    # robust y: a spike of 1000 no longer sets the left axis
    series[0].append([400.0], [T0 + 400], [1000.0])
    tall = axis_map(parse(chart_svg(series, x_range=(0, 400))), "left")[1][-1][0]
    robust = axis_map(parse(chart_svg(series, x_range=(0, 400), robust_y=True)), "left")[1]
    assert tall >= 1000 and robust[-1][0] < 10


def test_extras_styles_and_right_axis_units():
    series = filled()
    extra = metric_series("gpu/util")
    extra.append(np.arange(0, 400, 50.0), T0 + np.arange(0, 400, 50.0), np.full(8, 60.0))
    reward = next(s for s in series if s.key == "reward")
    reward.style = "dotted"
    root = parse(chart_svg([*series, extra], x_range=(0, 399)))
    assert texts(root, "axis-label")[2].text == "size (MB) · gpu/util (%)"
    assert groups(root)["reward"].find(f"{NS}polyline").get("stroke-dasharray") == "1.5 3"
    assert axis_map(root, "right")[1][0][0] == 0.0  # from zero
    view = ChartView(series={s.key: s for s in [*series, extra]})
    assert "gpu/util" not in groups(parse(view_svg(view, "t")))  # extras hidden by default
    view.cycle_extras()
    assert "gpu/util" in groups(parse(view_svg(view, "t")))
