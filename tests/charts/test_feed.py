"""slavik_tui.charts.feed: arrays and polled rows of a history into chart series (no app).

The follower that polls the rows is tested in tests/runs/test_watch.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from slavik_tui.store.history import History
from slavik_tui.charts.feed import append_rows, fill_chart, series_key
from slavik_tui.runs.watch import RunFollower


class FakeChart:
    """Records `append` calls like MetricsChart's series would hold them."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, list[float]]] = {}

    def append(self, key, steps, times, values) -> None:
        s, t, v = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (steps, times, values))
        assert len(s) == len(t) == len(v)
        d = self.data.setdefault(key, {"x": [], "t": [], "y": []})
        d["x"] += s.tolist()
        d["t"] += t.tolist()
        d["y"] += v.tolist()


def _write(path: Path, run_steps=range(1, 11), eval_every=5, nan_at=(), run_id=None,
           history=None) -> tuple[History, int]:
    h = history or History(path)
    rid = run_id or h.start_run("pretrain", {}, target_step=max(run_steps), pid=1)
    for s in run_steps:
        loss = float("nan") if s in nan_at else 5.0 - 0.1 * s
        h.log_step(rid, s, 1000.0 + s, loss, 1e-3, 1.0, 500.0)
        if s % eval_every == 0:
            h.log_eval(rid, s, 1000.0 + s, 4.0 - 0.1 * s, 1.5, 0.1 * s, 0.25)
    return h, rid


def test_series_key():
    assert series_key("loss") == "loss"
    assert series_key("val_loss", "tiny/3") == "tiny/3:val_loss"


def test_fill_chart_uses_step_time_and_skips_nan(tmp_path: Path):
    h, _ = _write(tmp_path / "history.sqlite", nan_at=(3,))
    chart = FakeChart()
    reader = History(tmp_path / "history.sqlite", readonly=True)
    fill_chart(chart, reader.steps_arrays(), reader.evals_arrays())
    assert chart.data["loss"]["x"] == [1, 2, 4, 5, 6, 7, 8, 9, 10]  # NaN step 3 skipped
    assert chart.data["loss"]["t"][0] == 1001.0
    assert math.isclose(chart.data["loss"]["y"][0], 4.9)
    assert chart.data["val_loss"]["x"] == [5, 10]
    assert chart.data["reward"]["y"] == [0.5, 1.0]
    assert chart.data["size_mb"]["y"] == [0.25, 0.25]
    h.close()
    reader.close()


def test_fill_chart_with_run_prefix_and_empty_arrays(tmp_path: Path):
    reader = History(tmp_path / "missing" / "history.sqlite", readonly=True)
    chart = FakeChart()
    fill_chart(chart, reader.steps_arrays(), reader.evals_arrays(), run="m/1")
    assert chart.data == {}
    h, _ = _write(tmp_path / "history.sqlite", run_steps=range(1, 6))
    reader = History(tmp_path / "history.sqlite", readonly=True)
    fill_chart(chart, reader.steps_arrays(), reader.evals_arrays(), run="m/1")
    assert set(chart.data) == {"m/1:loss", "m/1:val_loss", "m/1:reward", "m/1:size_mb"}
    h.close()
    reader.close()


def test_feed_into_a_real_chart(tmp_path: Path):
    from slavik_tui.ui.chart.widget import MetricsChart

    path = tmp_path / "history.sqlite"
    h, rid = _write(path)
    chart = MetricsChart.for_run()
    follower = RunFollower(path)
    fill_chart(chart, *follower.load_all())
    assert len(chart.get_series("loss").y) == 10
    _write(path, run_steps=range(11, 16), run_id=rid, history=h)
    append_rows(chart, *follower.poll())
    assert len(chart.get_series("loss").y) == 15
    assert len(chart.get_series("val_loss").y) == 3
    follower.close()
    h.close()


# ---- named metrics (the metrics table): rewards/NAME and gpu/NAME as extra series ----------

from slavik_tui.charts.feed import append_metric_rows, fill_metrics  # noqa: E402
from slavik_tui.charts.training import extra_group, metric_series  # noqa: E402


class GrowingChart(FakeChart):
    def __init__(self) -> None:
        super().__init__()
        self.series: dict[str, object] = {}

    def has_series(self, key) -> bool:
        return key in self.series

    def add_series(self, series):
        assert series.key not in self.series
        self.series[series.key] = series
        return series


def _with_metrics(path: Path) -> tuple[History, int]:
    h, rid = _write(path)
    for s in (5, 10):
        h.log_metrics(rid, s, 1000.0 + s, {"rewards/chrf": 0.1 * s, "rewards/prefix": 0.02 * s,
                                           "gpu/util": 90.0, "reward_std": 0.01, "kl": 0.2})
    return h, rid


def test_extra_series_of_named_metrics():
    assert extra_group("rewards/chrf") == "rewards" and extra_group("gpu/util") == "gpu/util"
    assert extra_group("kl") is None and metric_series("reward_std") is None
    # the GRPO stage's batch reward sits with the rewards; kl on the right axis in nats
    assert extra_group("rl/reward") == "rewards" == extra_group("rl/rewards/chrf")
    kl = metric_series("rl/kl")
    assert kl.group == "rl/kl" and kl.unit == "nats" and kl.yside == "right"
    assert metric_series("rl/loss") is None and metric_series("rl/clip_ratio") is None
    chrf = metric_series("rewards/chrf")
    assert (chrf.metric, chrf.yside, chrf.group) == ("extra", "left", "rewards")
    util = metric_series("gpu/util", "m/2", (1, 2, 3))
    assert (util.key, util.yside, util.unit, util.color) == ("m/2:gpu/util", "right", "%",
                                                             (1, 2, 3))
    assert metric_series("rewards/chrf").color == chrf.color  # stable per name


def test_fill_metrics_takes_times_from_the_steps_and_polled_rows_append(tmp_path: Path):
    h, rid = _with_metrics(tmp_path / "history.sqlite")
    chart = GrowingChart()
    fill_metrics(chart, h.metrics_arrays(rid), h.steps_arrays(rid))
    assert set(chart.series) == {"rewards/chrf", "rewards/prefix", "gpu/util"}  # not kl, std
    assert chart.data["rewards/chrf"] == {"x": [5.0, 10.0], "t": [1005.0, 1010.0],
                                          "y": [0.5, 1.0]}
    # The follower hands the same rows out once; more arrive later.
    follower = RunFollower(tmp_path / "history.sqlite")
    live = GrowingChart()
    append_metric_rows(live, follower.poll_metrics())
    assert live.data["rewards/chrf"]["y"] == [0.5, 1.0] and follower.poll_metrics() == []
    h.log_metrics(rid, 15, 1015.0, {"rewards/chrf": 1.5, "gpu/mem_mb": 512.0})
    append_metric_rows(live, follower.poll_metrics(), run="m/1")
    assert live.data["m/1:rewards/chrf"] == {"x": [15.0], "t": [1015.0], "y": [1.5]}
    assert live.series["m/1:gpu/mem_mb"].unit == "MB"
    follower.close()
    h.close()
