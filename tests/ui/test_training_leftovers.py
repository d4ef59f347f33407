"""Leftovers of issue 13 on the Training screen: the SFT form's field order, what the stop
toast and the progress line say ctrl+r does, the form of a run re-attached to, and the stop-now
question when the trainer exits by itself."""

from __future__ import annotations

from conftest import notifications, run_app, wait_for
from live_trainers import TRAIN_FIELDS, kill_trainers
from test_stage_ui import fill, open_training, pick_stage

from slavik_tui.ui.widgets.forms import FormField


def progress(screen) -> str:
    return screen.query_one("#train-progress").plain


def ctrl_r_words(text: str) -> str:
    """The part of a line that says what ctrl+r does."""
    assert "ctrl+r " in text, text
    return "ctrl+r " + text.split("ctrl+r ", 1)[1].strip()


def test_the_sft_form_asks_for_the_dialogues_before_their_columns(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pick_stage(pilot, screen, "sft")
        form = screen.form
        fields = [f.id for f in form.query(FormField) if f.display]
        assert fields.index("tff-data") + 1 == fields.index("tff-columns")
        await pilot.pause()
        data = form.query_one("#tff-data", FormField)
        columns = form.query_one("#tff-columns", FormField)
        assert data.region.y < columns.region.y  # on the screen too
        form.query_one("#tf-data").focus()
        await pilot.press("tab")  # and Tab goes from the dialogues to their columns
        assert app.focused is form.query_one("#tf-columns")

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_after_a_stop_the_toast_and_the_progress_line_say_the_same_of_ctrl_r(models_root):
    """iters is filled in: ctrl+r would start that many new steps, not resume; both say so."""

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await fill(pilot, screen, TRAIN_FIELDS)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.live.progress.status == "running"
                       and (screen.live.progress.step or 0) >= 3, timeout=60)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.live.progress.status == "stopped", timeout=60)
        await wait_for(pilot, lambda: any("run 2 of 'tiny' stopped at step" in n
                                          for n in notifications(app)))
        toast = next(n for n in notifications(app) if "run 2 of 'tiny' stopped at step" in n)
        await pilot.pause()
        line = ctrl_r_words(progress(screen))
        assert line.startswith("ctrl+r starts 100000 new steps")
        assert ctrl_r_words(toast) == line

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
    finally:
        assert kill_trainers(models_root) == []


def test_the_stop_now_question_closes_when_the_trainer_exits_by_itself(models_root):
    """ctrl+t twice opens "Stop now?"; the trainer then ends on its own (here: the graceful
    stop, sent by the test, finishes): the question goes away with a note, nothing is killed."""
    import os
    import signal

    from slavik_tui.store.history import History
    from slavik_tui.ui.screens.confirm import ConfirmScreen
    from slavik_tui.ui.screens.training import TrainingScreen

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await fill(pilot, screen, TRAIN_FIELDS)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.live.progress.status == "running"
                       and (screen.live.progress.step or 0) >= 3, timeout=60)
        pid = screen.live.live_pid
        screen.panel._stop_trainer = lambda *args: None  # the app's SIGTERM is held back
        await pilot.press("ctrl+t")
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.title_text == "Stop now?"
        os.kill(pid, signal.SIGTERM)  # it stops by itself, as a slow graceful stop would
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), timeout=60)
        assert isinstance(app.screen, TrainingScreen)
        assert any("exited by itself: nothing to stop now" in n for n in notifications(app))
        await wait_for(pilot, lambda: screen.live.progress.status == "stopped", timeout=30)
        with History(models_root / "tiny" / "history.sqlite", readonly=True) as history:
            run = history.run(2)
        assert run.status == "stopped" and "killed" not in (run.reason or "")
        await pilot.press("y")  # a late answer kills nothing
        assert not screen.live.stopping

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
    finally:
        assert kill_trainers(models_root) == []


def test_attaching_to_a_running_run_shows_its_own_settings_in_the_form(models_root):
    """A run started elsewhere (`slavik-tui train … --detach`) while the size wizard had
    proposed other steps: the form shows the run's iters, batch and eval interval, and the
    command line under it is the run's."""
    import asyncio

    from textual.widgets import Input

    from slavik_tui import runs
    from slavik_tui.ui.app import SlavikApp

    run = runs.start_detached(models_root, "tiny", ["--iters", "100000", "--batch-size", "2",
                                                    "--eval-every", "5", "--save-every", "50",
                                                    "--lr", "0.001"])

    async def main() -> None:
        app = SlavikApp(models_root, watch="tiny")
        app.planned_iters["tiny"] = 777  # the wizard's steps for a model just created
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_training(pilot, app)
            await wait_for(pilot, lambda: screen.live.live_pid == run.pid
                           and screen.live.progress.status == "running", timeout=30)
            form = screen.form
            value = lambda key: form.query_one(f"#tf-{key}", Input).value  # noqa: E731
            # the form takes the run's plan from the state message after it (a loaded CPU
            # can put a frame between them)
            await wait_for(pilot, lambda: value("iters") == "100000", timeout=10)
            assert value("iters") == "100000" and value("batch_size") == "2"
            assert value("eval_every") == "5" and value("lr") == "0.001"
            assert value("seed") == ""  # the default: its placeholder says it
            assert form.query_one("#tf-seed", Input).placeholder == "1337"
            want = ("train tiny --iters 100000 --batch-size 2 --lr 0.001 --eval-every 5 "
                    "--save-every 50")  # the command line follows the fields' change messages
            await wait_for(pilot, lambda: want in str(form.query_one("#tf-command").render()),
                           timeout=10)
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: screen.live.progress.status == "stopped",
                           timeout=30)
            assert value("iters") == "100000"  # it stays: what the hint says ctrl+r does
            assert "ctrl+r starts 100000 new steps" in progress(screen)

    try:
        asyncio.run(main())
    finally:
        assert kill_trainers(models_root) == []


def test_the_relative_step_axis_counts_from_the_models_start_as_history_does(models_root):
    """The Training chart follows every run of the model: its "steps since the start" axis
    (x) counts from step 0, so the first logged step, 1, reads 1 (it read 0: the origin was
    the first logged step), as on History."""
    async def body(app, pilot):
        screen = app.screen
        await wait_for(pilot, lambda: getattr(screen, "chart", None) is not None
                       and screen.chart.drawn_series)
        chart = screen.chart
        series = chart.get_series("loss")

        def first_x() -> float:
            x, offset = chart._state.x_values(series)
            return float(x[0] - offset)

        assert chart.x_mode == "step" and first_x() == 1
        chart.focus()
        await pilot.press("x")
        assert chart.x_mode == "rel" and first_x() == 1

    run_app(models_root, body, size=(120, 40), watch="tiny")
