"""The History screen: the runs of a model with their figures, replay, comparison (overlaid and
side by side), CSV export, delete. Histories are fabricated with the History writer API (no
torch); one test uses the small trained model to show that deleting runs leaves it loadable."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from conftest import TINY, notifications, run_app, wait_for, write_config

from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.history import EVAL_METRICS, STEP_METRICS, History
from slavik_tui.ui.app import SlavikApp
from slavik_tui.ui.screens.confirm import ConfirmScreen
from slavik_tui.ui.screens.history import HistoryScreen
from slavik_tui.ui.chart.widget import MetricsChart
from slavik_tui.ui.chart.compare import CompareCharts
from slavik_tui.ui.widgets.compare_table import CompareTable
from slavik_tui.ui.widgets.runs_table import RunsTable, row_of

T0 = 1_740_000_000.0


def make_model(root: Path, name: str, runs: list[tuple[float, int, str]]) -> list[int]:
    """A model folder (config, no weights) whose history holds `runs`: (lr, steps, status)
    each, an eval every 25 steps and at the end; returns the run ids."""
    config = ModelConfig(**TINY)
    folder = root / name
    write_config(folder, config)
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    (folder / "datasets.json").write_text("[]", encoding="utf-8")
    ids = []
    with History(folder / "history.sqlite") as history:
        for k, (lr, n, status) in enumerate(runs):
            rid = history.start_run("pretrain", {"lr": lr, "params": config.n_params,
                                                 "batch_size": 8}, 0, n, pid=os.getpid())
            t = T0 + 1000 * k
            for i in range(1, n + 1):
                loss = 6 * math.exp(-i * lr * 20) + 1.5 + 0.01 * (i % 7)
                history.log_step(rid, i, t + 0.25 * i, loss, lr, 1.0, 4000.0 + 10 * k + i % 3)
                if i % 25 == 0 or i == n:
                    history.log_eval(rid, i, t + 0.25 * i, loss + 0.2, 2.0, i / (4 * n), 0.1)
            if status != "running":
                history.end_run(rid, status, None if status == "finished" else "told to")
            ids.append(rid)
    return ids


def models(tmp_path: Path) -> Path:
    """alpha: runs 1 (lr 1e-3, finished), 2 (lr 3e-3, stopped), 3 (failed);
    beta: run 1 (lr 2e-3, finished)."""
    root = tmp_path / "models"
    root.mkdir()
    make_model(root, "alpha", [(1e-3, 120, "finished"), (3e-3, 100, "stopped"),
                               (2e-3, 40, "failed")])
    make_model(root, "beta", [(2e-3, 80, "finished")])
    return root


async def open_history(app: SlavikApp, pilot, model: str) -> HistoryScreen:
    await pilot.pause()
    app.open_mode("history", model)
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_for(pilot, lambda: screen.runs and screen.query_one(RunsTable).row_count)
    return screen


async def select_run(pilot, screen: HistoryScreen, run_id: int) -> None:
    table = screen.query_one(RunsTable)
    table.focus()
    table.move_cursor(row=[r.id for r in table.runs].index(run_id))
    await pilot.pause()


def test_lists_every_run_with_its_figures(tmp_path):
    root = models(tmp_path)
    with History(root / "alpha" / "history.sqlite") as history:
        running = history.start_run("pretrain", {"lr": 5e-4}, 40, 100, pid=os.getpid())
        history.log_step(running, 41, T0 + 5000, 2.5, 5e-4, 1.0, 3900.0)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        table = screen.query_one(RunsTable)
        infos = History(root / "alpha" / "history.sqlite", readonly=True).runs()
        assert [r.id for r in table.runs] == [4, 3, 2, 1] == [r.id for r in infos]
        for info in infos:
            cells = [str(c) for c in table.get_row(str(info.id))][1:]
            expected = list(row_of(info))
            if info.status == "running":  # its duration grows while we look
                cells[3] = expected[3] = ""
            assert cells == expected, info.id
            run_, kind, started, duration, steps, status, lr, loss, val, reward, tok_s = cells
            assert kind == info.kind == "pretrain"
            assert status == info.status
            assert steps == f"{info.start_step}→{info.last_step}"
            assert loss == f"{info.final_loss:.4f}"
            assert tok_s == f"{info.tok_s:,.0f}"
        by_id = {r.id: [str(c) for c in table.get_row(str(r.id))] for r in infos}
        # mark, run, kind, started, time, steps, status, lr, loss, val loss, best reward, tok/s
        assert by_id[1][5:11] == ["0→120", "finished", "1e-03", f"{infos[3].final_loss:.4f}",
                                  f"{infos[3].final_val_loss:.4f}", "0.250"]
        assert by_id[2][6] == "stopped" and by_id[3][6] == "failed"
        assert by_id[4][5:7] == ["40→41", "running"] and by_id[4][9:11] == ["-", "-"]
        assert by_id[1][4] == "0s"  # started and ended at once (fabricated)
        # the detail line says why a run ended and how it was set up
        await select_run(pilot, screen, 2)
        detail = str(screen.query_one("#run-detail").render())
        assert "stopped: told to" in detail and "lr 3e-03" in detail

    run_app(root, body, size=(120, 40))


def test_enter_replays_a_run_and_the_chart_keys_work(tmp_path):
    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        await select_run(pilot, screen, 1)
        await pilot.press("enter")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "replay" and chart.drawn_series)
        assert app.focused is chart
        steps = History(root / "alpha" / "history.sqlite", readonly=True).steps_arrays(1)
        assert len(chart.get_series("loss")) == 120
        assert chart.get_series("loss").y.tolist() == steps["loss"].tolist()
        assert len(chart.get_series("val_loss")) == 5  # steps 25, 50, 75, 100, 120
        assert set(chart.drawn_series) == {"loss", "val_loss", "reward", "size_mb"}
        assert "alpha · run 1 · finished · steps 0→120" in chart.title
        # zoom into the first hundred steps, then the toggles, smoothing, log, fit
        await pilot.press("plus")
        assert chart.view is not None and chart.view[1] - chart.view[0] < 120
        chart.view = (1, 100)  # the first hundred steps
        await pilot.pause()
        assert chart.view == (1.0, 100.0) and chart.x_range == (1.0, 100.0)
        await pilot.press("left")
        await pilot.press("2", "s", "l", "x", "x")  # x: step → relative step → time
        assert "reward" in chart.hidden_metrics and chart.smoothing > 0
        assert chart.log_y and chart.x_mode == "time"
        await pilot.press("0")
        assert chart.view is None
        assert chart.fit_range()[0] == 0.0  # time since the run's first row
        await pilot.press("escape")
        assert isinstance(app.focused, RunsTable)

    run_app(root, body, size=(120, 40))


def test_compares_runs_of_two_models_overlaid_and_side_by_side(tmp_path):
    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        await select_run(pilot, screen, 2)
        await pilot.press("space")  # mark alpha/2
        await pilot.press("c")  # one mark is not a comparison
        assert "mark two or more runs" in notifications(app)[-1]
        await pilot.press("p", "down", "enter")  # the model picker: beta
        await wait_for(pilot, lambda: screen.model == "beta" and screen.runs
                       and screen.runs[0].id == 1)
        assert "alpha/2" in str(screen.query_one("#history-marked").render())
        await pilot.press("space", "c")  # mark beta/1, compare
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "compare"
                       and len(chart.drawn_series) == 8)
        for label in ("alpha/2", "beta/1"):
            for metric in ("loss", "val_loss", "reward", "size_mb"):
                assert f"{label}:{metric}" in chart.drawn_series
        assert len(chart.get_series("alpha/2:loss")) == 100
        assert len(chart.get_series("beta/1:loss")) == 80
        legend = "\n".join(chart.render().plain.splitlines()[:3])
        assert "alpha/2" in legend and "beta/1" in legend  # a colour a run, a dash a metric
        assert chart.get_series("alpha/2:loss").color != chart.get_series("beta/1:loss").color
        # the table under the chart
        table = screen.query_one(CompareTable)
        assert table.display and table.row_count == 2
        alpha2 = [str(c) for c in table.get_row("alpha/2")]
        info = History(root / "alpha" / "history.sqlite", readonly=True).run(2)
        assert alpha2 == [
            "━━ alpha/2", "stopped", "0→100", "3e-03", f"{info.final_loss:.4f}",
            f"{info.best_val_loss:.4f}", f"{info.best_reward:.3f}", f"{info.tok_s:,.0f}",
            f"{ModelConfig(**TINY).n_params:,}"]
        # wall time since each run's start: both start at 0 though they ran 1000 s apart
        await pilot.press("x", "x")  # step → relative step → time
        assert chart.x_mode == "time" and chart.fit_range()[0] == 0.0
        await pilot.press("x")
        # side by side, linked
        await pilot.press("v")
        side = screen.query_one(CompareCharts)
        await wait_for(pilot, lambda: len(side.charts) == 2
                       and all(c.drawn_series for c in side.charts))
        assert not chart.display and side.display and table.display
        assert [c.title for c in side.charts] == ["alpha/2", "beta/1"]
        assert app.focused is side.charts[0]
        side.charts[0].set_view(10, 60)
        await pilot.press("right")  # a key on one chart moves both
        assert side.charts[0].view == side.charts[1].view != (10, 60)
        await pilot.press("1")
        assert all("loss" in c.hidden_metrics for c in side.charts)
        await pilot.press("v")
        assert chart.display and not side.display
        assert "loss" in chart.hidden_metrics  # the overlay takes the view back

    run_app(root, body, size=(120, 40))


def test_a_second_training_compares_from_its_own_start_or_by_model_step(tmp_path):
    root = models(tmp_path)
    with History(root / "alpha" / "history.sqlite") as history:  # trained on from step 120
        later = history.start_run("pretrain", {"lr": 3e-3}, 120, 150, pid=os.getpid())
        for i in range(121, 151):
            history.log_step(later, i, T0 + 9000 + i, 2.0, 3e-3, 1.0, 4000.0)
        history.end_run(later, "finished")

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        screen.marks = [("alpha", 1), ("alpha", later)]
        await pilot.press("c")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "compare" and chart.drawn_series)
        first = lambda: chart.get_series(f"alpha/{later}:loss").x_step[0]  # noqa: E731
        assert first() == 1 and "since each run's start" in chart.title
        assert "(a)" not in chart.title  # the saved SVG's title and file name: no key hint
        await pilot.press("a")
        await wait_for(pilot, lambda: first() == 121)
        assert "the model's steps" in chart.title
        assert chart.get_series("alpha/1:loss").x_step[0] == 1

    run_app(root, body, size=(120, 40))


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_csv_export_of_a_run_and_of_a_comparison(tmp_path):
    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        await select_run(pilot, screen, 2)
        await pilot.press("e")
        path = root / "alpha" / "charts" / "run-2.csv"
        await wait_for(pilot, lambda: any(str(path) in n for n in notifications(app)))
        rows = read_csv(path)
        history = History(root / "alpha" / "history.sqlite", readonly=True)
        steps, evals = history.steps_arrays(2), history.evals_arrays(2)
        assert rows[0] == ["kind", "step", "t", *STEP_METRICS, *EVAL_METRICS]
        step_rows = [r for r in rows[1:] if r[0] == "step"]
        eval_rows = [r for r in rows[1:] if r[0] == "eval"]
        assert len(rows) == 1 + len(steps["step"]) + len(evals["step"]) == 1 + 100 + 4
        assert [int(r[1]) for r in step_rows] == steps["step"].tolist()
        assert [float(r[3]) for r in step_rows] == steps["loss"].tolist()
        assert [float(r[2]) for r in step_rows] == steps["t"].tolist()
        assert [float(r[7]) for r in eval_rows] == evals["val_loss"].tolist()
        assert [float(r[9]) for r in eval_rows] == evals["reward"].tolist()

        # a comparison, in long format
        await pilot.press("space")
        await select_run(pilot, screen, 1)
        await pilot.press("space", "c")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "compare" and chart.drawn_series)
        assert app.focused is chart
        await pilot.press("e")
        path = root / "alpha" / "charts" / "compare-2_1.csv"
        await wait_for(pilot, lambda: any(str(path) in n for n in notifications(app)))
        rows = read_csv(path)
        assert rows[0] == ["model", "run", "step", "metric", "value"]
        assert {(r[0], r[1]) for r in rows[1:]} == {("alpha", "2"), ("alpha", "1")}
        loss_1 = [float(r[4]) for r in rows[1:] if r[1] == "1" and r[3] == "loss"]
        assert loss_1 == history.steps_arrays(1)["loss"].tolist()
        reward_2 = [float(r[4]) for r in rows[1:] if r[1] == "2" and r[3] == "reward"]
        assert reward_2 == evals["reward"].tolist()
        # one line per value: loss, lr, grad_norm, tok_s per step; 4 metrics per eval
        assert len(rows) == 1 + 4 * (120 + 100) + 4 * (5 + 4)
        history.close()

    run_app(root, body, size=(120, 40))


def test_a_running_run_keeps_growing_in_the_replay(tmp_path):
    root = models(tmp_path)
    writer = History(root / "beta" / "history.sqlite")
    rid = writer.start_run("pretrain", {"lr": 1e-3}, 80, 200, pid=os.getpid())
    for i in range(81, 91):
        writer.log_step(rid, i, T0 + i, 2.0, 1e-3, 1.0, 4000.0)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "beta")
        await select_run(pilot, screen, rid)
        await pilot.press("enter")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "replay" and chart.drawn_series)
        assert len(chart.get_series("loss")) == 10
        for i in range(91, 101):
            writer.log_step(rid, i, T0 + i, 1.9, 1e-3, 1.0, 4000.0)
        await wait_for(pilot, lambda: len(chart.get_series("loss")) == 20, timeout=10)
        writer.end_run(rid, "stopped")
        await wait_for(pilot, lambda: "stopped" in chart.title, timeout=10)
        writer.close()

    run_app(root, body, size=(120, 40))


def test_delete_a_run_after_confirmation_and_the_model_stays_loadable(models_root):
    from slavik_tui.engine.checkpoint import load_model

    tiny = models_root / "tiny"
    checkpoint = (tiny / "checkpoint.json").read_bytes()
    weights = (tiny / "model.safetensors").read_bytes()
    with History(tiny / "history.sqlite") as history:  # a second run next to the real one
        extra = history.start_run("pretrain", {"lr": 1e-3}, 20, 30, pid=os.getpid())
        history.log_step(extra, 21, T0, 5.0, 1e-3, 1.0, 1000.0)
        history.end_run(extra, "stopped")
        busy = history.start_run("pretrain", {}, 20, 40, pid=os.getpid())

    async def body(app, pilot):
        screen = await open_history(app, pilot, "tiny")
        table = screen.query_one(RunsTable)
        assert [r.id for r in table.runs] == [busy, extra, 1]
        await select_run(pilot, screen, busy)
        await pilot.press("d")  # a running run is refused
        assert not isinstance(app.screen, ConfirmScreen)
        assert "still running" in notifications(app)[-1]
        await select_run(pilot, screen, extra)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # no: nothing happens
        await wait_for(pilot, lambda: app.screen is screen)
        assert extra in [r.id for r in table.runs]
        for run_id in (extra, 1):  # delete both ended runs, the trained one too
            await select_run(pilot, screen, run_id)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: run_id not in [r.id for r in table.runs])
        assert [r.id for r in table.runs] == [busy]
        assert any("deleted run tiny/1" in n for n in notifications(app))

    run_app(models_root, body, size=(120, 40))
    with History(tiny / "history.sqlite", readonly=True) as history:
        assert [r.id for r in history.runs()] == [busy]
        assert len(history.steps_arrays(1, include_superseded=True)["step"]) == 0
    assert (tiny / "checkpoint.json").read_bytes() == checkpoint
    assert (tiny / "model.safetensors").read_bytes() == weights
    model, tokenizer, cfg = load_model(tiny)
    assert cfg.vocab_size == TINY["vocab_size"] and tokenizer.decode(tokenizer.encode("ok")) == "ok"


def test_focus_is_visible_esc_goes_back_and_letters_switch_screens(tmp_path):
    from slavik_tui.ui.screens.training import TrainingScreen

    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        picker = screen.panel.picker
        table = screen.query_one(RunsTable)
        assert app.focused is table
        blurred = picker.query_one("SelectCurrent").rich_style.bgcolor
        await pilot.press("p")  # the model picker, opened
        assert app.focused is not table and picker.expanded
        await pilot.press("escape")  # closes the list; the picker keeps the focus, marked
        assert not picker.expanded and app.focused is picker
        await pilot.pause()
        assert picker.query_one("SelectCurrent").rich_style.bgcolor != blurred
        await pilot.press("escape")  # and Esc again leaves it for the runs
        assert app.focused is table
        await select_run(pilot, screen, 1)
        await pilot.press("enter")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: app.focused is chart)
        focused_bar = chart.styles.border_left
        table.focus()
        await pilot.pause()
        assert chart.styles.border_left != focused_bar  # the chart's bar marks its focus
        chart.focus()
        await pilot.press("t")  # no text field has the focus: t opens Training
        assert isinstance(app.screen, TrainingScreen)

    run_app(root, body, size=(100, 30))


def test_run_columns_fit_every_width_from_80_to_200(tmp_path):
    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        table = screen.query_one(RunsTable)
        for width in range(80, 201, 4):
            await pilot.resize_terminal(width, 30)
            await pilot.pause()
            keys = [str(key.value) for key in table.columns]
            assert table.virtual_size.width <= table.size.width, (width, keys)
            assert {"run", "status", "loss", "val loss", "tok/s", "steps"} <= set(keys), width
            assert str(table.get_cell("1", "status")) == "finished"
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        labels = [str(c.label) for c in table.columns.values()]
        assert "finished" in [str(c) for c in table.get_row("1")] and labels[-1] == "tok/s"
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1 and table.scroll_x == 0

    run_app(root, body, size=(100, 30))


def test_a_replay_brings_the_runs_named_series_and_a_running_one_keeps_adding_them(tmp_path):
    root = models(tmp_path)
    with History(root / "alpha" / "history.sqlite") as history:  # run 1 ended: evals at 25…
        for step in (25, 50, 75, 100, 120):
            history.log_metrics(1, step, T0 + step, {"rewards/chrf": step / 200,
                                                     "rewards/repetition": -0.1})
    writer = History(root / "beta" / "history.sqlite")
    rid = writer.start_run("grpo", {"lr": 1e-5}, 80, 200, pid=os.getpid())
    writer.log_step(rid, 81, T0 + 81, 2.0, 1e-5, 1.0, 4000.0)
    writer.log_metrics(rid, 81, T0 + 81, {"rl/reward": 0.2, "rl/kl": 0.01})

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        await select_run(pilot, screen, 1)
        await pilot.press("enter")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "replay" and chart.drawn_series)
        chrf = chart.get_series("rewards/chrf")
        assert chrf is not None and chrf.y.tolist() == [s / 200 for s in (25, 50, 75, 100, 120)]
        assert "rewards/chrf" not in chart.drawn_series  # hidden until the extras key
        await pilot.press("4")
        assert {"rewards/chrf", "rewards/repetition"} <= set(chart.drawn_series)

        screen = await open_history(app, pilot, "beta")
        await select_run(pilot, screen, rid)
        await pilot.press("enter")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: chart.get_series("rl/reward") is not None, timeout=10)
        writer.log_step(rid, 82, T0 + 82, 1.9, 1e-5, 1.0, 4000.0)
        writer.log_metrics(rid, 82, T0 + 82, {"rl/reward": 0.3, "rl/kl": 0.02})
        await wait_for(pilot, lambda: len(chart.get_series("rl/reward")) == 2, timeout=10)
        assert chart.get_series("rl/kl").y.tolist() == [0.01, 0.02]
        writer.end_run(rid, "stopped")
        writer.close()

    run_app(root, body, size=(120, 40))


def test_r_writes_a_report_of_the_run_under_the_cursor(models_root):
    async def body(app, pilot):
        screen = await open_history(app, pilot, "tiny")
        (run,) = screen.runs
        await select_run(pilot, screen, run.id)
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.last_report is not None, timeout=60)
        md = screen.last_report
        assert md == models_root / "tiny" / "charts" / f"run-{run.id}-report.md"
        text = md.read_text(encoding="utf-8")
        assert f"run {run.id}" in text and "**Sample " in text
        assert f"run-{run.id}-report.svg" in text and md.with_suffix(".svg").is_file()
        assert any(n.startswith(f"report of run tiny/{run.id} written to") for n in notifications(app))

    run_app(models_root, body, size=(120, 40))


def test_r_on_a_comparison_reports_the_compared_runs_not_the_hidden_cursor(models_root):
    # Seen in tmux at 80x24: the runs list folds away under a comparison, and r wrote the
    # report of the run under its (hidden) cursor instead of the runs on the chart.
    with History(models_root / "tiny" / "history.sqlite") as history:
        extra = []
        for k in range(2):
            rid = history.start_run("pretrain", {"lr": 1e-3}, 20, 30, pid=os.getpid())
            for i in range(21, 31):
                history.log_step(rid, i, T0 + 100 * k + i, 3.0 - i / 100, 1e-3, 1.0, 4000.0)
            history.log_eval(rid, 30, T0 + 100 * k + 30, 3.1, 2.0, 0.2, 0.1)
            history.end_run(rid, "finished")
            extra.append(rid)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "tiny")
        first = min(r.id for r in screen.runs)
        screen.marks = [("tiny", first), ("tiny", extra[0])]
        await select_run(pilot, screen, extra[1])  # the cursor on a run not compared
        await pilot.press("c")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "compare" and chart.drawn_series)
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.last_report is not None, timeout=60)
        charts = models_root / "tiny" / "charts"
        for rid in (first, extra[0]):
            assert (charts / f"run-{rid}-report.md").is_file(), rid
        assert not (charts / f"run-{extra[1]}-report.md").exists()
        told = notifications(app)
        assert any(f"tiny/{first}" in n and f"tiny/{extra[0]}" in n and "written" in n
                   for n in told), told

    run_app(models_root, body, size=(80, 24))


def test_marks_stay_when_history_opens_on_another_model(tmp_path):
    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        await select_run(pilot, screen, 1)
        await pilot.press("space")
        assert screen.marks == [("alpha", 1)]
        app.open_mode("models")
        await pilot.pause()
        app.open_mode("history", "beta")  # `h` on another model
        await wait_for(pilot, lambda: app.screen.model == "beta" and app.screen.runs)
        assert app.screen is screen and screen.marks == [("alpha", 1)]
        await select_run(pilot, screen, 1)
        await pilot.press("space", "c")  # and the marked run of alpha compares with beta's
        await wait_for(pilot, lambda: screen.view_kind == "compare")

    run_app(root, body, size=(120, 40))


def test_relative_steps_of_aligned_runs_count_from_each_run_start_once(tmp_path):
    """`a` (align starts) and the chart's `x` relative-step axis compose: the relative axis
    is steps since each run's start step whether the runs were aligned or not (it subtracted
    the aligned run's first logged step a second time)."""
    root = models(tmp_path)
    with History(root / "alpha" / "history.sqlite") as history:  # trained on from step 120,
        later = history.start_run("pretrain", {"lr": 3e-3}, 120, 200, pid=os.getpid())
        for i in range(130, 201, 10):  # logging every 10th step: its first row is 130
            history.log_step(later, i, T0 + 9000 + i, 2.0, 3e-3, 1.0, 4000.0)
        history.end_run(later, "finished")

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        screen.marks = [("alpha", 1), ("alpha", later)]
        await pilot.press("c")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "compare" and chart.drawn_series)
        series = chart.get_series(f"alpha/{later}:loss")

        def first_x() -> float:
            x, offset = chart._state.x_values(series)
            return float(x[0] - offset)

        assert chart.x_mode == "step" and first_x() == 10  # aligned: 130 - 120
        await pilot.press("x")  # relative step
        assert chart.x_mode == "rel" and first_x() == 10  # not 10 - 10 = 0
        assert chart.fit_range()[0] == 1  # run 1's first step, 1 step after its start 0
        await pilot.press("a")  # the model's steps; the relative axis stays the same
        await wait_for(pilot, lambda: chart.get_series(f"alpha/{later}:loss").x_step[0] == 130)
        series = chart.get_series(f"alpha/{later}:loss")
        assert chart.x_mode == "rel" and first_x() == 10
        await pilot.press("v")  # side by side: the same axis
        side = screen.query_one(CompareCharts)
        await wait_for(pilot, lambda: len(side.charts) == 2 and side.charts[1].drawn_series)
        right = side.charts[1]
        x, offset = right._state.x_values(right.get_series("loss"))
        assert right.x_mode == "rel" and x[0] - offset == 10
        await pilot.press("v", "x", "x")  # back to the overlay; time, then step
        assert chart.x_mode == "step" and first_x() == 130

    run_app(root, body, size=(120, 40))
